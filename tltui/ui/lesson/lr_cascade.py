"""The LR cascade: the head's LR and a per-group factor give every group its learning rate.

Keys move the two sliders (and freeze groups from the bottom); a bar chart on a log scale shows each
trainable group's LR, the code view the PyTorch optimizer with one param group per trainable group,
and ``r`` runs the setting for real.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec
from textual.app import ComposeResult
from textual.color import Color
from textual.content import Content
from textual.widget import Widget
from textual.widgets import ContentSwitcher
from textual_plotext import PlotextPlot

from tltui.core.codegen import span
from tltui.core.groups import GROUPS
from tltui.core.protocol.config import RunConfig
from tltui.ui.dialogs.lr_finder import LrFinderScreen
from tltui.ui.keys import bindings, hint
from tltui.ui.lesson.config_widget import ConfigWidget

#: The head's LR: 1, 2 and 5 per decade, 1e-5 to 1.
LRS: tuple[float, ...] = (*(float(f"{m}e{e}") for e in range(-5, 0) for m in (1, 2, 5)), 1.0)
#: The factor from one group to the one below it.
FACTORS: tuple[float, ...] = tuple(round(0.1 * k, 1) for k in range(1, 11))
#: What ``r`` runs: small and quick, every group trainable unless ``f`` freezes some.
CASCADE = RunConfig(data="builtin-shifted", limit_per_class=30, epochs=5, optimizer="sgd", lr=1e-2,
                    lr_decay=0.3, augment=(), seed=0)


def lr_text(lr: float) -> str:
    """``1e-2``, ``5e-4``, ``1``: the slider's steps, short."""
    mantissa, _, exponent = f"{lr:.0e}".partition("e")
    return mantissa if int(exponent) == 0 else f"{mantissa}e{int(exponent)}"


class Slider(Widget):
    """One row: a label, a track with a knob at ``index`` of ``count`` positions, and the value."""

    DEFAULT_CSS = """
    Slider { height: 1; }
    """

    def __init__(self, label: str, low: str, high: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.label, self.low, self.high = label, low, high
        self.index, self.count, self.value = 0, 2, ""

    def set(self, index: int, count: int, value: str) -> None:
        self.index, self.count, self.value = index, count, value
        self.refresh()

    def render(self) -> Content:
        track = max(self.size.width - 8 - len(self.low) - len(self.high) - 14, self.count)
        knob = round(self.index * (track - 1) / max(self.count - 1, 1))
        return Content.assemble(
            (f"{self.label:<8}", "bold"), f"{self.low} ",
            ("━" * knob, "$accent"), ("●", "bold $accent"), ("─" * (track - knob - 1), "$text-muted"),
            f" {self.high}  ", (f"{self.value:>9}", "bold"),
        )


class LrBars(PlotextPlot):
    """Each trainable group's LR as a bar on a log scale, stem to head; frozen groups get none."""

    DEFAULT_CSS = """
    LrBars { height: 1fr; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.values: dict[str, float] = {}
        """The LR drawn for each group that has a bar."""
        self.config: RunConfig | None = None

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, self._redraw)

    def _redraw(self, _theme: object) -> None:
        """The bars and labels take the theme's colours: draw them again in the new ones."""
        if self.config is not None:
            self.show(self.config)

    def _colour(self, variable: str) -> tuple[int, int, int]:
        return Color.parse(self.app.theme_variables[variable]).rgb

    def show(self, config: RunConfig) -> None:
        self.config = config
        self.values = {g: config.group_lr(g) for g in config.trainable_at(1)}
        plt = self.plt
        plt.clear_figure()
        logs = [math.log10(v) for v in self.values.values()]
        low, high = log_range(min(logs), max(logs))
        xs = [GROUPS.index(g) + 1 for g in self.values]
        plt.bar(xs, logs, minimum=low, width=0.5, color=self._colour("accent"))
        fg, bg = self._colour("foreground"), self._colour("surface")
        room = (high - low) / 8  # about one row of the chart
        for x, log in zip(xs, logs, strict=True):
            plt.text(f"{10 ** log:.1e}", x=x, y=min(log + room, high - room / 2), color=fg, background=bg,
                     alignment="center")
        for group in GROUPS:
            if group not in self.values:
                plt.text("frozen", x=GROUPS.index(group) + 1, y=low + room, style="italic", color=fg, background=bg,
                         alignment="center")
        ticks = log_ticks(low, high)
        plt.xticks([float(x) for x in range(1, len(GROUPS) + 1)], list(GROUPS))
        plt.yticks([math.log10(t) for t in ticks], [lr_text(t) for t in ticks])
        plt.xlim(0.4, len(GROUPS) + 0.6)
        plt.ylim(low, high)
        plt.title("LR per group (log scale)")
        self.refresh()


def log_range(lowest: float, highest: float) -> tuple[float, float]:
    """The y range (log10) that shows LRs from 10**lowest to 10**highest with their differences visible:
    the span itself plus a margin (room for the bars' labels), so a factor of 0.9 between neighbours is a
    row of difference on a 12-row chart."""
    span = max(highest - lowest, 0.2)
    return lowest - span * 0.5 - 0.1, highest + span * 0.3 + 0.1


def log_ticks(low: float, high: float) -> list[float]:
    """Powers of ten between 10**low and 10**high (also 2 and 5 times them over a short range), thinned
    to at most four (plotext puts each on its nearest row: more would crowd)."""
    mantissas = (1,) if high - low > 3 else (1, 2, 5)
    ticks = [m * 10.0 ** e for e in range(math.floor(low), math.ceil(high) + 1) for m in mantissas
             if low <= math.log10(m * 10.0 ** e) <= high]
    step = math.ceil(len(ticks) / 4) if ticks else 1
    return ticks[::step]


class LrCascade(ConfigWidget):
    """Base LR and factor on sliders, each group's LR as bars, the optimizer as code, a real run."""

    VIEW_HEIGHT = 14
    HELP_TITLE = "Learning-rate cascade"
    BINDINGS = bindings("LrCascade")

    VIEWS = ("bars", "code", "run")
    STEM = "lr_cascade"
    KEEP_AS = "lr-cascade"
    ANCHOR = "optimizer = torch.optim"

    def __init__(self, **_options: str) -> None:
        super().__init__(CASCADE)

    def compose(self) -> ComposeResult:
        yield Slider("base LR", lr_text(LRS[0]), lr_text(LRS[-1]), id="lr")
        yield Slider("factor", f"{FACTORS[0]:>4}", f"{FACTORS[-1]:<4}", id="factor")
        with ContentSwitcher():
            yield LrBars(id="bars")
            yield from self.views()
        yield from self.status_lines()

    def on_mount(self) -> None:
        self.border_title = "Learning-rate cascade (real runs)"
        # w (save the code) is listed by ?
        self.border_subtitle = hint(
            "{LrCascade.lower_lr}{LrCascade.higher_lr} LR {LrCascade.smaller_factor}{LrCascade.larger_factor} factor · "
            "{LrCascade.freeze_from_the_bottom} freeze · {LrCascade.find_lr} find LR · {ConfigWidget.view} view · "
            "{ConfigWidget.run} run · {ConfigWidget.cancel_run} cancel")

    def show_config(self) -> None:
        config = self.config
        self.query_one("#lr", Slider).set(LRS.index(config.lr), len(LRS), lr_text(config.lr))
        self.query_one("#factor", Slider).set(FACTORS.index(config.lr_decay), len(FACTORS), f"x {config.lr_decay}")
        self.query_one(LrBars).show(config)

    def summary(self) -> str:
        config = self.config
        trainable = config.trainable_at(1)
        bottom = trainable[0]
        frozen = f"frozen: {span(config.frozen)} · " if config.frozen else ""
        if bottom == "head":
            return f"{frozen}only the head trains"
        ratio = config.lr / config.group_lr(bottom)
        if round(ratio, 2) == 1:
            return f"{frozen}every trainable group at the same LR as the head"
        return f"{frozen}{bottom} moves {ratio:,.3g}x slower than the head"

    def action_lr(self, step: int) -> None:
        index = min(max(LRS.index(self.config.lr) + step, 0), len(LRS) - 1)
        self.set_config(msgspec.structs.replace(self.config, lr=LRS[index]))

    def action_factor(self, step: int) -> None:
        index = min(max(FACTORS.index(self.config.lr_decay) + step, 0), len(FACTORS) - 1)
        self.set_config(msgspec.structs.replace(self.config, lr_decay=FACTORS[index]))

    def action_find_lr(self) -> None:
        """The LR finder on this setting; its suggestion, if taken, moves the base LR to the nearest step."""
        self.app.push_screen(LrFinderScreen(self.config), self._take_lr)

    def _take_lr(self, lr: float | None) -> None:
        if lr is not None:
            nearest = min(LRS, key=lambda step: abs(math.log(step / lr)))
            self.set_config(msgspec.structs.replace(self.config, lr=nearest))
            self.notify(f"base LR {lr_text(nearest)}: the slider's step nearest the finder's {lr:.2g}", timeout=4)

    def action_freeze(self) -> None:
        """Freeze one more group from the bottom (stem first); after layer4, none again."""
        count = (len(self.config.frozen) + 1) % len(GROUPS)
        self.set_config(msgspec.structs.replace(self.config, frozen=GROUPS[:count]))
