"""The quadrant quiz: place a scenario on the data-size x similarity grid, pick a strategy, read why.

Scenarios come from ``lessons/quiz/quadrants.md`` in a shuffled order (the seed is saved, so a round
survives a restart; a ``seed`` option in the lesson block fixes it). Answers, the round's score and the
best score live in ``app.progress.quiz["quadrant-quiz"]``. A scenario with a check runs its experiment
for real through the worker and draws the measured validation curves.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.reactive import reactive
from textual.widgets import ContentSwitcher, Static

from tltui.ui.content.quadrants import QUADRANTS, Scenario, Strategy, load_quiz
from tltui.ui.keys import bindings
from tltui.ui.lesson.experiments import Experiment, arms, verdict
from tltui.ui.lesson.questions import Questions, Reasoning

KEY = "quadrant-quiz"
"""Where the quiz keeps its state in ``app.progress.quiz``."""
#: Grid cell (row, column) -> quadrant: large data on top, similar domain on the left.
CELLS = {(0, 0): 2, (0, 1): 4, (1, 0): 1, (1, 1): 3}
#: The grid's cell at the start of each scenario: small data, similar domain.
START_CELL = (1, 0)
SUBTITLES = {
    "quadrant": "{QuadrantQuiz.left}{QuadrantQuiz.up}{QuadrantQuiz.down}{QuadrantQuiz.right} move · 1-4 or "
                "{QuadrantQuiz.choose_next} choose the quadrant",
    "strategy": "{QuadrantQuiz.up}{QuadrantQuiz.down} move · 1-{n} or {QuadrantQuiz.choose_next} choose the strategy",
    "feedback": "{QuadrantQuiz.choose_next} next · ↑↓ scroll",
    "check": "{QuadrantQuiz.check_it} back to the reasoning · {QuadrantQuiz.choose_next} next",
    "done": "{QuadrantQuiz.new_round} new round · ↑↓ scroll",
}


def quadrant_name(quadrant: int) -> str:
    size, domain = QUADRANTS[quadrant]
    return f"Q{quadrant} ({size} data, {domain} domain)"


def shuffled(ids: list[str], seed: int) -> list[str]:
    """``ids`` in the order a round with ``seed`` asks them."""
    order = list(ids)
    random.Random(seed).shuffle(order)
    return order


@dataclass(frozen=True)
class Answer:
    """A scenario's answer: the quadrant and the strategy chosen, and whether each is right."""

    quadrant: int
    strategy: str
    quadrant_ok: bool
    strategy_ok: bool

    @property
    def points(self) -> int:
        return self.quadrant_ok + self.strategy_ok


def restore_answers(saved: dict, scenarios: dict[str, Scenario]) -> dict[str, Answer]:
    """The answers of a saved round that still fit the scenarios (others are dropped)."""
    answers = {}
    for sid, fields in saved.items():
        try:
            answers[sid] = Answer(**fields)
        except TypeError:
            continue
    return {sid: answer for sid, answer in answers.items() if sid in scenarios}


class QuadrantGrid(Vertical):
    """The first stage: the four quadrants as a grid, the cursor on one."""

    DEFAULT_CSS = """
    QuadrantGrid {
        #qq-grid {
            grid-size: 3 3;
            grid-columns: 7 1fr 1fr;
            grid-rows: 1 3 3;
            height: 7;
        }
        .qq-axis { color: $text-muted; text-align: center; width: 1fr; }
        .qq-row { color: $text-muted; height: 3; content-align: left middle; }
        .qq-cell { border: round $panel; width: 1fr; height: 3; padding: 0 1; }
        .qq-cell.-cursor { border: heavy $accent; background: $accent 15%; }
        #qq-hint { color: $text-muted; margin-top: 1; }
    }
    """

    cursor: reactive[tuple[int, int]] = reactive(START_CELL)
    """The (row, column) of the cell under the cursor."""

    def compose(self) -> ComposeResult:
        with Grid(id="qq-grid"):
            yield Static()
            yield Static("similar to ImageNet", classes="qq-axis")
            yield Static("different from ImageNet", classes="qq-axis")
            for row, size in enumerate(("large", "small")):
                yield Static(f"{size}\ndata", classes="qq-row")
                for column in range(2):
                    quadrant = CELLS[row, column]
                    _, domain = QUADRANTS[quadrant]
                    yield Static(f"[b]{quadrant}[/]  {size} · {domain}", classes="qq-cell", id=f"qq-q{quadrant}")
        yield Static("Count the labelled images per class; compare the pictures with ImageNet's "
                     "photos of everyday objects.", id="qq-hint")

    def watch_cursor(self, cursor: tuple[int, int]) -> None:
        for cell, quadrant in CELLS.items():
            self.query_one(f"#qq-q{quadrant}").set_class(cell == cursor, "-cursor")


class StrategyList(Vertical):
    """The second stage: the quadrant chosen, and the strategies to start with, the cursor on one."""

    DEFAULT_CSS = """
    StrategyList {
        #qq-question { height: auto; margin-bottom: 1; }
    }
    """

    quadrant: reactive[int] = reactive(0, init=False)
    """The quadrant chosen (0: none yet)."""
    cursor: reactive[int] = reactive(0)

    def __init__(self, strategies: list[Strategy], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.strategies = strategies

    def compose(self) -> ComposeResult:
        yield Static(id="qq-question")
        yield Static(id="qq-list")

    def watch_quadrant(self, quadrant: int) -> None:
        if quadrant in QUADRANTS:
            self.query_one("#qq-question", Static).update(
                f"You placed it in [b]{quadrant_name(quadrant)}[/]. The strategy you would start with:")

    def watch_cursor(self, cursor: int) -> None:
        lines = []
        for i, strategy in enumerate(self.strategies):
            label = f"{i + 1}  {escape(strategy.name):<32}[dim]{escape(strategy.short)}[/]"
            lines.append(f"[reverse]▶ {label}[/]" if i == cursor else f"  {label}")
        self.query_one("#qq-list", Static).update("\n".join(lines))


class QuadrantQuiz(Questions):
    """Arrows or 1-4 pick the quadrant, arrows or a digit the strategy, enter goes on; e checks it for real."""

    HELP_TITLE = "Quadrant quiz"
    BINDINGS = bindings("QuadrantQuiz")
    HELP_KEYS = [("1..6", "choose a quadrant (1-4) or a strategy (1-6)")]

    PREFIX, NAME, NOUN, POINTS = "qq", "Quadrant quiz", "quiz", 2
    CHOOSING, GRIDS, EXPERIMENT = ("quadrant", "strategy"), ("quadrant",), "check"
    SUBTITLES, TRY_IT = SUBTITLES, "{QuadrantQuiz.check_it} check it for real"

    cell: reactive[tuple[int, int]] = reactive(START_CELL, init=False)
    strategy_cursor: reactive[int] = reactive(0, init=False)
    quadrant: reactive[int] = reactive(0, init=False)
    """The quadrant chosen for the current scenario, before its strategy."""
    answers: dict[str, Answer]

    def __init__(self, seed: str = "", **_options: str) -> None:
        super().__init__()
        self.content = load_quiz()
        self.scenarios = {s.id: s for s in self.content.scenarios}
        self.strategy_ids = list(self.content.strategies)
        self.fixed_seed = int(seed) if seed.strip() else None
        self.seed = 0
        self.order: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static(id="qq-scenario", classes="-header")
        with ContentSwitcher(initial="qq-quadrant"):
            yield QuadrantGrid(id="qq-quadrant").data_bind(cursor=QuadrantQuiz.cell)
            yield StrategyList(list(self.content.strategies.values()), id="qq-strategy").data_bind(
                QuadrantQuiz.quadrant, cursor=QuadrantQuiz.strategy_cursor)
            yield Reasoning(id="qq-feedback")
            yield Experiment("qq", caveat=True, id="qq-check")
            yield Reasoning(id="qq-done")

    # -- state and progress ----------------------------------------------------------------------

    def on_mount(self) -> None:
        saved = self.app.progress.quiz.get(KEY, {})
        self.best = int(saved.get("best", 0))
        self.experiment.restore(saved.get("checks", {}))
        if self.fixed_seed is None and "seed" in saved:
            self._new_round(int(saved["seed"]), restore_answers(saved.get("answers", {}), self.scenarios))
        else:
            self._new_round(self.fixed_seed if self.fixed_seed is not None else random.randrange(2**31))

    def _new_round(self, seed: int, answers: dict[str, Answer] | None = None) -> None:
        self.seed = seed
        self.order = shuffled(list(self.scenarios), seed)
        self.answers = answers or {}
        unanswered = [i for i, sid in enumerate(self.order) if sid not in self.answers]
        self.save()
        self.go(unanswered[0] if unanswered else len(self.order), "quadrant" if unanswered else "done")

    def reset_cursors(self) -> None:
        self.cell, self.strategy_cursor = START_CELL, 0

    def save(self) -> None:
        self.app.progress.quiz[KEY] = {
            "seed": self.seed, "answers": {sid: asdict(a) for sid, a in self.answers.items()}, "best": self.best,
            "checks": self.experiment.runs,
        }
        self.app.save_progress()

    @property
    def total(self) -> int:
        return len(self.order)

    @property
    def score(self) -> int:
        """Points this round: one for each right quadrant, one for each right strategy."""
        return sum(a.points for a in self.answers.values())

    @property
    def scenario(self) -> Scenario | None:
        return self.scenarios[self.order[self.index]] if self.index < len(self.order) else None

    @property
    def experiment_name(self) -> str:
        return self.scenario.check if self.scenario else ""

    def options(self) -> int:
        return len(self.strategy_ids)

    # -- keys --------------------------------------------------------------------------------------

    def move_cursor(self, rows: int, columns: int) -> None:
        if self.stage == "quadrant":
            row, column = self.cell
            self.cell = (min(1, max(0, row + rows)), min(1, max(0, column + columns)))
        else:
            self.strategy_cursor = (self.strategy_cursor + rows) % len(self.strategy_ids)

    def choose(self, number: int) -> None:
        """1-4 a quadrant, 1-6 a strategy."""
        if self.stage == "quadrant" and number in QUADRANTS:
            self._choose_quadrant(number)
        elif self.stage == "strategy" and 1 <= number <= len(self.strategy_ids):
            self._choose_strategy(self.strategy_ids[number - 1])

    def action_confirm(self) -> None:
        if self.stage == "quadrant":
            self._choose_quadrant(CELLS[self.cell])
        elif self.stage == "strategy":
            self._choose_strategy(self.strategy_ids[self.strategy_cursor])
        else:
            self.go(self.index + 1, "quadrant" if self.index + 1 < len(self.order) else "done")

    def action_restart(self) -> None:
        self._new_round(self.fixed_seed if self.fixed_seed is not None else random.randrange(2**31))

    def _choose_quadrant(self, quadrant: int) -> None:
        self.quadrant = quadrant
        self.cell = next(cell for cell, q in CELLS.items() if q == quadrant)
        self.stage = "strategy"

    def _choose_strategy(self, strategy: str) -> None:
        scenario = self.scenario
        assert scenario is not None  # a strategy is chosen before the round is done
        self.answers[scenario.id] = Answer(self.quadrant, strategy, self.quadrant in scenario.quadrants,
                                           strategy in scenario.strategies)
        self.best = max(self.best, self.score)
        self.save()
        self.show_title()
        self.stage = "feedback"

    # -- drawing -------------------------------------------------------------------------------

    def show_header(self) -> None:
        scenario = self.scenario
        if scenario is not None:
            self.query_one("#qq-scenario", Static).update(f"[b]{escape(scenario.title)}[/]  {escape(scenario.text)}")

    def show_quadrant(self) -> None:
        """The grid draws its own cursor."""

    def show_strategy(self) -> None:
        """The list draws its own cursor."""

    def show_feedback(self) -> None:
        scenario = self.scenario
        assert scenario is not None  # feedback comes before the round is done
        answer = self.answers[scenario.id]
        strategies = self.content.strategies
        best_quadrant, best_strategy = scenario.quadrants[0], scenario.strategies[0]
        lines = [
            verdict(answer.quadrant_ok, quadrant_name(answer.quadrant),
                    quadrant_name(best_quadrant), [quadrant_name(q) for q in scenario.quadrants[1:]]),
            verdict(answer.strategy_ok, strategies[answer.strategy].name, strategies[best_strategy].name,
                    [strategies[s].name for s in scenario.strategies[1:]]),
            "",
            f"[b]Why this quadrant:[/] {escape(scenario.reasons['quadrant'])}",
            f"[b]Why this strategy:[/] {escape(scenario.reasons['strategy'])}",
            f"[b]Debatable:[/] {escape(scenario.reasons['debatable'])}",
        ]
        if scenario.check:
            lines.append(f"[b $accent]e[/] runs the real experiment: {arms(scenario.check)}.")
        self.query_one("#qq-feedback", Reasoning).show("\n".join(lines))

    def show_check(self) -> None:
        scenario = self.scenario
        assert scenario is not None  # a check comes before the round is done
        self.show_experiment(f"[b]Check:[/] {escape(scenario.reasons['check'])}")

    def show_done(self) -> None:
        total = len(self.order)
        quadrants = sum(a.quadrant_ok for a in self.answers.values())
        chosen = sum(a.strategy_ok for a in self.answers.values())
        lines = [
            f"[b]Round complete: {self.score} of {2 * total} points[/] (best {self.best}). "
            f"Quadrants right {quadrants}/{total}, strategies {chosen}/{total}.",
            "",
        ]
        for sid in self.order:
            answer = self.answers[sid]
            marks = "".join("[green]✓[/]" if ok else "[red]✗[/]" for ok in (answer.quadrant_ok, answer.strategy_ok))
            lines.append(f"{marks} {escape(self.scenarios[sid].title)}: you said Q{answer.quadrant}, "
                         f"{answer.strategy}")
        lines += ["", "[b $accent]r[/] starts a new round in a new order."]
        self.query_one("#qq-done", Reasoning).show("\n".join(lines))
