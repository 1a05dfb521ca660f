"""A check of understanding: a lesson's questions, answered by keys, the reasoning after each answer.

The questions come from ``lessons/checks/<the lesson's file name>`` (a ``set`` option in the lesson block
names another file). Digits, or the arrows and enter, answer; the reasoning follows at once, with the
measurement that shows it where there is one; where an experiment fits, ``e`` runs it for real through
the worker and draws what it measures. Answers and the best score live in
``app.progress.checks[<lesson name>]``, and the table of contents shows the score.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.markup import escape
from rich.table import Table
from textual.app import ComposeResult
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import ContentSwitcher, Static

from tltui.ui.keys import bindings
from tltui.ui.lessons import lessons_dir
from tltui.ui.widgets.check_questions import CheckSet, Question, checks_path, load_checks
from tltui.ui.widgets.experiments import Experiment, arms, verdict
from tltui.ui.widgets.questions import Questions, Reasoning

SUBTITLES = {
    "question": "↑↓ move · 1-{n} or enter answer",
    "feedback": "enter next · ↑↓ scroll",
    "run": "e back to the reasoning · enter next",
    "done": "r again · ↑↓ scroll",
}


class Choices(Static):
    """The question's stage: its options, numbered, the cursor on one; a long one wraps under its own text."""

    options: reactive[tuple[str, ...]] = reactive((), init=False)
    cursor: reactive[int] = reactive(0, init=False)
    """The option the arrows point at, counted from 0."""

    def watch_options(self) -> None:
        self._draw()

    def watch_cursor(self) -> None:
        self._draw()

    def _draw(self) -> None:
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column(ratio=1)
        for i, option in enumerate(self.options):
            chosen = i == self.cursor
            grid.add_row(f"{'▶' if chosen else ' '} {i + 1}.", option, style="reverse" if chosen else "")
        self.update(grid)


class LessonCheck(Questions):
    """Digits or arrows and enter answer, enter goes on, e runs the experiment a question names, r starts
    again."""

    HELP_TITLE = "Check of understanding (end of each lesson)"
    BINDINGS = bindings("LessonCheck")
    HELP_KEYS = [("1..9", "answer with that option")]

    PREFIX, NAME, NOUN = "ck", "Check", "check"
    CHOOSING, EXPERIMENT = ("question",), "run"
    SUBTITLES, TRY_IT = SUBTITLES, "e run it for real"

    @dataclass
    class Scored(Message):
        """An answer changed the score of a lesson's check."""

        check: LessonCheck
        name: str
        """The lesson's name: the key of its score in the progress file."""

    cursor: reactive[int] = reactive(0, init=False)
    """The option the arrows point at, counted from 0."""
    answers: dict[str, int]
    """Question id -> the option chosen (from 1)."""

    def __init__(self, set: str = "", **_options: str) -> None:  # noqa: A002 - the lesson block's word
        super().__init__()
        self.set_option = set.strip()
        self.content: CheckSet | None = None
        self.problem = ""

    def compose(self) -> ComposeResult:
        yield Static(id="ck-question", classes="-header")
        with ContentSwitcher(initial="ck-choose"):
            yield Choices(id="ck-choose").data_bind(cursor=LessonCheck.cursor)
            yield Reasoning(id="ck-feedback")
            yield Experiment("ck", id="ck-run")
            yield Reasoning(id="ck-done")

    def stage_id(self, stage: str) -> str:
        return "ck-choose" if stage == "question" else super().stage_id(stage)

    # -- content, state and progress -------------------------------------------------------------

    def _path(self) -> Path | None:
        """The checks file: the ``set`` option's, else the one named like the lesson this check is in."""
        if self.set_option:
            name = self.set_option.removesuffix(".md")
            folder = lessons_dir() / "checks"
            return next(iter(sorted(folder.glob(f"{name}.md")) or sorted(folder.glob(f"*-{name}.md"))), None)
        from tltui.ui.widgets.lesson_view import LessonView

        view = next((node for node in self.ancestors if isinstance(node, LessonView)), None)
        return checks_path(view.lesson.path) if view is not None else None

    def on_mount(self) -> None:
        path = self._path()
        try:
            if path is None or not path.is_file():
                raise ValueError(f"no checks file{f' {path.name}' if path else ''} in "
                                 f"{path.parent if path else lessons_dir() / 'checks'}")
            self.content = load_checks(path)
        except (OSError, ValueError) as error:
            self.problem = str(error)
            self.border_title = "Check (not available)"
            self.query_one("#ck-question", Static).update(f"[b $warning]This check cannot be shown:[/] "
                                                          f"{escape(self.problem)}")
            self.query_one(ContentSwitcher).display = False
            return
        saved = self.app.progress.checks.get(self.content.name, {})
        ids = {q.id: q for q in self.content.questions}
        self.answers = {qid: int(choice) for qid, choice in dict(saved.get("answers", {})).items()
                        if qid in ids and str(choice).isdigit() and 1 <= int(choice) <= len(ids[qid].options)}
        self.best = min(int(saved.get("best", 0) or 0), len(ids))
        self.experiment.restore(dict(saved.get("checks", {})))
        self._resume()

    def _resume(self) -> None:
        """The first unanswered question, or the summary when all are answered."""
        questions = self.content.questions
        unanswered = [i for i, q in enumerate(questions) if q.id not in self.answers]
        self.go(unanswered[0] if unanswered else len(questions) - 1, "question" if unanswered else "done")

    def reset_cursors(self) -> None:
        self.cursor = 0

    @property
    def question(self) -> Question:
        return self.content.questions[self.index]

    @property
    def total(self) -> int:
        return len(self.content.questions)

    @property
    def score(self) -> int:
        """Right answers this round."""
        return sum(self.answers.get(q.id) == q.answer for q in self.content.questions)

    @property
    def experiment_name(self) -> str:
        return self.question.run

    def options(self) -> int:
        return len(self.question.options)

    def save(self) -> None:
        self.app.progress.checks[self.content.name] = {
            "answers": self.answers, "right": self.score, "best": self.best,
            "total": len(self.content.questions), "checks": self.experiment.runs,
        }
        self.app.save_progress()

    # -- keys --------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.content is not None and super().check_action(action, parameters)

    def move_cursor(self, rows: int, columns: int) -> None:
        self.cursor = (self.cursor + rows) % len(self.question.options)

    def choose(self, number: int) -> None:
        if 1 <= number <= len(self.question.options):
            self._answer(number)

    def action_confirm(self) -> None:
        if self.stage == "question":
            self._answer(self.cursor + 1)
            return
        following = [i for i, q in enumerate(self.content.questions)
                     if i > self.index and q.id not in self.answers]
        self.go(following[0] if following else self.index, "question" if following else "done")

    def action_restart(self) -> None:
        self.answers = {}
        self.save()
        self._resume()

    def _answer(self, choice: int) -> None:
        self.answers[self.question.id] = choice
        self.best = max(self.best, self.score)
        self.save()
        self.post_message(self.Scored(self, self.content.name))
        self.show_title()
        self.stage = "feedback"

    # -- drawing ---------------------------------------------------------------------------------

    def show_header(self) -> None:
        question = self.question
        label = "[b $accent]Predict, then see.[/] " if question.predict else ""
        self.query_one("#ck-question", Static).update(f"[b]{self.index + 1}.[/] {label}{escape(question.text)}")
        self.query_one(Choices).options = question.options

    def show_question(self) -> None:
        """The options draw their own cursor."""

    def show_feedback(self) -> None:
        question = self.question
        chosen = self.answers[question.id]
        options = question.options
        lines = [
            verdict(chosen == question.answer, f"{chosen}. {options[chosen - 1]}",
                    f"{question.answer}. {options[question.answer - 1]}", []),
            "",
            f"[b]Why:[/] {escape(question.why)}",
        ]
        if question.measured:
            lines += ["", f"[b]Measured:[/] {escape(question.measured)}"]
        if question.run:
            lines += ["", f"[b $accent]e[/] runs it for real: {escape(arms(question.run))}."]
        self.query_one("#ck-feedback", Reasoning).show("\n".join(lines))

    def show_run(self) -> None:
        self.show_experiment()

    def show_done(self) -> None:
        questions = self.content.questions
        lines = [f"[b]{self.score} of {len(questions)} right[/] (best {self.best}).", ""]
        for i, question in enumerate(questions):
            chosen = self.answers.get(question.id)
            mark = "·" if chosen is None else "[green]✓[/]" if chosen == question.answer else "[red]✗[/]"
            lines.append(f"{mark} {i + 1}. {escape(question.text)}")
            if chosen is not None and chosen != question.answer:
                lines.append(f"    the answer: {escape(question.options[question.answer - 1])}")
        lines += ["", "[b $accent]r[/] answers them again."]
        self.query_one("#ck-done", Reasoning).show("\n".join(lines))
