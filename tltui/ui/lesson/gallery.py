"""The augmentation gallery: one training image and its variants, made by the worker with the very
transforms a run uses (``engine.augment.BatchTransform``), each transform switchable by a key; its
ImageNet normalisation in numbers and as a picture; and a "6" flipped upside down, which no run does.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from tltui.core.protocol.config import AUGMENTS
from tltui.core.protocol.requests import Gallery
from tltui.ui.base.pictures import PicturePanel, PictureView
from tltui.ui.keys import bindings, hint

SIDE = 16
"""Side of every picture, in pixels (8 rows of text)."""
IMAGE_SIZE = 64
"""The network's input side the transforms produce: a ResNet-50 run's default on the CPU."""
VARIANTS = 3
NAMES = {"crop": "crop", "flip": "flip", "color": "colour"}


class AugmentGallery(PicturePanel):
    """``c`` ``f`` ``o`` switch crop, flip and colour jitter, ``r`` draws new variants, ``i`` ``I`` step
    through the training images, ``d`` takes a folder of your own."""

    DEFAULT_CSS = """
    AugmentGallery {
        Horizontal { height: auto; }
        #stats { width: 20; height: 9; margin-right: 1; }
        PictureView:last-child { margin-right: 0; }
    }
    """

    HELP_TITLE = "Augmentation gallery"
    BINDINGS = bindings("AugmentGallery")

    def __init__(self, **options: str) -> None:
        super().__init__(**options)
        self.augment: tuple[str, ...] = AUGMENTS
        self.seed = 0

    def compose(self) -> ComposeResult:
        yield from self.data_row()
        yield Static(id="status")
        with Horizontal():
            yield PictureView(SIDE, id="original")
            for i in range(VARIANTS):
                yield PictureView(SIDE, id=f"variant-{i}")
        with Horizontal():
            yield PictureView(SIDE, id="normalised")
            yield Static(id="stats")
            yield PictureView(SIDE, id="digit")
            yield PictureView(SIDE, id="digit-flipped")

    def on_mount(self) -> None:
        self.border_title = "Augmentation gallery: the training transforms, run by the worker"
        self.border_subtitle = hint(
            "{AugmentGallery.crop} crop · {AugmentGallery.flip} flip · {AugmentGallery.colour} colour · "
            "{AugmentGallery.new_variants} again · {AugmentGallery.next_image}/{AugmentGallery.previous_image} image · "
            "{AugmentGallery.your_folder} folder")

    def transforms(self) -> str:
        """The switches as shown: ``crop ✓ flip ✓ colour ✗``."""
        return " ".join(f"{NAMES[a]} {'✓' if a in self.augment else '✗'}" for a in AUGMENTS)

    async def load(self) -> None:
        reply = await self.ask(Gallery(data=self.data, index=self.index, augment=self.augment,
                               image_size=IMAGE_SIZE, count=VARIANTS, seed=self.seed, display=SIDE))
        self.index = reply.index
        self.say(f"{reply.source} · {reply.label} · {self.transforms()}")
        self.query_one("#original", PictureView).show_picture(reply.original)
        for i, variant in enumerate(reply.variants):
            self.query_one(f"#variant-{i}", PictureView).show_picture(variant)
        self.query_one("#normalised", PictureView).show_picture(reply.normalised)
        self.query_one("#digit", PictureView).show_picture(reply.digit)
        self.query_one("#digit-flipped", PictureView).show_picture(reply.digit_flipped)
        rows = ["[b]ImageNet Normalize[/]", "      R     G     B"]
        for title, stats in (("before, 0..1:", reply.before), ("after, (x-mean)/std:", reply.after)):
            rows.append(f"[dim]{title}[/]")
            rows.append("μ " + "".join(f"{v:6.2f}" for v in stats.mean))
            rows.append("σ " + "".join(f"{v:6.2f}" for v in stats.std))
        rows.append(f"[dim]{reply.image_size} px in, {SIDE} shown[/]")
        self.query_one("#stats", Static).update("\n".join(rows))

    def action_toggle(self, name: str) -> None:  # type: ignore[override]  # replaces Textual's toggle(attribute)
        self.augment = tuple(a for a in AUGMENTS if (a in self.augment) != (a == name))
        self.reload()

    def action_again(self) -> None:
        self.seed += 1
        self.reload()

    def action_step(self, step: int) -> None:
        self.index += step
        self.reload()

    def describe(self) -> str:
        return self.transforms()
