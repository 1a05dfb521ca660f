"""The freeze board: the six groups to freeze or train, what that costs, a predicted accuracy, and a
key that runs the setting for real (the measured point joins the prediction on the chart)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Static
from textual_plotext import PlotextPlot

from tltui.client import WorkerError
from tltui.costs import model_costs, step_cost
from tltui.groups import GROUPS
from tltui.link import WorkerLink
from tltui.widgets.code_view import CodeView
from tltui.prediction import RULE, SIMILARITY, predict
from tltui.presets import configure
from tltui.protocol import ConfigError, RunConfig

if TYPE_CHECKING:
    from tltui.app import TutorApp

PER_CLASS = (5, 10, 20, 50, 100, 1000)
LRS = tuple(round(10 ** (e / 3), 8) for e in range(-15, 1))  # 1e-5 .. 1, a third of a decade apart
CLASSES = 10
#: The board's real runs: the built-in sets (similar domain: builtin; otherwise: builtin-shifted),
#: no augmentation (so frozen groups are computed once), a few epochs.
EPOCHS = 5
BACKBONES = {"resnet50": 224, "tiny": 32}


class FreezeBoard(Vertical, can_focus=True):
    """Keys: up/down choose a group, space freezes or unfreezes it, h head only, a all, [ ] data,
    - + learning rate, d domain, b backbone, v the setting as PyTorch code (w writes it), enter runs
    it for real."""

    app: TutorApp

    DEFAULT_CSS = """
    FreezeBoard {
        height: 21;
        margin: 1 2;
        border: round $secondary;
        border-title-color: $text-accent;
        &:focus { border: round $accent; }
        #board-top { height: 11; }
        #groups { width: 40; padding: 0 1; }
        PlotextPlot, CodeView { width: 1fr; }
        CodeView { display: none; }
        &.-code CodeView { display: block; }
        &.-code PlotextPlot { display: none; }
        #totals, #controls { height: 1; padding: 0 1; }
        #rule { height: 3; padding: 0 1; color: $text-muted; }
        #measured { height: 2; padding: 0 1; }
    }
    """

    BINDINGS = [
        Binding("up,k", "move(-1)", "Group up", show=False),
        Binding("down,j", "move(1)", "Group down", show=False),
        Binding("space", "toggle", "Freeze/train"),
        Binding("h", "head_only", "Head only"),
        Binding("a", "train_all", "Train all"),
        Binding("left_square_bracket", "data(-1)", "Less data", show=False),
        Binding("right_square_bracket", "data(1)", "More data", show=False),
        Binding("minus", "lr(-1)", "Lower LR", show=False),
        Binding("plus,equals_sign", "lr(1)", "Higher LR", show=False),
        Binding("d", "domain", "Domain", show=False),
        Binding("b", "backbone", "Backbone", show=False),
        Binding("v", "code", "Code/chart"),
        Binding("w", "write", "Write code", show=False),
        Binding("enter", "run", "Run it"),
    ]

    def __init__(self, **_options: str) -> None:
        super().__init__()
        self.frozen: set[str] = set(GROUPS[:-1])
        self.cursor = len(GROUPS) - 1
        self.per_class = 20
        self.lr = 1e-2
        self.similarity = "similar"
        self.backbone = "resnet50"
        self.measured: list[tuple[str, str]] = []
        """(run id, backbone) of the runs started from this board."""

    def compose(self) -> ComposeResult:
        with Horizontal(id="board-top"):
            yield Static(id="groups")
            yield PlotextPlot()
            yield CodeView("freeze_board", anchor="optimizer = ")
        yield Static(id="totals")
        yield Static(id="controls")
        yield Static(id="measured")
        yield Static(f"chart: • predicted (top groups train) x this setting o measured · {RULE}", id="rule")

    def on_mount(self) -> None:
        self.border_title = "Freeze board"
        self.border_subtitle = "↑↓ space h a · [ ] data · - + lr · d · b · v code · w · enter run"
        self.app.link.watch(self)
        self.measured = [(run_id, backbone) for run_id, backbone in self.app.progress.board_runs]
        self._refresh()
        if self.measured:
            self._load_measured()

    @work(group="board-load")
    async def _load_measured(self) -> None:
        """Bring back the runs this board started in earlier sessions (from the worker's run store)."""
        for run_id, backbone in list(self.measured):
            try:
                await self.app.link.load(run_id)
            except WorkerError:  # gone from the run store (or no worker): no point is drawn for it
                self.measured.remove((run_id, backbone))
        self._refresh()

    def on_unmount(self) -> None:
        self.app.link.unwatch(self)

    # -- the setting ---------------------------------------------------------------------------

    @property
    def trainable(self) -> set[str]:
        return set(GROUPS) - self.frozen

    @property
    def image_size(self) -> int:
        return BACKBONES[self.backbone]

    def config(self) -> RunConfig:
        """The run this board describes (ConfigError if it cannot run)."""
        return configure(
            data="builtin" if self.similarity == "similar" else "builtin-shifted",
            model=self.backbone, weights="pretrained", frozen=tuple(g for g in GROUPS if g in self.frozen),
            lr=self.lr, lr_decay=1.0, epochs=EPOCHS, image_size=self.image_size, augment=(),
            limit_per_class=self.per_class if self.per_class < 100 else 0,
        )

    def _costs(self, backbone: str | None = None):
        backbone = backbone or self.backbone
        return model_costs(backbone, BACKBONES[backbone], CLASSES)

    def _predicted(self, trainable: set[str]) -> float:
        costs = self._costs()
        share = sum(costs[g].params for g in trainable) / sum(c.params for c in costs.values())
        return predict(trainable, self.per_class, self.similarity, self.lr, CLASSES, share)

    # -- drawing ---------------------------------------------------------------------------------

    def _refresh(self) -> None:
        costs = self._costs()
        step = step_cost(costs, self.trainable)
        board = Text()
        board.append(f"{'group':<8}{'state':<10}{'params':>9}{'GMAC':>7}\n", "dim")
        for i, group in enumerate(GROUPS):
            frozen = group in self.frozen
            style = "reverse" if i == self.cursor and self.has_focus else ""
            board.append(f"{'▶' if i == self.cursor else ' '}{group:<7}", style)
            board.append(f"{'❄ frozen' if frozen else '✎ trains':<10}", "cyan" if frozen else "orange1")
            board.append(f"{_count(costs[group].params):>9}{costs[group].macs / 1e9:>7.2f}\n")
        self.query_one("#groups", Static).update(board)
        self.query_one("#totals", Static).update(
            f"trains {_count(step.trainable_params)} · GFLOP/img fwd {step.forward_gflops:.2f} + bwd "
            f"{step.backward_gflops:.2f} · grads+optim {step.optimizer_mb:.0f} MB"
        )
        self.query_one("#controls", Static).update(
            f"{self.backbone} at {self.image_size}px · data {self.per_class}/class · lr {self.lr:.0e} · "
            f"domain {self.similarity}"
        )
        self._measured_line()
        self._draw_chart()
        try:
            self.query_one(CodeView).show(self.config())
        except ConfigError as error:
            self.query_one(CodeView).show(RunConfig(), problem=str(error))

    def _draw_chart(self) -> None:
        plot = self.query_one(PlotextPlot)
        plt = plot.plt
        plt.clear_figure()
        costs = self._costs()
        xs, ys = [], []
        for k in range(1, len(GROUPS) + 1):  # train the top k groups
            trainable = set(GROUPS[-k:])
            xs.append(step_cost(costs, trainable).total_gflops)
            ys.append(self._predicted(trainable))
        plt.plot(xs, ys, color="gray", marker="dot", label="predicted, top k groups train")
        here = step_cost(costs, self.trainable).total_gflops
        plt.scatter([here], [self._predicted(self.trainable)], color="orange", marker="x",
                    label="this setting (predicted)")
        points = [p for p in self._measured_points() if p[2] == self.backbone]
        if points:
            plt.scatter([p[0] for p in points], [p[1] for p in points], color="cyan", marker="o",
                        label="measured")
        plt.ylim(0, 1)
        plt.yticks([0, 0.5, 1], ["0%", "50%", "100%"])  # a short chart would skip some of plotext's own
        plt.xlabel("GFLOP per training image")
        plt.title("accuracy vs cost")
        plot.refresh()

    def _measured_points(self) -> list[tuple[float, float, str]]:
        points = []
        for run_id, backbone in self.measured:
            run = self.app.link.runs.get(run_id)
            if run is None or run.best is None or run.config is None:
                continue
            trainable = set(run.config.trainable_at(run.config.epochs))
            x = step_cost(model_costs(backbone, run.config.image_size, CLASSES), trainable).total_gflops
            points.append((x, run.best.val_acc, backbone))
        return points

    def _measured_line(self) -> None:
        runs = [self.app.link.runs.get(run_id) for run_id, _ in self.measured]
        parts = []
        for run in [r for r in runs if r is not None and r.config is not None][-3:]:
            best = f"{run.best.val_acc:.0%}" if run.best else "…"
            frozen = ",".join(run.config.frozen) if run.config and run.config.frozen else "nothing"
            parts.append(f"{run.status} {best} (frozen: {frozen})")
        self.query_one("#measured", Static).update(
            ("measured: " + " · ".join(parts)) if parts else "enter runs this setting for real; the measured "
            "accuracy joins the chart"
        )

    # -- keys ------------------------------------------------------------------------------------

    def action_move(self, step: int) -> None:
        self.cursor = (self.cursor + step) % len(GROUPS)
        self._refresh()

    def action_toggle(self) -> None:
        self.frozen ^= {GROUPS[self.cursor]}
        self._refresh()

    def action_head_only(self) -> None:
        self.frozen = set(GROUPS[:-1])
        self._refresh()

    def action_train_all(self) -> None:
        self.frozen = set()
        self._refresh()

    def action_data(self, step: int) -> None:
        i = PER_CLASS.index(self.per_class)
        self.per_class = PER_CLASS[max(0, min(len(PER_CLASS) - 1, i + step))]
        self._refresh()

    def action_lr(self, step: int) -> None:
        i = min(range(len(LRS)), key=lambda j: abs(LRS[j] - self.lr))
        self.lr = LRS[max(0, min(len(LRS) - 1, i + step))]
        self._refresh()

    def action_domain(self) -> None:
        names = list(SIMILARITY)
        self.similarity = names[(names.index(self.similarity) + 1) % len(names)]
        self._refresh()

    def action_backbone(self) -> None:
        self.backbone = "tiny" if self.backbone == "resnet50" else "resnet50"
        self._refresh()

    def action_code(self) -> None:
        self.toggle_class("-code")

    def action_write(self) -> None:
        self.query_one(CodeView).write()

    def on_focus(self) -> None:
        self._refresh()

    def on_blur(self) -> None:
        self._refresh()

    @work(group="board-run")
    async def action_run(self) -> None:
        try:
            config = self.config()
        except ConfigError as error:
            self.notify(str(error), severity="warning")
            return
        try:
            run = await self.app.link.start_run(config)
        except WorkerError as error:
            hint = " (press b for the tiny backbone, whose weights ship with tltui)" if self.backbone == "resnet50" else ""
            self.notify(f"{error}{hint}", title="freeze board", severity="error", timeout=10)
            return
        self.measured.append((run.run_id, self.backbone))
        self.app.progress.board_runs = [[run_id, backbone] for run_id, backbone in self.measured]
        self.app.save_progress()
        self._refresh()

    def on_worker_link_run_changed(self, message: WorkerLink.RunChanged) -> None:
        if any(run_id == message.run_id for run_id, _ in self.measured):
            self._refresh()

    def on_worker_link_changed(self, message: WorkerLink.Changed) -> None:
        self._refresh()


def _count(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.1f}K"
