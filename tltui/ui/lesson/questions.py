"""The base of the quadrant quiz and the checks of understanding: questions answered by keys, in stages
shown one at a time in a content switcher."""

from __future__ import annotations

from collections.abc import Mapping

from textual import events
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.widgets import ContentSwitcher, Static

from tltui.ui.base.frame import LiveFrame
from tltui.ui.keys import hint
from tltui.ui.lesson.experiments import Experiment


class Reasoning(VerticalScroll, can_focus=False):
    """A stage of text that scrolls: the reasoning after an answer, or the summary of a round."""

    DEFAULT_CSS = """
    Reasoning { height: 1fr; scrollbar-size-vertical: 1; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id=f"{self.id}-text")

    def show(self, text: str) -> None:
        self.query_one(Static).update(text)


class Questions(LiveFrame):
    """Questions answered by keys, one stage at a time: choosing (``CHOOSING``, the subclass's widgets),
    ``feedback`` (the reasoning), the real experiment (``EXPERIMENT``) and ``done`` (the summary).

    ``stage`` and ``index`` (the question shown) are reactives: each assignment draws what depends on it
    (``show_<stage>`` draws a stage). Arrows move a choosing stage's cursor or scroll a text stage, digits
    choose (read in ``on_key``, before the lesson screen takes them as a jump to a lesson), ``e`` shows the
    experiment of the question, ``enter`` confirms or goes on."""

    DEFAULT_CSS = """
    Questions {
        height: 20;
        padding: 0 1;
        .-header { height: auto; margin-bottom: 1; }
        &.-no-header .-header { display: none; }
        ContentSwitcher { height: 1fr; }
    }
    """

    PREFIX = ""
    """Of the stages' ids: ``<PREFIX>-<stage>``."""
    NAME = ""
    """The first words of the border's title."""
    NOUN = ""
    """What the widget is, in a word ("quiz")."""
    POINTS = 1
    """Points a question gives."""
    CHOOSING: tuple[str, ...] = ()
    GRIDS: tuple[str, ...] = ()
    """The choosing stages whose cursor also moves left and right."""
    EXPERIMENT = ""
    SUBTITLES: dict[str, str] = {}
    """Stage -> the keys it takes, shown under the border while focused (``{n}``: options)."""
    TRY_IT = ""
    """The key that shows the experiment, as the feedback's subtitle offers it."""

    stage: reactive[str] = reactive("", init=False, always_update=True)
    """The stage shown ('' until the questions are read)."""
    index: reactive[int] = reactive(0, init=False, always_update=True)
    """The question shown, counted from 0."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: Mapping[str, object] = {}
        """Question id -> its answer, this round."""
        self.best = 0

    # -- what subclasses say -------------------------------------------------------------------

    @property
    def total(self) -> int:
        """Questions in a round."""
        raise NotImplementedError

    @property
    def score(self) -> int:
        """Points this round."""
        raise NotImplementedError

    @property
    def experiment_name(self) -> str:
        """The experiment of the question shown, or ''."""
        raise NotImplementedError

    def options(self) -> int:
        """How many options the choosing stage offers (for its subtitle)."""
        raise NotImplementedError

    def show_header(self) -> None:
        """Draw the question shown above the stages."""
        raise NotImplementedError

    def choose(self, number: int) -> None:
        """A digit typed while choosing."""
        raise NotImplementedError

    def move_cursor(self, rows: int, columns: int) -> None:
        raise NotImplementedError

    def reset_cursors(self) -> None:
        """Put the choosing stages' cursors back at their start."""
        raise NotImplementedError

    # -- the stages ------------------------------------------------------------------------------

    @property
    def experiment(self) -> Experiment:
        return self.query_one(Experiment)

    def go(self, index: int, stage: str) -> None:
        """Question ``index`` at ``stage``, the cursors back at their start."""
        self.reset_cursors()
        self.index = index
        self.stage = stage

    def stage_id(self, stage: str) -> str:
        return f"{self.PREFIX}-{stage}"

    def watch_index(self) -> None:
        self.show_header()
        self.show_title()

    def watch_stage(self, stage: str) -> None:
        self.set_class(stage in (self.EXPERIMENT, "done"), "-no-header")
        self.set_class(stage == self.EXPERIMENT, "-experiment")
        self.query_one(ContentSwitcher).current = self.stage_id(stage)
        self.show_subtitle()
        getattr(self, f"show_{stage}")()

    @property
    def best_line(self) -> str:
        """The best score, as the border's title ends."""
        return f"best {self.best}/{self.POINTS * self.total}"

    def show_title(self) -> None:
        total = self.total
        self.border_title = (f"{self.NAME} · {min(self.index + 1, total)}/{total} · score {self.score}/"
                             f"{self.POINTS * len(self.answers)} · {self.best_line}")

    def show_subtitle(self) -> None:
        """The keys of the stage while the widget has them; else how to give them to it."""
        subtitle = hint(self.SUBTITLES[self.stage]).format(n=self.options())
        if self.stage == "feedback" and self.experiment_name:
            subtitle = hint(self.SUBTITLES["feedback"].replace(" · ", f" · {self.TRY_IT} · ", 1))
        self.border_subtitle = subtitle if self.has_focus else f"tab focuses the {self.NOUN}"

    def show_experiment(self, caveat: str = "") -> None:
        self.experiment.show(self.experiment_name, caveat)

    def on_focus(self) -> None:
        self.call_after_refresh(self.show_subtitle)  # has_focus changes after this handler

    def on_blur(self) -> None:
        self.call_after_refresh(self.show_subtitle)

    # -- keys --------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys that mean nothing in this stage go on to the lesson (digits jump, left/right turn pages)."""
        stage = self.stage
        if action == "move":
            sideways = len(parameters) > 1 and parameters[1] != 0
            return stage in self.GRIDS if sideways else stage in (*self.CHOOSING, "feedback", "done")
        if action == "confirm":
            return stage != "done"
        if action == "experiment":
            return stage in ("feedback", self.EXPERIMENT) and bool(self.experiment_name)
        if action == "restart":
            return stage == "done"
        return True

    def on_key(self, event: events.Key) -> None:
        """While choosing, digits choose instead of jumping to a lesson."""
        digit = event.character or ""
        if self.stage not in self.CHOOSING or not digit.isdigit():
            return
        event.stop()
        event.prevent_default()
        self.choose(int(digit))

    def action_move(self, rows: int, columns: int = 0) -> None:
        if self.stage in self.CHOOSING:
            self.move_cursor(rows, columns)
        else:
            self.query_one(f"#{self.stage_id(self.stage)}", Reasoning).scroll_relative(y=rows, animate=False)

    def action_experiment(self) -> None:
        """Show the experiment (starting its runs unless they are going or done), or go back to the reasoning."""
        if self.stage == self.EXPERIMENT:
            self.stage = "feedback"
        else:
            self.experiment.run(self.experiment_name)
            self.stage = self.EXPERIMENT

    def on_experiment_started(self, message: Experiment.Started) -> None:
        message.stop()
        self.save()

    def save(self) -> None:
        """Keep the answers, the scores and the experiments' runs in the progress file."""
        raise NotImplementedError
