"""What the groups see (lesson 2) and the feature-extraction walk (lesson 3), computed by the worker.

The pretrained backbone is ResNet-50 with ImageNet weights where the worker has them, else the tiny
backbone with its shipped weights; every picture is captioned with the backbone and weights it came from.
"""

from __future__ import annotations

import math

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from tltui.core.groups import BACKBONE
from tltui.core.protocol.replies import ActivationsReply, FiltersReply, WalkReply
from tltui.core.protocol.requests import Activations, FeatureWalk as WalkRequest, Filters
from tltui.ui.base import theme
from tltui.ui.base.pictures import PicturePanel, PictureView, tile
from tltui.ui.keys import bindings, hint

PAGE = 16
"""Filters shown at once: a 4x4 grid of each weights, side by side."""
GRID = 31
"""Side of a filter grid in pixels: four 7x7 filters and three gaps."""
CHANNELS = 2
MAP = 10
"""Side of an activation map, in pixels."""
BLOCKS = " ▁▂▃▄▅▆▇█"
PARTIAL = " ▏▎▍▌▋▊▉█"


def backbone(panel: PicturePanel) -> str:
    return panel.app.link.pretrained_backbone or "resnet50"


class LayerFeatures(PicturePanel):
    """``v`` switches between conv1's filters and activation maps; ``f`` shows the next filters, ``w``
    switches the maps between pretrained and random weights, ``i`` ``I`` step through images, ``d``
    takes them from a folder of your own."""

    DEFAULT_CSS = """
    LayerFeatures {
        Horizontal { height: auto; }
        #about { height: 1; }
        #filters PictureView { margin-right: 2; }
        #maps { display: none; height: auto; }
        #names { height: 2; }
        &.-maps #maps { display: block; }
        &.-maps #filters { display: none; }
        #groups { width: auto; height: auto; }
    }
    """

    HELP_TITLE = "What each group sees"
    BINDINGS = bindings("LayerFeatures")

    def __init__(self, **options: str) -> None:
        super().__init__(**options)
        self.page = 0
        self.random = False
        self.filters: dict[str, FiltersReply] = {}
        """Filter replies by weights ("pretrained", "none"): paging needs no new request."""

    def compose(self) -> ComposeResult:
        yield from self.data_row()
        yield Static(id="status")
        with Horizontal(id="filters"):
            yield PictureView(GRID, caption_lines=2, id="pretrained")
            yield PictureView(GRID, caption_lines=2, id="random")
        with Vertical(id="maps"):
            yield Static(id="about")
            with Horizontal():
                yield PictureView(16, id="image")
                with Vertical(id="groups"):
                    yield Static(id="names")
                    for row in range(CHANNELS):
                        with Horizontal():
                            for group in BACKBONE:
                                yield PictureView(MAP, id=f"map-{group}-{row}")

    #: The keys of each view, for the border (the caption matches the view shown).
    KEYS = {False: "{LayerFeatures.filters_maps} the maps · {LayerFeatures.more_filters} the next filters",
            True: "{LayerFeatures.filters_maps} the filters · {LayerFeatures.pretrained_random} pretrained/random · "
                  "{LayerFeatures.next_image}/{LayerFeatures.previous_image} image · "
                  "{LayerFeatures.your_folder} folder"}

    def on_mount(self) -> None:
        self.border_title = "What each group sees: computed by the worker from real weights"
        self.border_subtitle = hint(self.KEYS[False])

    @property
    def maps(self) -> bool:
        return self.has_class("-maps")

    def describe(self) -> str:
        if self.maps:
            return f"{'random' if self.random else 'pretrained'} weights, image {self.index + 1}"
        return "conv1's filters"

    async def load(self) -> None:
        model = backbone(self)
        pretrained = self.app.link.pretrained_backbone
        if self.maps:
            weights = "none" if self.random or not pretrained else "pretrained"
            reply = await self.ask(Activations(model=model, weights=weights, data=self.data,
                                   index=self.index, channels=CHANNELS, display=MAP))
            self.show_maps(reply)
            return
        for weights in ("pretrained", "none") if pretrained else ("none",):
            if weights not in self.filters:
                self.filters[weights] = await self.ask(Filters(model=model, weights=weights))
        self.show_filters()

    def show_filters(self) -> None:
        random = self.filters["none"]
        count, kernel = len(random.filters), random.kernel
        pages = math.ceil(count / PAGE)
        self.page %= pages
        first = self.page * PAGE
        scale = max(1, 7 // kernel)
        shown = f"{kernel}×{kernel} RGB" + (f" ×{scale}" if scale > 1 else "")
        self.say(f"{random.model} conv1 · filters {first + 1}-{min(first + PAGE, count)} of {count} · "
                 f"{shown}, each own min..max")
        for side, weights in (("pretrained", "pretrained"), ("random", "none")):
            view = self.query_one(f"#{side}", PictureView)
            reply = self.filters.get(weights)
            if reply is None:
                caps = self.app.link.capabilities  # None while a restarted worker starts
                where = f" ({caps.weights_dir})" if caps else ""
                view.show(None, f"No pretrained weights on this worker{where}: nothing to show but the random filters.")
            else:
                view.show(tile(reply.filters[first:first + PAGE], 4, scale), reply.weights)

    def show_maps(self, reply: ActivationsReply) -> None:
        self.index = reply.index
        self.say(f"{reply.source} · {reply.label} · {reply.image_size} px in")
        self.query_one("#about", Static).update(
            Text(f"{reply.model} · {reply.weights}", overflow="ellipsis", no_wrap=True))
        self.query_one("#image", PictureView).show_picture(reply.image, side=16)
        names, sizes = [], []
        for groups in reply.groups:
            names.append(f"{f'{groups.group} {groups.height}²':<{MAP + 1}}")
            sizes.append(f"{f'{groups.channels} ch':<{MAP + 1}}")
            for row, picture in enumerate(groups.maps):
                self.query_one(f"#map-{groups.group}-{row}", PictureView).show_picture(picture)
        self.query_one("#names", Static).update("".join(names) + "\n" + "".join(sizes))

    def _in_maps(self, key: str) -> bool:
        """Whether the maps are shown; if not, say that ``key`` works on them."""
        if not self.maps:
            self.say(f"{key} works on the activation maps: v shows them.")
        return self.maps

    def action_view(self) -> None:
        self.toggle_class("-maps")
        self.border_subtitle = hint(self.KEYS[self.maps])
        self.reload()

    def action_page(self) -> None:
        if self.maps:
            self.say("f pages conv1's filters: v shows them.")
        elif "none" not in self.filters:
            self.say("The filters are not here yet: the worker is computing them.")
        elif len(self.filters["none"].filters) <= PAGE:
            self.say(f"All {len(self.filters['none'].filters)} filters of this conv1 are shown: there is no next page.")
        else:
            self.page += 1
            self.show_filters()

    def action_weights(self) -> None:
        if self._in_maps("w"):
            self.random = not self.random
            self.reload()

    def action_step(self, step: int) -> None:
        if self._in_maps("i" if step > 0 else "I"):
            self.index += step
            self.reload()

    def action_data(self) -> None:
        if self._in_maps("d"):
            super().action_data()


class FeatureWalk(PicturePanel):
    """``i`` ``I`` step through the built-in validation images."""

    DEFAULT_CSS = """
    FeatureWalk {
        Horizontal { height: auto; }
        #features { width: 1fr; height: 9; }
        #scores { height: 6; }
    }
    """

    HELP_TITLE = "The feature-extraction walk"
    BINDINGS = bindings("FeatureWalk")

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        with Horizontal():
            yield PictureView(16, id="image")
            yield Static(id="features")
        yield Static(id="scores")

    def on_mount(self) -> None:
        self.border_title = "The feature-extraction walk, computed by the worker"
        self.border_subtitle = hint("{FeatureWalk.next_image} next image · {FeatureWalk.previous_image} previous")

    def describe(self) -> str:
        return f"image {self.index + 1} (the first time, the head is fitted too)"

    async def load(self) -> None:
        model = self.app.link.pretrained_backbone
        if not model:
            self.say("No pretrained weights on this worker: a frozen random backbone would show nothing.", error=True)
            return
        reply = await self.ask(WalkRequest(model=model, weights="pretrained", index=self.index,
                               display=16))
        self.index = reply.index
        self.say(f"{reply.source} · true class: {reply.label}")
        self.query_one("#image", PictureView).show_picture(reply.image)
        width = self.query_one("#features").size.width or 56
        strip, per = bar_strip(reply.features, width, style=theme.hex_style(self.app, "accent"))
        features = Text(f"↓ {reply.model}, {reply.weights}, frozen, average-pooled: {len(reply.features)} numbers\n")
        features.append_text(strip)
        features.append(f"\n{math.ceil(len(reply.features) / per)} bars, each the largest of {per}; "
                        f"tallest {max(reply.features):.2f}\n", style="dim")
        features.append(f"↓ head: {reply.head} (train {reply.train_acc:.0%}, validation {reply.val_acc:.0%})")
        self.query_one("#features", Static).update(features)
        self.query_one("#scores", Static).update(score_table(
            reply, styles=(theme.hex_style(self.app, "success"), theme.hex_style(self.app, "error"),
                           theme.hex_style(self.app, "secondary"))))

    def action_step(self, step: int) -> None:
        self.index += step
        self.reload()


def bar_strip(values: list[float], width: int, rows: int = 3, style: str = "") -> tuple[Text, int]:
    """``values`` as at most ``width`` bars ``rows`` high, each the largest of ``per`` values; (text, per)."""
    per = math.ceil(len(values) / width)
    bars = [max(values[i:i + per]) for i in range(0, len(values), per)]
    top = max(max(bars), 1e-9)
    eighths = [round(max(b, 0) / top * rows * 8) for b in bars]
    lines = []
    for row in range(rows - 1, -1, -1):
        lines.append("".join(BLOCKS[min(8, max(0, e - row * 8))] for e in eighths))
    return Text("\n".join(lines), style=style), per


def score_table(reply: WalkReply, columns: int = 2, bar: int = 18, styles: tuple[str, str, str] = ("", "", "")) -> Text:
    """What the head predicts, right or wrong against the true class, then its class scores, one bar each, in
    ``columns`` columns: the predicted class marked ✓ if it is the true one, else ✗ (its bar in the first or
    the second of ``styles``, the others in the third)."""
    best = max(range(len(reply.scores)), key=reply.scores.__getitem__)
    right = reply.classes[best] == reply.label
    predicted = f"↓ the head predicts {reply.classes[best]} ({reply.scores[best]:.0%}): "
    text = Text(predicted + ("right ✓\n" if right else f"wrong ✗, the true class is {reply.label}\n"))
    rows = math.ceil(len(reply.classes) / columns)
    for r in range(rows):
        for c in range(columns):
            i = c * rows + r
            if i >= len(reply.classes):
                continue
            eighths = round(reply.scores[i] * bar * 8)
            drawn = "█" * (eighths // 8) + (PARTIAL[eighths % 8] if eighths % 8 else "")
            mark = (" ", "✓" if right else "✗")[i == best]
            text.append(f"{mark}{reply.classes[i]:<10}", style="bold" if i == best else "")
            text.append(f"{drawn:<{bar}}", style=styles[0 if right else 1] if i == best else styles[2])
            text.append(f"{reply.scores[i]:>5.0%}  ")
        text.append("\n")
    text.rstrip()
    return text
