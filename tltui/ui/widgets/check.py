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
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import ContentSwitcher, Static

from tltui.ui.lessons import lessons_dir
from tltui.ui.link import WorkerLink
from tltui.ui.widgets.check_questions import CheckSet, Question, checks_path, load_checks
from tltui.ui.widgets.experiments import ExperimentRunner, arms, verdict
from tltui.ui.widgets.run_chart import RunChart

if TYPE_CHECKING:
    from tltui.ui.app import TutorApp

SUBTITLES = {
    "question": "↑↓ move · 1-{n} or enter answer",
    "feedback": "enter next · ↑↓ scroll",
    "run": "e back to the reasoning · enter next",
    "done": "r again · ↑↓ scroll",
}


class LessonCheck(ExperimentRunner, Vertical, can_focus=True):
    """Digits or arrows and enter answer, enter goes on, e runs the experiment a question names, r starts
    again. Digits are read in ``on_key``, before the lesson screen takes them as a jump to a lesson."""

    app: TutorApp

    DEFAULT_CSS = """
    LessonCheck {
        height: 20;
        margin: 1 2;
        padding: 0 1;
        border: round $secondary;
        border-title-color: $text-accent;
        &:focus { border: round $accent; }
        #ck-question { height: auto; margin-bottom: 1; }
        &.-no-question #ck-question { display: none; }
        ContentSwitcher { height: 1fr; }
        #ck-choose { height: auto; }
        #ck-feedback, #ck-done { height: 1fr; scrollbar-size-vertical: 1; }
        RunChart { height: 1fr; min-height: 8; }
        #ck-measured { height: auto; }
    }
    """

    HELP_TITLE = "Check of understanding (end of each lesson)"
    BINDINGS = [
        Binding("up", "move(-1)", "Up", show=False, tooltip="choose an answer"),
        Binding("down", "move(1)", "Down", show=False, tooltip="choose an answer"),
        Binding("enter", "confirm", "Answer / next", tooltip="answer; then the next question"),
        Binding("e", "run", "Run it", tooltip="run the experiment the question names, for real"),
        Binding("r", "restart", "Again", tooltip="answer the questions again"),
    ]
    HELP_KEYS = [("1..9", "answer with that option")]

    @dataclass
    class Scored(Message):
        """An answer changed the score of a lesson's check."""

        check: LessonCheck
        name: str
        """The lesson's name: the key of its score in the progress file."""

    stage: reactive[str] = reactive("question", init=False)
    """question, feedback (the reasoning), run (a real experiment) or done (the summary)."""
    index: reactive[int] = reactive(0, init=False)
    """The question shown, counted from 0."""
    cursor: reactive[int] = reactive(0, init=False)
    """The option the arrows point at, counted from 0."""

    def __init__(self, set: str = "", **_options: str) -> None:  # noqa: A002 - the lesson block's word
        super().__init__()
        self.set_option = set.strip()
        self.content: CheckSet | None = None
        self.problem = ""
        self.answers: dict[str, int] = {}
        """Question id -> the option chosen (from 1)."""
        self.best = 0
        self.checks: dict[str, list[list[str]]] = {}
        self.refused: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield Static(id="ck-question")
        with ContentSwitcher(initial="ck-choose"):
            yield Static(id="ck-choose")
            with VerticalScroll(id="ck-feedback", can_focus=False):
                yield Static(id="ck-feedback-text")
            with Vertical(id="ck-run"):
                yield RunChart()
                yield Static(id="ck-measured")
            with VerticalScroll(id="ck-done", can_focus=False):
                yield Static(id="ck-done-text")

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
        self.checks = self.known_checks(dict(saved.get("checks", {})))
        self._resume()
        self.app.link.watch(self)
        if self.checks:
            self._load_experiments()

    def on_unmount(self) -> None:
        if self.content is not None:
            self.app.link.unwatch(self)

    def _resume(self) -> None:
        """The first unanswered question, or the summary when all are answered."""
        questions = self.content.questions
        unanswered = [i for i, q in enumerate(questions) if q.id not in self.answers]
        self._go("question" if unanswered else "done", unanswered[0] if unanswered else len(questions) - 1)

    def _go(self, stage: str, index: int | None = None, cursor: int = 0) -> None:
        """Set the stage, question and cursor together, then draw once (their watchers would each draw
        a state that is half old, half new)."""
        self.set_reactive(LessonCheck.stage, stage)
        self.set_reactive(LessonCheck.index, self.index if index is None else index)
        self.set_reactive(LessonCheck.cursor, cursor)
        self._show()

    @property
    def question(self) -> Question:
        return self.content.questions[self.index]

    @property
    def score(self) -> int:
        """Right answers this round."""
        return sum(self.answers.get(q.id) == q.answer for q in self.content.questions)

    def _save(self) -> None:
        self.app.progress.checks[self.content.name] = {
            "answers": self.answers, "right": self.score, "best": self.best,
            "total": len(self.content.questions), "checks": self.checks,
        }
        self.app.save_progress()

    # -- keys --------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys that mean nothing now go on to the lesson (a page turn, a scroll, a digit's jump)."""
        if self.content is None:
            return False
        stage = self.stage
        if action == "move":
            return stage in ("question", "feedback", "done")
        if action == "confirm":
            return stage != "done"
        if action == "run":
            return stage in ("feedback", "run") and bool(self.question.run)
        if action == "restart":
            return stage == "done"
        return True

    def on_key(self, event: events.Key) -> None:
        """While a question waits for its answer, a digit answers it instead of jumping to a lesson."""
        if self.content is None or self.stage != "question" or not (event.character or "").isdigit():
            return
        event.stop()
        event.prevent_default()
        number = int(event.character)
        if 1 <= number <= len(self.question.options):
            self._answer(number)

    def action_move(self, step: int) -> None:
        if self.stage == "question":
            self.cursor = (self.cursor + step) % len(self.question.options)
        else:
            self.query_one(f"#ck-{self.stage}", VerticalScroll).scroll_relative(y=step, animate=False)

    def action_confirm(self) -> None:
        if self.stage == "question":
            self._answer(self.cursor + 1)
            return
        following = [i for i, q in enumerate(self.content.questions)
                     if i > self.index and q.id not in self.answers]
        if following:
            self._go("question", following[0])
        else:
            self._go("done")

    def action_run(self) -> None:
        """Show the experiment (starting its runs unless they are going or done), or go back."""
        if self.stage == "run":
            self.stage = "feedback"
        else:
            self.run_experiment(self.question.run)
            self.stage = "run"

    def action_restart(self) -> None:
        self.answers = {}
        self._save()
        self._resume()

    def _answer(self, choice: int) -> None:
        self.answers[self.question.id] = choice
        self.best = max(self.best, self.score)
        self._save()
        self.post_message(self.Scored(self, self.content.name))
        self._go("feedback", cursor=choice - 1)

    # -- the worker ------------------------------------------------------------------------------

    def on_worker_link_changed(self, message: WorkerLink.Changed) -> None:
        if self.stage == "run":
            self._show()

    def on_worker_link_run_changed(self, message: WorkerLink.RunChanged) -> None:
        if self.stage == "run" and self.watches_run(self.question.run, message.run_id):
            self._show()

    # -- drawing ---------------------------------------------------------------------------------

    def watch_stage(self) -> None:
        self._show()

    def watch_index(self) -> None:
        self._show()

    def watch_cursor(self) -> None:
        self._show()

    def on_focus(self) -> None:
        self.call_after_refresh(self._show)  # has_focus changes after this handler

    def on_blur(self) -> None:
        self.call_after_refresh(self._show)

    def _show(self) -> None:
        """Draw the current stage."""
        if self.content is None or not self.is_mounted:
            return
        questions = self.content.questions
        total = len(questions)
        self.border_title = (f"Check · {min(self.index + 1, total)}/{total} · score {self.score}/"
                             f"{len(self.answers)} · best {self.best}/{total}")
        subtitle = SUBTITLES[self.stage].format(n=len(self.question.options))
        if self.stage == "feedback" and self.question.run:
            subtitle = "enter next · e run it for real · ↑↓ scroll"
        self.border_subtitle = subtitle if self.has_focus else "tab focuses the check"
        self.set_class(self.stage in ("run", "done"), "-no-question")
        self.query_one(ContentSwitcher).current = "ck-choose" if self.stage == "question" else f"ck-{self.stage}"
        question = self.question
        label = "[b $accent]Predict, then see.[/] " if question.predict else ""
        self.query_one("#ck-question", Static).update(f"[b]{self.index + 1}.[/] {label}{escape(question.text)}")
        getattr(self, f"_show_{self.stage}")()

    def _show_question(self) -> None:
        """The options, numbered; a long one wraps under its own text."""
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column(ratio=1)
        for i, option in enumerate(self.question.options):
            chosen = i == self.cursor
            grid.add_row(f"{'▶' if chosen else ' '} {i + 1}.", option, style="reverse" if chosen else "")
        self.query_one("#ck-choose", Static).update(grid)

    def _show_feedback(self) -> None:
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
        self.query_one("#ck-feedback-text", Static).update("\n".join(lines))

    def _show_run(self) -> None:
        self.draw_experiment(self.question.run, self.query_one(RunChart), self.query_one("#ck-measured", Static))

    def _show_done(self) -> None:
        questions = self.content.questions
        lines = [f"[b]{self.score} of {len(questions)} right[/] (best {self.best}).", ""]
        for i, question in enumerate(questions):
            chosen = self.answers.get(question.id)
            mark = "·" if chosen is None else "[green]✓[/]" if chosen == question.answer else "[red]✗[/]"
            lines.append(f"{mark} {i + 1}. {escape(question.text)}")
            if chosen is not None and chosen != question.answer:
                lines.append(f"    the answer: {escape(question.options[question.answer - 1])}")
        lines += ["", "[b $accent]r[/] answers them again."]
        self.query_one("#ck-done-text", Static).update("\n".join(lines))
