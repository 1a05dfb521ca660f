"""The quadrant quiz: place a scenario on the data-size x similarity grid, pick a strategy, read why.

Scenarios come from ``lessons/quiz/quadrants.md`` in a shuffled order (the seed is saved, so a round
survives a restart; a ``seed`` option in the lesson block fixes it). Answers, the round's score and the
best score live in ``app.progress.quiz["quadrant-quiz"]``. A scenario with a check runs its experiment
for real through the worker and draws the measured validation curves.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from rich.markup import escape
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical, VerticalScroll
from textual.widgets import ContentSwitcher, Static

from tltui.ui.link import WorkerLink
from tltui.ui.run_model import RunModel
from tltui.ui.widgets.experiments import ExperimentRunner, arms, verdict
from tltui.ui.widgets.quiz_scenarios import QUADRANTS, Scenario, load_quiz
from tltui.ui.widgets.run_chart import RunChart

if TYPE_CHECKING:
    from tltui.ui.app import TutorApp

KEY = "quadrant-quiz"
"""Where the quiz keeps its state in ``app.progress.quiz``."""
#: Grid cell (row, column) -> quadrant: large data on top, similar domain on the left.
CELLS = {(0, 0): 2, (0, 1): 4, (1, 0): 1, (1, 1): 3}
SUBTITLES = {
    "quadrant": "←↑↓→ move · 1-4 or enter choose the quadrant",
    "strategy": "↑↓ move · 1-{n} or enter choose the strategy",
    "feedback": "enter next · ↑↓ scroll",
    "check": "e back to the reasoning · enter next",
    "done": "r new round · ↑↓ scroll",
}


def quadrant_name(quadrant: int) -> str:
    size, domain = QUADRANTS[quadrant]
    return f"Q{quadrant} ({size} data, {domain} domain)"


def shuffled(ids: list[str], seed: int) -> list[str]:
    """``ids`` in the order a round with ``seed`` asks them."""
    order = list(ids)
    random.Random(seed).shuffle(order)
    return order


class QuadrantQuiz(ExperimentRunner, Vertical, can_focus=True):
    """Arrows or 1-4 pick the quadrant, arrows or a digit the strategy, enter goes on; e checks it for real.

    Digits are read in ``on_key``, before the lesson screen takes them as a jump to a lesson."""

    app: TutorApp

    DEFAULT_CSS = """
    QuadrantQuiz {
        height: 20;
        margin: 1 2;
        padding: 0 1;
        border: round $secondary;
        border-title-color: $text-accent;
        &:focus { border: round $accent; }
        #qq-scenario { height: auto; margin-bottom: 1; }
        &.-no-scenario #qq-scenario { display: none; }
        ContentSwitcher { height: 1fr; }
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
        #qq-question { height: auto; margin-bottom: 1; }
        #qq-feedback, #qq-done { height: 1fr; scrollbar-size-vertical: 1; }
        RunChart { height: 1fr; min-height: 8; }
        #qq-measured { height: auto; }
        #qq-caveat { height: auto; color: $text-muted; }
    }
    """

    HELP_TITLE = "Quadrant quiz (lesson 5)"
    BINDINGS = [
        Binding("up", "move(-1, 0)", "Up", show=False, tooltip="move on the grid or the list; scroll the reasoning"),
        Binding("down", "move(1, 0)", "Down", show=False, tooltip="move on the grid or the list; scroll the reasoning"),
        Binding("left", "move(0, -1)", "Left", show=False, tooltip="move on the grid"),
        Binding("right", "move(0, 1)", "Right", show=False, tooltip="move on the grid"),
        Binding("enter", "confirm", "Choose / next", tooltip="choose; then the next scenario"),
        Binding("e", "check", "Check it", tooltip="check it: run the real experiment and show its curves"),
        Binding("r", "restart", "New round", tooltip="a new round in a new order (after the last scenario)"),
    ]
    HELP_KEYS = [("1..6", "choose a quadrant (1-4) or a strategy (1-6)")]

    def __init__(self, seed: str = "", **_options: str) -> None:
        super().__init__()
        self.content = load_quiz()
        self.scenarios = {s.id: s for s in self.content.scenarios}
        self.strategy_ids = list(self.content.strategies)
        self.fixed_seed = int(seed) if seed.strip() else None
        self.seed = 0
        self.order: list[str] = []
        self.answers: dict[str, dict] = {}
        self.best = 0
        self.checks: dict[str, list[list[str]]] = {}
        self.refused: dict[str, str] = {}
        """Experiment name -> [arm label, run id] of its latest real runs."""
        self.index = 0
        self.stage = "quadrant"
        self.cell = (1, 0)
        self.strategy_cursor = 0
        self.quadrant = 0
        """The quadrant chosen for the current scenario, before its strategy."""

    def compose(self) -> ComposeResult:
        yield Static(id="qq-scenario")
        with ContentSwitcher(initial="qq-quadrant"):
            with Vertical(id="qq-quadrant"):
                with Grid(id="qq-grid"):
                    yield Static()
                    yield Static("similar to ImageNet", classes="qq-axis")
                    yield Static("different from ImageNet", classes="qq-axis")
                    for row, size in enumerate(("large", "small")):
                        yield Static(f"{size}\ndata", classes="qq-row")
                        for column in range(2):
                            quadrant = CELLS[row, column]
                            _, domain = QUADRANTS[quadrant]
                            yield Static(f"[b]{quadrant}[/]  {size} · {domain}", classes="qq-cell",
                                         id=f"qq-q{quadrant}")
                yield Static("Count the labelled images per class; compare the pictures with ImageNet's "
                             "photos of everyday objects.", id="qq-hint")
            with Vertical(id="qq-strategy"):
                yield Static(id="qq-question")
                yield Static(id="qq-list")
            with VerticalScroll(id="qq-feedback", can_focus=False):
                yield Static(id="qq-feedback-text")
            with Vertical(id="qq-check"):
                yield RunChart()
                yield Static(id="qq-measured")
                yield Static(id="qq-caveat")
            with VerticalScroll(id="qq-done", can_focus=False):
                yield Static(id="qq-done-text")

    # -- state and progress ----------------------------------------------------------------------

    def on_mount(self) -> None:
        saved = self.app.progress.quiz.get(KEY, {})
        self.best = int(saved.get("best", 0))
        self.checks = self.known_checks(saved.get("checks", {}))
        if self.fixed_seed is None and "seed" in saved:
            self._new_round(int(saved["seed"]), saved.get("answers", {}))
        else:
            self._new_round(self.fixed_seed if self.fixed_seed is not None else random.randrange(2**31))
        self.app.link.watch(self)
        if self.checks:
            self._load_experiments()

    def on_unmount(self) -> None:
        self.app.link.unwatch(self)

    def _new_round(self, seed: int, answers: dict | None = None) -> None:
        self.seed = seed
        self.order = shuffled(list(self.scenarios), seed)
        self.answers = {sid: a for sid, a in (answers or {}).items() if sid in self.scenarios}
        unanswered = [i for i, sid in enumerate(self.order) if sid not in self.answers]
        self.index = unanswered[0] if unanswered else len(self.order)
        self.stage = "quadrant" if unanswered else "done"
        self._save()
        self._show()

    def _save(self) -> None:
        self.app.progress.quiz[KEY] = {
            "seed": self.seed, "answers": self.answers, "best": self.best, "checks": self.checks,
        }
        self.app.save_progress()

    @property
    def score(self) -> int:
        """Points this round: one for each right quadrant, one for each right strategy."""
        return sum(a["quadrant_ok"] + a["strategy_ok"] for a in self.answers.values())

    @property
    def scenario(self) -> Scenario | None:
        return self.scenarios[self.order[self.index]] if self.index < len(self.order) else None

    # -- keys --------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys that mean nothing in this stage go on to the lesson (digits jump, left/right turn pages)."""
        stage = self.stage
        if action == "move":
            if stage == "quadrant":
                return True
            return parameters[1] == 0 and stage in ("strategy", "feedback", "done")
        if action == "confirm":
            return stage != "done"
        if action == "check":
            return stage in ("feedback", "check") and bool(self.scenario and self.scenario.check)
        if action == "restart":
            return stage == "done"
        return True

    def action_move(self, rows: int, columns: int) -> None:
        if self.stage == "quadrant":
            row, column = self.cell
            self.cell = (min(1, max(0, row + rows)), min(1, max(0, column + columns)))
        elif self.stage == "strategy":
            self.strategy_cursor = (self.strategy_cursor + rows) % len(self.strategy_ids)
        else:
            scroll = self.query_one(f"#qq-{self.stage}", VerticalScroll)
            scroll.scroll_relative(y=rows, animate=False)
            return
        self._show()

    def on_key(self, event: events.Key) -> None:
        """While choosing, digits choose (1-4 a quadrant, 1-6 a strategy) instead of jumping to a lesson."""
        if self.stage not in ("quadrant", "strategy") or not (event.character or "").isdigit():
            return
        event.stop()
        event.prevent_default()
        number = int(event.character)
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
            self.index += 1
            self.stage = "quadrant" if self.index < len(self.order) else "done"
            self.cell, self.strategy_cursor = (1, 0), 0
            self._show()

    def action_restart(self) -> None:
        self._new_round(self.fixed_seed if self.fixed_seed is not None else random.randrange(2**31))

    def _choose_quadrant(self, quadrant: int) -> None:
        self.quadrant = quadrant
        self.cell = next(cell for cell, q in CELLS.items() if q == quadrant)
        self.stage = "strategy"
        self._show()

    def _choose_strategy(self, strategy: str) -> None:
        scenario = self.scenario
        self.answers[scenario.id] = {
            "quadrant": self.quadrant,
            "strategy": strategy,
            "quadrant_ok": self.quadrant in scenario.quadrants,
            "strategy_ok": strategy in scenario.strategies,
        }
        self.best = max(self.best, self.score)
        self.stage = "feedback"
        self._save()
        self._show()

    # -- the real check --------------------------------------------------------------------------

    def action_check(self) -> None:
        """Show the check (starting its runs unless they are going or done), or go back to the reasoning."""
        if self.stage == "check":
            self.stage = "feedback"
        else:
            self.stage = "check"
            self.run_experiment(self.scenario.check)
        self._show()

    def _check_models(self) -> list[tuple[str, RunModel]]:
        return self.experiment_models(self.scenario.check if self.scenario else "")

    def on_worker_link_changed(self, message: WorkerLink.Changed) -> None:
        if self.stage == "check":
            self._show()

    def on_worker_link_run_changed(self, message: WorkerLink.RunChanged) -> None:
        if self.stage == "check" and self.watches_run(self.scenario.check, message.run_id):
            self._show()

    # -- drawing -------------------------------------------------------------------------------

    def on_focus(self) -> None:
        self.call_after_refresh(self._show)  # has_focus changes after this handler

    def on_blur(self) -> None:
        self.call_after_refresh(self._show)

    def _show(self) -> None:
        """Draw the current stage."""
        total = len(self.order)
        possible = 2 * len(self.answers)
        self.border_title = (f"Quadrant quiz · {min(self.index + 1, total)}/{total} · "
                             f"score {self.score}/{possible} · best {self.best}/{2 * total}")
        subtitle = SUBTITLES[self.stage].format(n=len(self.strategy_ids))
        if self.stage == "feedback" and self.scenario and self.scenario.check:
            subtitle = "enter next · e check it for real · ↑↓ scroll"
        self.border_subtitle = subtitle if self.has_focus else "tab focuses the quiz"
        self.set_class(self.stage in ("check", "done"), "-no-scenario")
        self.query_one(ContentSwitcher).current = f"qq-{self.stage}"
        scenario = self.scenario
        if scenario is not None:
            self.query_one("#qq-scenario", Static).update(f"[b]{escape(scenario.title)}[/]  {escape(scenario.text)}")
        getattr(self, f"_show_{self.stage}")()

    def _show_quadrant(self) -> None:
        for cell, quadrant in CELLS.items():
            self.query_one(f"#qq-q{quadrant}").set_class(cell == self.cell, "-cursor")

    def _show_strategy(self) -> None:
        self.query_one("#qq-question", Static).update(
            f"You placed it in [b]{quadrant_name(self.quadrant)}[/]. The strategy you would start with:"
        )
        lines = []
        for i, strategy in enumerate(self.content.strategies.values()):
            label = f"{i + 1}  {escape(strategy.name):<32}[dim]{escape(strategy.short)}[/]"
            lines.append(f"[reverse]▶ {label}[/]" if i == self.strategy_cursor else f"  {label}")
        self.query_one("#qq-list", Static).update("\n".join(lines))

    def _show_feedback(self) -> None:
        scenario, answer = self.scenario, self.answers[self.scenario.id]
        strategies = self.content.strategies
        best_quadrant, best_strategy = scenario.quadrants[0], scenario.strategies[0]
        lines = [
            verdict(answer["quadrant_ok"], quadrant_name(answer["quadrant"]),
                     quadrant_name(best_quadrant), [quadrant_name(q) for q in scenario.quadrants[1:]]),
            verdict(answer["strategy_ok"], strategies[answer["strategy"]].name, strategies[best_strategy].name,
                     [strategies[s].name for s in scenario.strategies[1:]]),
            "",
            f"[b]Why this quadrant:[/] {escape(scenario.reasons['quadrant'])}",
            f"[b]Why this strategy:[/] {escape(scenario.reasons['strategy'])}",
            f"[b]Debatable:[/] {escape(scenario.reasons['debatable'])}",
        ]
        if scenario.check:
            lines.append(f"[b $accent]e[/] runs the real experiment: {arms(scenario.check)}.")
        self.query_one("#qq-feedback-text", Static).update("\n".join(lines))

    def _show_check(self) -> None:
        scenario = self.scenario
        self.query_one("#qq-caveat", Static).update(f"[b]Check:[/] {escape(scenario.reasons['check'])}")
        self.draw_experiment(scenario.check, self.query_one(RunChart), self.query_one("#qq-measured", Static))

    def _show_done(self) -> None:
        total = len(self.order)
        quadrants = sum(a["quadrant_ok"] for a in self.answers.values())
        chosen = sum(a["strategy_ok"] for a in self.answers.values())
        lines = [
            f"[b]Round complete: {self.score} of {2 * total} points[/] (best {self.best}). "
            f"Quadrants right {quadrants}/{total}, strategies {chosen}/{total}.",
            "",
        ]
        for sid in self.order:
            answer = self.answers[sid]
            marks = "".join("[green]✓[/]" if answer[k] else "[red]✗[/]" for k in ("quadrant_ok", "strategy_ok"))
            lines.append(f"{marks} {escape(self.scenarios[sid].title)}: you said Q{answer['quadrant']}, "
                         f"{answer['strategy']}")
        lines += ["", "[b $accent]r[/] starts a new round in a new order."]
        self.query_one("#qq-done-text", Static).update("\n".join(lines))

