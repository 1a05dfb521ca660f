"""Pictures the worker computed, drawn with half blocks (rich-pixels: any terminal, over SSH too), and
the base of the lesson widgets that show them.

Nothing here computes a picture: the worker sends each one (``Picture``) with its caption.
"""

from __future__ import annotations

import math
from asyncio import CancelledError
from collections.abc import Awaitable
from typing import Any, TypeVar

from PIL import Image
from rich.console import Group
from rich.markup import escape
from rich.text import Text
from rich_pixels import Pixels
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Static
from textual.worker import Worker

from tltui.core.client import WorkerError
from tltui.core.protocol.replies import Picture
from tltui.core.protocol.requests import Request
from tltui.ui.base.frame import LiveFrame
from tltui.ui.keys import bindings, hint

R = TypeVar("R")


def to_image(picture: Picture, scale: int = 1) -> Image.Image:
    """The picture as a PIL image, each pixel repeated ``scale`` times each way."""
    image = Image.frombytes("RGB", (picture.width, picture.height), picture.rgb)
    if scale <= 1:
        return image
    return image.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST)


def tile(pictures: list[Picture], columns: int, scale: int = 1, gap: int = 1) -> Image.Image:
    """Pictures of one size in a grid, ``gap`` black pixels apart."""
    width, height = pictures[0].width * scale, pictures[0].height * scale
    rows = math.ceil(len(pictures) / columns)
    sheet = Image.new("RGB", (columns * (width + gap) - gap, rows * (height + gap) - gap))
    for i, picture in enumerate(pictures):
        sheet.paste(to_image(picture, scale), ((i % columns) * (width + gap), (i // columns) * (height + gap)))
    return sheet


class PictureView(Static):
    """One picture in half blocks with a caption line under it; blank until it has one."""

    DEFAULT_CSS = """
    PictureView { margin-right: 1; }
    """

    def __init__(self, width: int, height: int | None = None, caption_lines: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.styles.width = width
        self.styles.height = math.ceil((height or width) / 2) + caption_lines
        self.wrap = caption_lines > 1
        self.picture: Picture | None = None
        self.caption = ""
        self.image: Image.Image | None = None

    def show(self, image: Image.Image | None, caption: str, picture: Picture | None = None) -> None:
        """Draw ``image`` (None: blank) over ``caption``; ``picture`` is what it came from."""
        self.picture, self.caption, self.image = picture, caption, image
        text = Text(caption, no_wrap=not self.wrap, overflow="ellipsis", style="dim")
        self.update(Group(Pixels.from_image(image), text) if image else text)

    def show_picture(self, picture: Picture, side: int = 0) -> None:
        """Draw ``picture`` with its caption; with ``side``, resized to fit ``side`` pixels square."""
        image = to_image(picture)
        if side and image.size != (side, side):
            method = Image.Resampling.NEAREST if side > picture.width else Image.Resampling.BOX
            image = image.resize((side, side), method)
        self.show(image, picture.label, picture)


class PicturePanel(LiveFrame):
    """Base of a lesson widget that shows what the worker computes.

    Subclasses implement ``load`` (ask with ``ask``, then show the replies) and call ``reload`` when
    their inputs change; ``say`` writes the status line (``#status``, which they compose). A failed
    request leaves the last pictures with their own captions and says why in the status line; a reply
    that comes after the widget has gone is dropped. Those that compose ``data_row()`` and bind a key to
    ``data`` take the learner's own folder (that key, then enter; escape keeps the old one) into
    ``self.data``.
    """

    DEFAULT_CSS = """
    PicturePanel {
        height: auto;
        margin: 1 1;
        #status { height: 1; color: $text-muted; }
        #status.-error { color: $text-error; height: auto; }
        #data-row { height: 1; display: none; }
        &.-typing #data-row { display: block; }
        &.-typing #status { display: none; }
        #data-row Static { width: auto; color: $text-accent; }
        #data-row Input { width: 1fr; }
    }
    """

    BINDINGS = bindings("PicturePanel")

    def __init__(self, **_options: str) -> None:
        super().__init__()
        self.loaded = False
        """Whether the pictures the inputs ask for are shown."""
        self._loading: Worker | None = None
        self.data = "builtin"
        self.index = 0

    def data_row(self) -> ComposeResult:
        """The folder field, shown in place of the status line while the learner types."""
        with Horizontal(id="data-row"):
            yield Static("data (builtin or a folder): ")
            yield Input(self.data, compact=True, id="data")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool:
        return action != "typed" or self.has_class("-typing")

    def action_data(self) -> None:
        self.add_class("-typing")
        self.query_one("#data", Input).focus()

    def action_typed(self) -> None:
        self.screen.set_focus(self)  # now: the field it leaves must not have the focus when it hides
        self.remove_class("-typing")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.data = event.value.strip() or "builtin"
        self.index = 0
        self.action_typed()
        self.reload()

    def on_mount(self) -> None:
        """Textual calls this after the subclass's own ``on_mount``."""
        self.app.worker_signal.subscribe(self, self._worker_changed)
        self.reload()

    def _worker_changed(self, state: str) -> None:
        if state == "gone":
            self.loaded = False  # asked again when a new worker is ready
            self.say_gone()
        elif state == "ready" and not self.loaded and not self.requesting:
            self.reload()

    @property
    def requesting(self) -> bool:
        """Whether a request is on its way to the worker. (Not ``loading``: Textual's reactive of that name
        takes the keys and the focus from the widget.)"""
        return self._loading is not None and self._loading.is_running

    def say_gone(self) -> None:
        self.say(hint(f"The worker stopped: {self.app.link.error}. Press {{TutorApp.restart_worker}} to restart "
                      "it."), error=True)

    def say(self, text: str, error: bool = False) -> None:
        status = self.query_one("#status", Static)
        status.update(escape(text))
        status.set_class(error, "-error")

    def reload(self) -> None:
        """Ask the worker again (a request still on its way is dropped)."""
        self._loading = self._reload()

    @work(exclusive=True, group="pictures")
    async def _reload(self) -> None:
        link = self.app.link
        if link.state == "gone":
            self.say_gone()
            return
        waiting = "The worker is starting (it loads torch)" if link.state != "ready" else "The worker is computing"
        self.say(" · ".join(filter(None, (f"{waiting}…", self.describe()))))
        try:
            await self._alive(link.ready())
            await self.load()
        except WorkerError as error:  # refused, or a reply of another tltui version
            self.say(str(error), error=True)
        else:
            self.loaded = True

    async def load(self) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        """What is being asked for, shown while the worker computes it."""
        return ""

    async def ask(self, request: Request[R]) -> R:
        """``request``'s reply from the worker; WorkerError if refused."""
        return await self._alive(self.app.link.request(request))

    async def _alive(self, awaitable: Awaitable[R]) -> R:
        """What ``awaitable`` gives, while this widget lives; once it has gone (its children first), the
        loading ends there, cancelled, and draws nothing."""
        try:
            return await awaitable
        finally:
            if not self.is_running:
                raise CancelledError
