"""The freeze board: the six groups to freeze or train, what that costs, a predicted accuracy, and a
key that runs the setting for real (the measured point joins the prediction on the chart)."""

from __future__ import annotations

from collections.abc import Collection

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import var
from textual.widgets import Static
from textual_plotext import PlotextPlot

from tltui.core.client import WorkerError
from tltui.core.costs import GroupCost, model_costs, step_cost
from tltui.core.formatting import si, ui_words
from tltui.core.groups import GROUPS
from tltui.core.prediction import RULE, SIMILARITY, predict
from tltui.core.presets import configure
from tltui.core.protocol.config import ConfigError, RunConfig
from tltui.ui.base import backbones, theme
from tltui.ui.base.frame import LiveFrame, StatusLine
from tltui.ui.base.run_owner import RunOwner
from tltui.ui.keys import bindings, hint
from tltui.ui.run_model import RunModel
from tltui.ui.widgets.code_view import CodeView

PER_CLASS = (5, 10, 20, 50, 100, 1000)
LRS = tuple(round(10 ** (e / 3), 8) for e in range(-15, 1))  # 1e-5 .. 1, a third of a decade apart
CLASSES = 10
#: The board's real runs: the built-in sets (similar domain: builtin; otherwise: builtin-shifted),
#: no augmentation (so frozen groups are computed once), a few epochs.
EPOCHS = 5
BACKBONES = {"resnet50": 224, "tiny": 32}
#: What each backbone was pretrained on, in a word.
SOURCE = {"resnet50": "ImageNet", "tiny": "fractals"}


class FreezeBoard(RunOwner, LiveFrame):
    """Keys: up/down choose a group, space freezes or unfreezes it, h head only, a all, [ ] data,
    - + learning rate, d domain, b backbone, v the setting as PyTorch code (w writes it), enter runs
    it for real."""

    DEFAULT_CSS = """
    FreezeBoard {
        height: 21;
        #board-top { height: 11; }
        #groups { width: 40; padding: 0 1; }
        PlotextPlot, CodeView { width: 1fr; }
        CodeView { display: none; overflow-x: auto; }
        &.-code CodeView { display: block; }
        &.-code PlotextPlot, &.-code #groups { display: none; }
        #totals, #controls { height: 1; padding: 0 1; }
        #rule { height: 3; padding: 0 1; color: $text-muted; }
        StatusLine { color: $foreground; }
        #measured { height: 2; padding: 0 1; }
    }
    """

    HELP_TITLE = "Freeze board"
    BINDINGS = bindings("FreezeBoard")

    frozen: var[frozenset[str]] = var(frozenset(GROUPS[:-1]))
    cursor: var[int] = var(len(GROUPS) - 1)
    per_class: var[int] = var(20)
    lr: var[float] = var(1e-2)
    similarity: var[str] = var("similar")
    model: var[str] = var("")
    """The learner's backbone (b); '' follows the worker's pretrained one."""

    def __init__(self, **_options: str) -> None:
        super().__init__()
        self.measured: list[tuple[str, str]] = []
        """(run id, backbone) of the runs started from this board."""
        self.note = ""
        """Why the last enter started nothing, until the setting changes."""

    def compose(self) -> ComposeResult:
        with Horizontal(id="board-top"):
            yield Static(id="groups")
            yield PlotextPlot()
            yield CodeView("freeze_board", anchor="optimizer = ")
        yield Static(id="totals")
        yield Static(id="controls")
        yield StatusLine(id="measured")
        yield Static(f"chart: • predicted (top groups train) x this setting o measured · {RULE}", id="rule")

    def on_mount(self) -> None:
        self.border_title = "Freeze board"
        self.border_subtitle = hint(
            "{FreezeBoard.group_up}{FreezeBoard.group_down} {FreezeBoard.freeze_train} {FreezeBoard.head_only} "
            "{FreezeBoard.train_all} · {FreezeBoard.less_data} {FreezeBoard.more_data} data · "
            "{FreezeBoard.lower_lr} {FreezeBoard.higher_lr} lr · {FreezeBoard.domain} · {FreezeBoard.backbone} · "
            "{FreezeBoard.code_chart} code · "
            "{FreezeBoard.write_code} · {FreezeBoard.run_it} run")
        self.measured = [(run_id, backbone) for run_id, backbone in self.app.progress.board_runs]
        for setting in ("frozen", "per_class", "lr", "similarity", "model"):
            self.watch(self, setting, self._setting_changed, init=False)
        self.watch(self, "cursor", self._refresh, init=False)
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._refresh())
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

    def run_ids(self) -> Collection[str]:
        return [run_id for run_id, _ in self.measured]

    def worker_changed(self) -> None:
        self._refresh()

    def runs_changed(self) -> None:
        self._refresh()

    # -- the setting ---------------------------------------------------------------------------

    @property
    def trainable(self) -> set[str]:
        return set(GROUPS) - self.frozen

    @property
    def backbone(self) -> str:
        return backbones.chosen(self.app.link, self.model)

    def _setting_changed(self) -> None:
        """A refusal was about the old setting: forget it, and draw the new one."""
        self.note = ""
        self._refresh()

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

    def _costs(self) -> dict[str, GroupCost]:
        return model_costs(self.backbone, self.image_size, CLASSES)

    def _predicted(self, trainable: set[str]) -> float:
        costs = self._costs()
        share = sum(costs[g].params for g in trainable) / sum(c.params for c in costs.values())
        return predict(trainable, self.per_class, self.similarity, self.lr, CLASSES, share)

    # -- drawing ---------------------------------------------------------------------------------

    def _refresh(self) -> None:
        costs = self._costs()
        step = step_cost(costs, self.trainable)
        cool, warm = theme.hex_style(self.app, "primary"), theme.hex_style(self.app, "warning")
        board = Text()
        board.append(f"{'group':<8}{'state':<10}{'params':>8}{'MAC/img':>9}\n", "dim")
        for i, group in enumerate(GROUPS):
            frozen = group in self.frozen
            style = "reverse" if i == self.cursor and self.has_focus else ""
            board.append(f"{'▶' if i == self.cursor else ' '}{group:<7}", style)
            board.append(f"{'❄ frozen' if frozen else '✎ trains':<10}", cool if frozen else warm)
            board.append(f"{si(costs[group].params):>8}{si(costs[group].macs):>9}\n")
        self.query_one("#groups", Static).update(board)
        self.query_one("#totals", Static).update(
            f"trains {si(step.trainable_params)} · per image {si(step.forward_gflops * 1e9, 'FLOP')} fwd + "
            f"{si(step.backward_gflops * 1e9, 'FLOP')} bwd · optim {step.optimizer_mb:.1f} MB"
        )
        self.query_one("#controls", Static).update(
            f"{self.backbone} · {SOURCE[self.backbone]} · {self.image_size}px · {self.per_class}/class · "
            f"lr {self.lr:.0e} · {self.similarity}"
        )
        self._measured_line()
        self._draw_chart()
        try:
            self.query_one(CodeView).show(self.config())
        except ConfigError as error:
            self.query_one(CodeView).show(RunConfig(), problem=ui_words(str(error)))

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
        scale, unit = (1, "GFLOP") if max(xs) >= 1 else (1e3, "MFLOP")
        plt.plot([x * scale for x in xs], ys, color=theme.rgb(self.app, "foreground-darken-2"), marker="dot",
                 label="predicted, top k groups train")
        here = step_cost(costs, self.trainable).total_gflops * scale
        plt.scatter([here], [self._predicted(self.trainable)], color=theme.rgb(self.app, "warning"), marker="x",
                    label="this setting (predicted)")
        points = self._measured_points()
        if points:
            plt.scatter([x * scale for x, _ in points], [y for _, y in points], color=theme.rgb(self.app, "accent"),
                        marker="o",
                        label="measured")
        plt.ylim(0, 1)
        plt.yticks([0, 0.5, 1], ["0%", "50%", "100%"])  # a short chart would skip some of plotext's own
        low, high = min(xs) * scale, max(xs) * scale
        ticks = [low + (high - low) * i / 3 for i in range(4)]
        plt.xticks(ticks, [f"{t:.3g}" for t in ticks])  # labels that fit under their ticks, any unit
        plt.xlabel(f"{unit} per training image")
        plt.title("accuracy vs cost")
        plot.refresh()

    def _same_setting(self, run: RunModel, frozen_too: bool) -> bool:
        """Whether ``run`` was started from this board's current setting (other than what is frozen,
        unless ``frozen_too``)."""
        if run.config is None:
            return False
        mine = self.config()
        fields = ("model", "data", "lr", "limit_per_class", "image_size") + (("frozen",) if frozen_too else ())
        return all(getattr(run.config, f) == getattr(mine, f) for f in fields)

    def _measured_points(self) -> list[tuple[float, float]]:
        """(GFLOP per training image, best validation accuracy) of the runs of this setting's data, LR
        and backbone: only what is frozen varies along the chart."""
        points = []
        for run in self.owned_runs():
            config, best = run.config, run.best
            if config is None or best is None or not self._same_setting(run, frozen_too=False):
                continue
            trainable = set(config.trainable_at(config.epochs))
            points.append((step_cost(self._costs(), trainable).total_gflops, best.val_acc))
        return points

    def _measured_line(self) -> None:
        self.query_one(StatusLine).say(self._measured(), bool(self.note) and not self.note.startswith("Wrote"))

    def _measured(self) -> str:
        """What was measured of this setting, or the answer to the last key that did nothing."""
        if self.note:
            return self.note
        here = [run for run in self.owned_runs() if self._same_setting(run, frozen_too=True)]
        others = len(self._measured_points()) - sum(1 for run in here if run.best is not None)
        more = f" · {others} measured point{'s' * (others != 1)} of other freezes on the chart" if others else ""
        if not here:
            return hint(f"not measured for this setting yet: {{FreezeBoard.run_it}} runs it for real{more}")
        run = here[-1]
        if run.running:
            state = f"epoch {run.epochs[-1].epoch}/{run.config.epochs}" if run.epochs and run.config else "starting…"
            return f"measuring this setting: {state}{more}"
        best = f", best val acc {run.best.val_acc:.0%}" if run.best else ""
        return f"measured for this setting: {run.status}{best} (run {run.run_id}){more}"

    # -- keys ------------------------------------------------------------------------------------

    def action_move(self, step: int) -> None:
        self.cursor = (self.cursor + step) % len(GROUPS)

    def action_toggle(self) -> None:  # type: ignore[override]  # replaces Textual's toggle(attribute)
        self.frozen ^= {GROUPS[self.cursor]}

    def action_head_only(self) -> None:
        self.frozen = frozenset(GROUPS[:-1])

    def action_train_all(self) -> None:
        self.frozen = frozenset()

    def action_data(self, step: int) -> None:
        i = PER_CLASS.index(self.per_class)
        self.per_class = PER_CLASS[max(0, min(len(PER_CLASS) - 1, i + step))]

    def action_lr(self, step: int) -> None:
        i = min(range(len(LRS)), key=lambda j: abs(LRS[j] - self.lr))
        self.lr = LRS[max(0, min(len(LRS) - 1, i + step))]

    def action_domain(self) -> None:
        names = list(SIMILARITY)
        self.similarity = names[(names.index(self.similarity) + 1) % len(names)]

    def action_backbone(self) -> None:
        self.model = backbones.other(self.backbone)

    def action_code(self) -> None:
        self.toggle_class("-code")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool:
        """The page keys scroll the code while it is shown; else they go on to the lesson."""
        return action != "scroll_code" or self.has_class("-code")

    def action_scroll_code(self, pages: int) -> None:
        self.query_one(CodeView).page(pages)

    def action_write(self) -> None:
        self.say(self.query_one(CodeView).write())

    def say(self, note: str) -> None:
        self.note = ui_words(note)
        self._measured_line()

    def on_focus(self) -> None:
        self.call_after_refresh(self._refresh)  # has_focus turns true after this event

    def on_blur(self) -> None:
        self.call_after_refresh(self._refresh)

    @work(group="board-run")
    async def action_run(self) -> None:
        try:
            config = self.config()
        except ConfigError as error:
            self.say(str(error))
            return
        if not await self.ready():
            return
        run = await self.start_pretrained(config)
        if run is None:
            return
        self.note = ""
        self.measured.append((run.run_id, self.backbone))
        self.app.progress.board_runs = [[run_id, backbone] for run_id, backbone in self.measured]
        self.app.save_progress()
        self._refresh()

