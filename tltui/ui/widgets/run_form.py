"""The form that describes a run: dataset, backbone and weights, what is frozen, LRs, epochs, data, the
global batch and the processes that share it (``--nproc``).

The focused field's label carries a ``▶`` and is drawn reversed, so it shows in any terminal, colours or
none; a field whose value cannot run is marked ``✗`` with the reason on the form's last line. Enter moves
to the next field (on the last, and on Start, it starts the run); ``s`` starts it from anywhere else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from textual import events
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal
from textual.content import Content
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, Static

from tltui.core import backbones
from tltui.core.formatting import ui_words
from tltui.core.parsing import parse_setting
from tltui.core.presets import PRESETS, configure
from tltui.core.protocol.config import MODELS, ConfigError, RunConfig
from tltui.ui.base.backbones import cached_timm
from tltui.ui.keys import field_key, hint

if TYPE_CHECKING:
    from tltui.ui.host import Tutor

#: (field, label, placeholder): text inputs, in form order; each is parsed by ``_parse``.
FIELDS: list[tuple[str, str, str]] = [
    ("data", "data", "builtin, builtin-shifted or a folder"),
    ("weights", "weights", "pretrained, none or a file"),
    ("frozen", "freeze", "e.g. stem,layer1 or none"),
    ("unfreeze", "unfreeze", "e.g. 2:layer4,4:layer3"),
    ("head_first", "head first", "no; yes: probe, then tune"),
    ("lr", "lr (head)", f"{RunConfig().lr:g}"),
    ("lr_decay", "lr decay", "1"),
    ("epochs", "epochs", "5"),
    ("image_size", "image px", "auto"),
    ("augment", "augment", "crop,flip,color or none"),
    ("limit_per_class", "per class", "all"),
    ("batch_size", "batch", "32 (global)"),
    ("nproc", "processes", "1, N or all GPUs"),
]


def form_hint() -> str:
    """The form's last line when all is well, with the keys the keymap gives (Start's that works in a field)."""
    start = field_key("TrainScreen.start")
    run = f"{start} or Start: run it" if start else "Start: run it"
    return hint(f"enter: next field · {run} · {{TrainScreen.back}}: to the run")


HINT = form_hint()
LABELS = {"model": "model", "preset": "preset", **{name: label for name, label, _ in FIELDS}}
#: Command-line flags whose form field has another name.
_FLAG_FIELDS = {"freeze": "frozen", "weights": "weights"}
_FLAG = re.compile(r"--([a-z][a-z-]*)")


def texts(c: RunConfig) -> dict[str, str]:
    """Each text field's text for config ``c``."""
    return {
        "data": c.data, "weights": c.weights, "frozen": ",".join(c.frozen),
        "unfreeze": ",".join(f"{e}:{g}" for g, e in c.unfreeze.items()), "head_first": "yes" if c.head_first else "",
        "lr": f"{c.lr:g}",
        "lr_decay": f"{c.lr_decay:g}", "epochs": str(c.epochs), "image_size": str(c.image_size or ""),
        "augment": ",".join(c.augment) or "none", "limit_per_class": str(c.limit_per_class or ""),
        "batch_size": str(c.batch_size), "nproc": "all" if c.nproc == 0 else str(c.nproc) if c.nproc > 1 else "",
    }


def field_of(reason: str) -> str:
    """The form field a one-line ConfigError is about ('' if it names none)."""
    match = _FLAG.search(reason)
    if not match:
        return "frozen" if "would train" in reason else ""
    name = _FLAG_FIELDS.get(match.group(1), match.group(1).replace("-", "_"))
    return name if name in LABELS else ""


class RunForm(Widget):
    """Compact inputs in a grid, then Start and the line that says what is wrong, if anything."""

    HELP_TITLE = "Training form"
    app: Tutor
    HELP_KEYS = [("tab shift+tab", "next / previous field"),
                 ("enter", "next field; on the last field or on Start, start the run"),
                 ("enter space", "on model or preset: open the list")]

    DEFAULT_CSS = """
    RunForm {
        height: auto;
        padding: 0 1;
        border-bottom: hkey $foreground 20%;
        Grid {
            grid-size: 4;
            grid-columns: 11 1fr 11 1fr;
            grid-rows: 1;
            grid-gutter: 0 1;
            height: auto;
        }
        Label { color: $text-muted; width: 100%; text-align: right; }
        Label.-focused { color: $text; text-style: bold reverse; }
        Label.-invalid { color: $text-error; text-style: bold; }
        Input, Select { width: 100%; }
        Input > .input--placeholder { color: $text-disabled; text-style: italic; }
        #form-foot { height: 1; }
        #start { width: auto; min-width: 12; margin-right: 1; }
        #reason { width: 1fr; color: $text-muted; }
        #reason.-invalid { color: $text-error; }
    }
    """

    @dataclass
    class Submitted(Message):
        """The learner asked to start a run with this config."""

        form: RunForm
        config: RunConfig

    @dataclass
    class Edited(Message):
        """A field changed: ``values`` are all the fields as shown."""

        form: RunForm
        values: dict[str, str]

    def __init__(self, config: RunConfig | None = None, values: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.initial = config or RunConfig(data="builtin")
        self.restored = values or {}
        """Field values from an earlier session, over the initial config's."""
        self._initial_values: dict[str, str] = {}
        self.invalid = ""
        """The field marked invalid, if any."""
        self._models: list[str] = list(MODELS)
        """What the model list offers."""

    def compose(self) -> ComposeResult:
        c = self.initial
        values = texts(c)
        with Grid():
            yield Label(LABELS["model"], id="label-model")
            yield Select([(m, m) for m in MODELS], value=c.model, allow_blank=False, compact=True, id="model")
            yield Label(LABELS["preset"], id="label-preset")
            yield Select([(p, p) for p in PRESETS], prompt="(none)", value=c.preset or Select.NULL,
                         compact=True, id="preset")
            for name, label, placeholder in FIELDS:
                yield Label(label, id=f"label-{name}")
                yield Input(values[name], placeholder=placeholder, compact=True, id=name)
        with Horizontal(id="form-foot"):
            yield Button(hint("Start ({TrainScreen.start})"), compact=True, id="start")
            yield Static(HINT, id="reason")

    def on_mount(self) -> None:
        self.app.worker_signal.subscribe(self, lambda _state: self._offer_models())
        self._offer_models()
        self._initial_values = self.values()
        for name, value in self.restored.items():
            self.set_value(name, value)

    def _offer_models(self, *more: str) -> None:
        """The model list: the built-in backbones, each timm model whose weights the worker has (it says so
        in its hello), the one chosen, and ``more``."""
        select = self.query_one("#model", Select)
        link = self.app.started_link  # (a form built ahead starts no worker)
        cached = cached_timm(link) if link else []
        names = list(dict.fromkeys([*MODELS, *cached, self.model, *more]))
        if names != self._models:
            self._models = names
            chosen = select.value
            select.set_options([(m, m) for m in names])
            select.value = chosen

    # -- values --------------------------------------------------------------------------------

    @property
    def model(self) -> str:
        return cast(str, self.query_one("#model", Select).value)  # allow_blank=False: never Select.NULL

    @model.setter
    def model(self, name: str) -> None:
        self.query_one("#model", Select).value = name

    @property
    def touched(self) -> bool:
        """Whether anything in the form differs from what it started with."""
        return self.values() != self._initial_values

    def values(self) -> dict[str, str]:
        """Every field's value as text ('' for no preset): the progress file keeps them between sessions."""
        return {widget.id: "" if widget.value is Select.NULL else str(widget.value)
                for widget in self.query("Input, Select") if isinstance(widget, (Input, Select)) and widget.id}

    def set_value(self, name: str, value: str) -> None:
        """Show ``value`` in field ``name`` (one a select does not offer leaves it as it is)."""
        widget = self.query_one_optional(f"#{name}")
        if isinstance(widget, Input):
            widget.value = value
        elif isinstance(widget, Select):
            if name == "model" and value not in self._models and not backbones.problem(value):
                self._offer_models(value)  # a timm model a command or an earlier session names
            if value in (self._models if name == "model" else PRESETS):
                widget.value = value
            elif name == "preset" and not value:
                widget.value = Select.NULL

    def config(self) -> RunConfig:
        """The config the form describes; ConfigError with one line if it cannot run. With a preset, a
        field left at the default keeps the preset's value (its LR goes with its optimizer)."""
        preset = self.query_one("#preset", Select).value
        preset = preset if isinstance(preset, str) else None
        defaults = texts(RunConfig()) if preset else {}
        typed = {name: self.query_one(f"#{name}", Input).value.strip() for name, _, _ in FIELDS}
        fields: dict[str, Any] = {name: self._parse(name, text) for name, text in typed.items()
                                  if text != defaults.get(name)}
        fields = {k: v for k, v in fields.items() if v is not None}
        fields["model"] = self.model
        return configure(preset, **fields)

    @staticmethod
    def _parse(name: str, text: str) -> Any:
        """One input as a config value, parsed as the command line parses it; None keeps the default (or
        the preset's). ``all`` processes is every free GPU; ``all`` images per class is the default."""
        if not text or text == "auto" or (text == "all" and name != "nproc"):
            return None
        return parse_setting(name, text)

    # -- marks ---------------------------------------------------------------------------------

    def mark(self, reason: str) -> None:
        """Mark the field ``reason`` is about (✗ by its label) and show the reason; '' clears both."""
        if self.invalid:
            self._label(self.invalid).remove_class("-invalid")
        self.invalid = field_of(reason) if reason else ""
        if self.invalid:
            self._label(self.invalid).add_class("-invalid")
        self._relabel()
        line = self.query_one("#reason", Static)
        line.set_class(bool(reason), "-invalid")
        said, label = ui_words(reason), LABELS.get(self.invalid, "form")
        line.update(Content(f"✗ {said if said.startswith(label) else f'{label}: {said}'}" if reason else HINT))

    def _label(self, name: str) -> Label:
        return self.query_one(f"#label-{name}", Label)

    def _relabel(self) -> None:
        """Each label's text with its marks: ▶ on the focused field, ✗ on the invalid one."""
        focused = self.screen.focused.id if self.screen.focused is not None else ""
        for name, text in LABELS.items():
            mark = "▶ " if name == focused else "✗ " if name == self.invalid else ""
            label = self._label(name)
            label.set_class(name == focused, "-focused")
            label.update(Content(f"{mark}{text}"))

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        self._relabel()

    def on_descendant_blur(self, event: events.DescendantBlur) -> None:
        self.call_after_refresh(self._relabel)

    def on_select_changed(self, event: Select.Changed) -> None:
        """A preset chosen says what it is on the last line (the probe: that it has no epochs to set)."""
        event.stop()
        if event.select.id == "preset" and not self.invalid:
            name = event.value
            self.query_one("#reason", Static).update(
                Content(f"{name}: {PRESETS[name][0]}" if isinstance(name, str) and name in PRESETS else HINT))
        self.post_message(self.Edited(self, self.values()))

    def on_input_changed(self, event: Input.Changed) -> None:
        """Check the field as it is typed; the whole form is checked on start."""
        event.stop()
        self.post_message(self.Edited(self, self.values()))
        try:
            self._parse(event.input.id or "", event.value.strip())
        except ConfigError as error:
            self.mark(str(error))
        else:
            if self.invalid in (event.input.id, ""):
                self.mark("")

    # -- starting ------------------------------------------------------------------------------

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter moves to the next field; on the last one it starts the run."""
        event.stop()
        if event.input.id == FIELDS[-1][0]:
            self.submit()
        else:
            self.screen.focus_next()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.submit()

    def submit(self) -> None:
        try:
            config = self.config()
        except ConfigError as error:
            self.mark(str(error))
            return
        self.mark("")
        if config.caveats():
            self.query_one("#reason", Static).update(Content(f"⚠ {ui_words(config.caveats()[0])}"))
        self.post_message(self.Submitted(self, config))
