"""The freeze board: the six groups to freeze or train, what that costs, a predicted accuracy, and a
key that runs the setting for real (the measured point joins the prediction on the chart).

The built-in backbones' costs come from core/costs.py; a timm model's (one whose weights the worker has)
from the worker's DescribeBackbone, which also says which of the model's modules each group holds."""

from __future__ import annotations

import textwrap
from collections.abc import Collection

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import var
from textual.widgets import Static
from textual_plotext import PlotextPlot

from tltui.core.backbones import BackboneInfo, is_timm
from tltui.core.client import WorkerError
from tltui.core.costs import GroupCost, model_costs, step_cost
from tltui.core.formatting import si, ui_words
from tltui.core.groups import GROUPS
from tltui.core.prediction import RULE, SIMILARITY, predict
from tltui.core.presets import configure
from tltui.core.protocol.config import ConfigError, RunConfig
from tltui.core.protocol.requests import DescribeBackbone
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
#: What each built-in backbone was pretrained on, in a word (a timm model's tag says it in its name).
SOURCE = {"resnet50": "ImageNet", "tiny": "fractals"}
CONTROLS_WIDTH = 72
"""The controls line's width at 80 columns, until the board has its size."""
HOLDS_AT = 17
"""The column where a timm group's modules start (after the cursor, group, state and params)."""
HOLDS_WIDTH = 38 - HOLDS_AT
"""What is left of the groups' 38 columns (see DEFAULT_CSS) for the modules, wrapped at commas."""


class FreezeBoard(RunOwner, LiveFrame):
    """Keys: up/down choose a group, space freezes or unfreezes it, h head only, a all, [ ] data,
    - + learning rate, d domain, b backbone (the built-in two, then each timm model whose weights the worker
    has), v the setting as PyTorch code (w writes it), enter runs it for real."""

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
        self.described: dict[str, BackboneInfo | str] = {}
        """Per timm model asked about: the worker's description, or why it gave none ('' while asking)."""

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
        """A new worker may describe what the last one could not."""
        self.described = {m: d for m, d in self.described.items() if not isinstance(d, str) or not d}
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
    def info(self) -> BackboneInfo | None:
        """The worker's description of the chosen timm backbone (None until it has answered)."""
        described = self.described.get(self.backbone)
        return described if isinstance(described, BackboneInfo) else None

    @property
    def image_size(self) -> int:
        """The built-in backbone's side; a timm model's own (0 until the worker has described it)."""
        if is_timm(self.backbone):
            return self.info.preprocessing.image_size if self.info else 0
        return BACKBONES[self.backbone]

    @work(group="board-describe")
    async def _describe(self, model: str) -> None:
        """Ask the worker for ``model``'s six groups, then draw them (or why it could not say)."""
        self.described[model] = ""
        try:
            self.described[model] = await self.app.link.request(DescribeBackbone(model=model))
        except WorkerError as error:
            self.described[model] = f"The worker could not describe {model}: {error}"
        self._refresh()

    def config(self) -> RunConfig:
        """The run this board describes (ConfigError if it cannot run)."""
        return configure(
            data="builtin" if self.similarity == "similar" else "builtin-shifted",
            model=self.backbone, weights="pretrained", frozen=tuple(g for g in GROUPS if g in self.frozen),
            lr=self.lr, lr_decay=1.0, epochs=EPOCHS, image_size=self.image_size, augment=(),
            limit_per_class=self.per_class if self.per_class < 100 else 0,
        )

    def _costs(self) -> dict[str, GroupCost] | None:
        """Each group's parameters and MACs per image; None while a timm model's are not known yet."""
        if not is_timm(self.backbone):
            return model_costs(self.backbone, self.image_size, CLASSES)
        info = self.info
        return {g.name: GroupCost(g.params, g.macs) for g in info.groups} if info else None

    def _predicted(self, costs: dict[str, GroupCost], trainable: set[str]) -> float:
        share = sum(costs[g].params for g in trainable) / sum(c.params for c in costs.values())
        return predict(trainable, self.per_class, self.similarity, self.lr, CLASSES, share)

    # -- drawing ---------------------------------------------------------------------------------

    def _refresh(self) -> None:
        costs = self._costs()
        model = self.backbone
        if costs is None and model not in self.described:
            self._describe(model)
        groups = self.query_one("#groups", Static)
        if costs is None:
            why = self.described.get(model)
            groups.update(why if isinstance(why, str) and why else f"asking the worker for {model}'s six groups…")
            self.query_one("#totals", Static).update("")
        else:
            groups.update(self._groups(costs))
            step = step_cost(costs, self.trainable)
            self.query_one("#totals", Static).update(
                f"trains {si(step.trainable_params)} · per image {si(step.forward_gflops * 1e9, 'FLOP')} fwd + "
                f"{si(step.backward_gflops * 1e9, 'FLOP')} bwd · optim {step.optimizer_mb:.1f} MB"
            )
        source = f" · {SOURCE[model]}" if model in SOURCE else ""
        size = f"{self.image_size}px" if self.image_size else "its own px"
        rest = f"{source} · {size} · {self.per_class}/class · lr {self.lr:.0e} · {self.similarity}"
        controls = self.query_one("#controls", Static)
        room = (controls.content_size.width or CONTROLS_WIDTH) - len(rest)
        name = model if len(model) <= room else model[:max(1, room - 1)] + "…"  # a long timm name gives way
        controls.update(name + rest)
        self._measured_line()
        self._draw_chart(costs)
        try:
            self.query_one(CodeView).show(self.config())
        except ConfigError as error:
            self.query_one(CodeView).show(RunConfig(), problem=ui_words(str(error)))

    def _groups(self, costs: dict[str, GroupCost]) -> Text:
        """The six groups' states and costs; for a timm model, params and the modules each holds."""
        cool, warm = theme.hex_style(self.app, "primary"), theme.hex_style(self.app, "warning")
        info = self.info if is_timm(self.backbone) else None
        board = Text()
        if info:
            board.append(f"{'group':<8}{'':<2}{'params':>6} holds\n", "dim")
        else:
            board.append(f"{'group':<8}{'state':<10}{'params':>8}{'MAC/img':>9}\n", "dim")
        for i, group in enumerate(GROUPS):
            frozen = group in self.frozen
            style = "reverse" if i == self.cursor and self.has_focus else ""
            board.append(f"{'▶' if i == self.cursor else ' '}{group:<7}", style)
            if info is None:
                board.append(f"{'❄ frozen' if frozen else '✎ trains':<10}", cool if frozen else warm)
                board.append(f"{si(costs[group].params):>8}{si(costs[group].macs):>9}\n")
                continue
            board.append("❄ " if frozen else "✎ ", cool if frozen else warm)
            holds = textwrap.wrap(info.groups[i].holds, HOLDS_WIDTH, break_on_hyphens=False) or [""]
            board.append(f"{si(costs[group].params):>6} {holds[0]}\n")
            for more in holds[1:]:
                board.append(f"{'':<{HOLDS_AT}}{more}\n")
        return board

    def _draw_chart(self, costs: dict[str, GroupCost] | None) -> None:
        plot = self.query_one(PlotextPlot)
        plt = plot.plt
        plt.clear_figure()
        if costs is None:
            plt.title(f"accuracy vs cost: waiting for {self.backbone}'s groups")
            plot.refresh()
            return
        xs, ys = [], []
        for k in range(1, len(GROUPS) + 1):  # train the top k groups
            trainable = set(GROUPS[-k:])
            xs.append(step_cost(costs, trainable).total_gflops)
            ys.append(self._predicted(costs, trainable))
        scale, unit = (1, "GFLOP") if max(xs) >= 1 else (1e3, "MFLOP")
        plt.plot([x * scale for x in xs], ys, color=theme.rgb(self.app, "foreground-darken-2"), marker="dot",
                 label="predicted, top k groups train")
        here = step_cost(costs, self.trainable).total_gflops * scale
        plt.scatter([here], [self._predicted(costs, self.trainable)], color=theme.rgb(self.app, "warning"), marker="x",
                    label="this setting (predicted)")
        points = self._measured_points(costs)
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

    def _measured_points(self, costs: dict[str, GroupCost] | None) -> list[tuple[float, float]]:
        """(GFLOP per training image, best validation accuracy) of the runs of this setting's data, LR
        and backbone: only what is frozen varies along the chart."""
        points: list[tuple[float, float]] = []
        if costs is None:
            return points
        for run in self.owned_runs():
            config, best = run.config, run.best
            if config is None or best is None or not self._same_setting(run, frozen_too=False):
                continue
            trainable = set(config.trainable_at(config.epochs))
            points.append((step_cost(costs, trainable).total_gflops, best.val_acc))
        return points

    def _measured_line(self) -> None:
        self.query_one(StatusLine).say(self._measured(), bool(self.note) and not self.note.startswith("Wrote"))

    def _measured(self) -> str:
        """What was measured of this setting, or the answer to the last key that did nothing."""
        if self.note:
            return self.note
        here = [run for run in self.owned_runs() if self._same_setting(run, frozen_too=True)]
        others = len(self._measured_points(self._costs())) - sum(1 for run in here if run.best is not None)
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
        """The next backbone: the built-in two, then each timm model whose weights the worker has."""
        offered = backbones.offered(self.app.link)
        here = offered.index(self.backbone) if self.backbone in offered else -1
        self.model = offered[(here + 1) % len(offered)]

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
        if self._costs() is None:
            self.say(f"The worker has not described {self.backbone} yet: enter again once its groups show")
            return
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

