"""A check of understanding: a lesson's questions, answered by keys, the reasoning after each answer.

The questions come from ``lessons/checks/<the lesson's file name>`` (a ``set`` option in the lesson block
names another file). A block with a ``questions: ID, ID`` option asks only those, where the lesson places
it (a prediction before the section that answers it); a block without one asks the questions that no
other block of the lesson names. Digits, or the arrows and enter, answer; the reasoning follows at once,
with the measurement that shows it where there is one; where an experiment fits, ``e`` runs it for real
through the worker and draws what it measures. Answers and the best score live in
``app.progress.checks[<lesson name>]``, shared by the lesson's blocks, and the table of contents shows
the score.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rich.markup import escape
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import ContentSwitcher, Static

from tltui.ui.content.checks import (
    CheckSet,
    Question,
    checks_path,
    load_checks,
    question_ids,
    select_questions,
    valid_answers,
)
from tltui.ui.keys import bindings
from tltui.ui.lesson.experiments import Experiment, arms, verdict
from tltui.ui.lesson.prose import CODE_STYLE, inline
from tltui.ui.lesson.questions import Questions, Reasoning
from tltui.ui.lessons import Lesson, WidgetPart, lessons_dir

SUBTITLES = {
    "question": "{LessonCheck.up}{LessonCheck.down} move · 1-{n} or {LessonCheck.answer_next} answer",
    "feedback": "{LessonCheck.answer_next} next · ↑↓ scroll",
    "run": "{LessonCheck.run_it} back to the reasoning · {LessonCheck.answer_next} next",
    "done": "{LessonCheck.again} again · ↑↓ scroll",
}
#: A space that would let a line end between a number and its percent sign, or between ± and its number.
_SPLIT_UNIT = re.compile(r"(?<=\d) (?=%)|(?<=±) (?=\d)")


def readable(text: str, code: str = CODE_STYLE) -> str:
    """A check's text as markup: inline code and emphasis drawn (never shown raw), and a number kept on the
    line of its percent sign (Rich and Textual both wrap at a no-break space, so the space goes)."""
    return inline(_SPLIT_UNIT.sub("", text), code)


def checks_file(set_option: str, lesson: Lesson | None) -> Path | None:
    """The checks file of a block: its ``set`` option's, else the one named like its lesson."""
    if set_option:
        name = set_option.strip().removesuffix(".md")
        folder = lessons_dir() / "checks"
        return next(iter(sorted(folder.glob(f"{name}.md")) or sorted(folder.glob(f"*-{name}.md"))), None)
    return checks_path(lesson.path) if lesson is not None else None


def named_elsewhere(lesson: Lesson | None, path: Path) -> set[str]:
    """The questions of ``path`` that the lesson's blocks name with a ``questions`` option."""
    parts = lesson.parts if lesson is not None else []
    return {qid for part in parts if isinstance(part, WidgetPart) and part.name == "check"
            and checks_file(part.options.get("set", ""), lesson) == path
            for qid in question_ids(part.options.get("questions", ""))}


class Choices(Static):
    """The question's stage: its options, numbered, the cursor on one; a long one wraps under its own text."""

    COMPONENT_CLASSES = {"choices--code"}
    DEFAULT_CSS = """
    Choices > .choices--code { color: $text-warning 95%; background: $warning 10%; }
    """

    options: reactive[tuple[str, ...]] = reactive((), init=False)
    cursor: reactive[int] = reactive(0, init=False)
    """The option the arrows point at, counted from 0."""

    def watch_options(self) -> None:
        self._draw()

    def watch_cursor(self) -> None:
        self._draw()

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._draw())

    def _draw(self) -> None:
        """A grid of Rich cells: inline code takes its colours from the theme through the component class."""
        code = str(self.get_component_rich_style("choices--code", partial=True))
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column(ratio=1)
        for i, option in enumerate(self.options):
            chosen = i == self.cursor
            grid.add_row(f"{'▶' if chosen else ' '} {i + 1}.", Text.from_markup(readable(option, code)),
                         style="reverse" if chosen else "")
        self.update(grid)


class LessonCheck(Questions):
    """Digits or arrows and enter answer, enter goes on, e runs the experiment a question names, r starts
    again. As tall as the stage shown (a long reasoning scrolls), except the experiment, whose chart has
    the height of a quiz."""

    DEFAULT_CSS = """
    LessonCheck {
        height: auto;
        ContentSwitcher { height: auto; }
        Reasoning { height: auto; max-height: 12; }
        &.-experiment { height: 20; ContentSwitcher { height: 1fr; } }
    }
    """

    HELP_TITLE = "Check of understanding"
    BINDINGS = bindings("LessonCheck")
    HELP_KEYS = [("1..9", "answer with that option")]

    PREFIX, NAME, NOUN = "ck", "Check", "check"
    CHOOSING, EXPERIMENT = ("question",), "run"
    SUBTITLES, TRY_IT = SUBTITLES, "{LessonCheck.run_it} run it for real"

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

    def __init__(self, set: str = "", questions: str = "", **_options: str) -> None:  # noqa: A002 - the block's word
        super().__init__()
        self.set_option = set.strip()
        self.named = question_ids(questions)
        """The questions this block asks ('': those no other block of the lesson names)."""
        self.content: CheckSet | None = None
        """The whole checks file; ``shown`` holds this block's questions."""
        self.shown: list[Question] = []
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

    def watch_stage(self, stage: str) -> None:
        """The new stage's height may differ: while the learner is here, the lesson scrolls all of it into
        view."""
        super().watch_stage(stage)
        if self.has_focus:
            self.call_after_refresh(self.scroll_visible, animate=False)

    # -- content, state and progress -------------------------------------------------------------

    def _lesson(self) -> Lesson | None:
        """The lesson this check is in."""
        from tltui.ui.lesson.view import LessonView

        view = next((node for node in self.ancestors if isinstance(node, LessonView)), None)
        return view.lesson if view is not None else None

    def on_mount(self) -> None:
        lesson = self._lesson()
        path = checks_file(self.set_option, lesson)
        try:
            if path is None or not path.is_file():
                raise ValueError(f"no checks file{f' {path.name}' if path else ''} in "
                                 f"{path.parent if path else lessons_dir() / 'checks'}")
            content = load_checks(path)
            self.shown = select_questions(content, self.named, named_elsewhere(lesson, path), path.name)
            self.content = content
        except (OSError, ValueError) as error:
            self.problem = str(error)
            self.border_title = "Check (not available)"
            self.query_one("#ck-question", Static).update(f"[b $warning]This check cannot be shown:[/] "
                                                          f"{escape(self.problem)}")
            self.query_one(ContentSwitcher).display = False
            return
        saved = self.app.progress.checks.get(content.name, {})
        self.answers = valid_answers(saved.get("answers", {}), self.shown)
        self.best = min(int(saved.get("best", 0) or 0), len(content.questions))
        self.experiment.restore({name: runs for name, runs in dict(saved.get("checks", {})).items()
                                 if name in self._experiments()})
        self._resume()

    @property
    def loaded(self) -> CheckSet:
        """``content``, where it is loaded: a check whose file could not load says so and takes no key, so the
        methods below never run for it."""
        assert self.content is not None
        return self.content

    def _experiments(self) -> set[str]:
        return {q.run for q in self.shown if q.run}

    @property
    def whole(self) -> bool:
        """True when this block asks every question of its file."""
        return len(self.shown) == len(self.loaded.questions)

    def _resume(self) -> None:
        """The first unanswered question, or the summary when all are answered."""
        questions = self.shown
        unanswered = [i for i, q in enumerate(questions) if q.id not in self.answers]
        self.go(unanswered[0] if unanswered else len(questions) - 1, "question" if unanswered else "done")

    def reset_cursors(self) -> None:
        self.cursor = 0

    @property
    def question(self) -> Question:
        return self.shown[self.index]

    @property
    def total(self) -> int:
        return len(self.shown)

    @property
    def score(self) -> int:
        """Right answers this round, to this block's questions."""
        return sum(self.answers.get(q.id) == q.answer for q in self.shown)

    @property
    def best_line(self) -> str:
        if self.whole:
            return super().best_line
        return f"lesson best {self.best}/{len(self.loaded.questions)}"

    @property
    def experiment_name(self) -> str:
        return self.question.run

    def options(self) -> int:
        return len(self.question.options)

    def save(self) -> None:
        """This block's answers and runs, merged with those the lesson's other blocks saved; ``best`` is the
        most right answers of the whole file held at once."""
        content = self.loaded
        questions = content.questions
        saved = self.app.progress.checks.get(content.name, {})
        mine = {q.id for q in self.shown}
        answers = {qid: choice for qid, choice in valid_answers(saved.get("answers", {}), questions).items()
                   if qid not in mine} | self.answers
        right = sum(answers.get(q.id) == q.answer for q in questions)
        self.best = min(max(self.best, int(saved.get("best", 0) or 0), right), len(questions))
        runs = {name: pairs for name, pairs in dict(saved.get("checks", {})).items()
                if name not in self._experiments()} | self.experiment.runs
        self.app.progress.checks[content.name] = {
            "answers": answers, "right": right, "best": self.best, "total": len(questions), "checks": runs,
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
        following = [i for i, q in enumerate(self.shown) if i > self.index and q.id not in self.answers]
        self.go(following[0] if following else self.index, "question" if following else "done")

    def action_restart(self) -> None:
        self.answers = {}
        self.save()
        self._resume()

    def _answer(self, choice: int) -> None:
        self.answers[self.question.id] = choice
        self.save()
        self.post_message(self.Scored(self, self.loaded.name))
        self.show_title()
        self.stage = "feedback"

    # -- drawing ---------------------------------------------------------------------------------

    def show_header(self) -> None:
        question = self.question
        label = "[b $accent]Predict, then see.[/] " if question.predict else ""
        self.query_one("#ck-question", Static).update(f"[b]{self.index + 1}.[/] {label}{readable(question.text)}")
        self.query_one(Choices).options = question.options

    def show_question(self) -> None:
        """The options draw their own cursor."""

    def show_feedback(self) -> None:
        question = self.question
        chosen = self.answers[question.id]
        options = question.options
        lines = [
            verdict(chosen == question.answer, f"{chosen}. {options[chosen - 1]}",
                    f"{question.answer}. {options[question.answer - 1]}", [], readable),
            "",
            f"[b]Why:[/] {readable(question.why)}",
        ]
        if question.measured:
            lines += ["", f"[b]Measured:[/] {readable(question.measured)}"]
        if question.run:
            lines += ["", f"[b $accent]e[/] runs it for real: {escape(arms(question.run))}."]
        self.query_one("#ck-feedback", Reasoning).show("\n".join(lines))

    def show_run(self) -> None:
        self.show_experiment()

    def show_done(self) -> None:
        questions = self.shown
        best = (f"best {self.best}" if self.whole
                else f"lesson best {self.best} of {len(self.loaded.questions)}")
        lines = [f"[b]{self.score} of {len(questions)} right[/] ({best}).", ""]
        for i, question in enumerate(questions):
            chosen = self.answers.get(question.id)
            mark = "·" if chosen is None else "[green]✓[/]" if chosen == question.answer else "[red]✗[/]"
            lines.append(f"{mark} {i + 1}. {readable(question.text)}")
            if chosen is not None and chosen != question.answer:
                lines.append(f"    the answer: {readable(question.options[question.answer - 1])}")
        lines += ["", "[b $accent]r[/] answers them again."]
        self.query_one("#ck-done", Reasoning).show("\n".join(lines))
