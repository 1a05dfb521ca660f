"""Gradual unfreezing as a timeline: the six groups as rows, the epochs as columns.

A cursor picks a group and an epoch; enter makes the group join training at that epoch (epoch 1: it
trains from the start), ``x`` keeps it frozen for the whole run. The setting is a RunConfig's ``frozen``
and ``unfreeze``; ``check()`` says in one line when it cannot run, and ``r`` runs it for real.
"""

from __future__ import annotations

from typing import Any

import msgspec
from textual.app import ComposeResult
from textual.content import Content
from textual.widget import Widget
from textual.widgets import ContentSwitcher

from tltui.core.groups import BACKBONE, GROUPS
from tltui.core.protocol.config import RunConfig
from tltui.ui.keys import bindings, hint
from tltui.ui.lesson.config_widget import ConfigWidget

#: Rows top to bottom: the head first, as the groups thaw from the top.
ROWS: tuple[str, ...] = GROUPS[::-1]
MAX_EPOCHS = 12
#: The lesson's plan: the head alone, then layer4 from epoch 3, layer3 from epoch 5.
TIMELINE = RunConfig(data="builtin-shifted", limit_per_class=30, epochs=6, optimizer="sgd", lr=1e-2,
                     lr_decay=0.3, frozen=BACKBONE, unfreeze={"layer4": 3, "layer3": 5}, augment=(), seed=0)


def join_epoch(config: RunConfig, group: str) -> int | None:
    """The epoch ``group`` starts training (1: from the start), or None if it stays frozen."""
    if group not in config.frozen:
        return 1
    return config.unfreeze.get(group)


class Grid(Widget):
    """The timeline drawn from a config: a cell per group and epoch, filled where the group trains."""

    DEFAULT_CSS = """
    Grid { height: 7; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = TIMELINE
        self.cursor = (0, 1)
        """(row, epoch) of the cursor."""
        self.show_cursor = False

    def show(self, config: RunConfig, cursor: tuple[int, int], show_cursor: bool) -> None:
        self.config, self.cursor, self.show_cursor = config, cursor, show_cursor
        self.refresh()

    def render(self) -> Content:
        config = self.config
        lines = [Content.assemble(("group   ", "bold"), *(f"{e:^3} " for e in range(1, config.epochs + 1)),
                                  (" joins   LR", "bold"))]
        for row, group in enumerate(ROWS):
            joins = join_epoch(config, group)
            cells: list[Content | str | tuple[str, str]] = [(f"{group:<8}", "bold")]
            for epoch in range(1, config.epochs + 1):
                trains = group in config.trainable_at(epoch)
                style = "$success" if trains else "$text-muted"
                if self.show_cursor and (row, epoch) == self.cursor:
                    cells += [("[", "bold $accent"), ("█" if trains else "·", style), ("]", "bold $accent"), " "]
                else:
                    cells += [("███" if trains else " · ", style), " "]
            if joins is None:
                cells.append((" frozen", "$text-muted"))
            else:
                late = joins > config.epochs
                cells.append((f" epoch {joins:<2} {config.group_lr(group):.1e}", "$text-error" if late else ""))
            lines.append(Content.assemble(*cells))
        return Content("\n").join(lines)


class UnfreezeTimeline(ConfigWidget):
    """Which group joins at which epoch, edited with a cursor, shown as code, run for real."""

    HELP_TITLE = "Gradual unfreezing timeline"
    BINDINGS = bindings("UnfreezeTimeline")

    STEM = "unfreeze_timeline"
    KEEP_AS = "unfreeze-timeline"
    ANCHOR = "for epoch in range"

    def __init__(self, **_options: str) -> None:
        self.cursor = (ROWS.index("layer4"), 3)
        super().__init__(TIMELINE)

    def compose(self) -> ComposeResult:
        yield Grid()
        yield from self.status_lines()
        with ContentSwitcher():
            yield from self.views()

    def on_mount(self) -> None:
        self.border_title = "Gradual unfreezing timeline (real runs)"
        self.border_subtitle = hint(
            "{UnfreezeTimeline.group_up}{UnfreezeTimeline.group_down}{UnfreezeTimeline.earlier}"
            "{UnfreezeTimeline.later} · "
            "{UnfreezeTimeline.join_here} join · {UnfreezeTimeline.frozen_all_run} freeze · "
            "{UnfreezeTimeline.fewer_epochs} {UnfreezeTimeline.more_epochs} epochs · {ConfigWidget.view} view · "
            "{ConfigWidget.run} run · {ConfigWidget.save_code} save")

    def on_focus(self) -> None:
        self.query_one(Grid).show(self.config, self.cursor, True)  # has_focus turns true after this event

    def on_blur(self) -> None:
        self.query_one(Grid).show(self.config, self.cursor, False)

    @property
    def group(self) -> str:
        """The group under the cursor."""
        return ROWS[self.cursor[0]]

    def show_config(self) -> None:
        self.query_one(Grid).show(self.config, self.cursor, self.has_focus)

    def summary(self) -> str:
        plan = ", ".join(f"{e}:{g}" for g, e in sorted(self.config.unfreeze.items(), key=lambda item: item[1]))
        return hint(f"{self.config.epochs} epochs · unfreeze {plan or 'nothing'} · {{ConfigWidget.run}} runs it")

    def action_move(self, rows: int, epochs: int) -> None:
        row, epoch = self.cursor
        self.cursor = (min(max(row + rows, 0), len(ROWS) - 1), min(max(epoch + epochs, 1), self.config.epochs))
        self.show_config()

    def action_join(self) -> None:
        """The group under the cursor joins training at the cursor's epoch."""
        group, epoch = self.group, self.cursor[1]
        frozen = {*self.config.frozen}
        unfreeze = {g: e for g, e in self.config.unfreeze.items() if g != group}
        if epoch == 1:
            frozen.discard(group)
        else:
            frozen.add(group)
            unfreeze[group] = epoch
        self._plan(frozen, unfreeze)

    def action_freeze(self) -> None:
        """The group under the cursor stays frozen for the whole run."""
        unfreeze = {g: e for g, e in self.config.unfreeze.items() if g != self.group}
        self._plan({*self.config.frozen, self.group}, unfreeze)

    def action_epochs(self, step: int) -> None:
        epochs = min(max(self.config.epochs + step, 1), MAX_EPOCHS)
        self.cursor = (self.cursor[0], min(self.cursor[1], epochs))
        self.set_config(msgspec.structs.replace(self.config, epochs=epochs))

    def _plan(self, frozen: set[str], unfreeze: dict[str, int]) -> None:
        self.set_config(msgspec.structs.replace(
            self.config, frozen=tuple(g for g in GROUPS if g in frozen),
            unfreeze={g: unfreeze[g] for g in GROUPS if g in unfreeze},
        ))
