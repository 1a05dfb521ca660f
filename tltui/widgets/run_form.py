"""The form that describes a run: dataset, backbone and weights, what is frozen, LRs, epochs, data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.app import ComposeResult
from textual.containers import Grid
from textual.message import Message
from textual.widgets import Input, Label, Select

from tltui.groups import parse_groups
from tltui.presets import PRESETS, configure
from tltui.protocol import MODELS, ConfigError, RunConfig, parse_unfreeze

#: (field, label, placeholder): text inputs, in form order; each is parsed by ``_parse``.
FIELDS: list[tuple[str, str, str]] = [
    ("data", "data", "builtin, builtin-shifted or a folder"),
    ("weights", "weights", "imagenet, none or a file"),
    ("frozen", "freeze", "e.g. stem,layer1 or none"),
    ("unfreeze", "unfreeze", "e.g. 2:layer4,4:layer3"),
    ("lr", "lr (head)", "0.01"),
    ("lr_decay", "lr decay", "1"),
    ("epochs", "epochs", "5"),
    ("image_size", "image px", "auto"),
    ("augment", "augment", "crop,flip,color or none"),
    ("limit_per_class", "per class", "all"),
]


class RunForm(Grid):
    """Compact inputs; enter in any of them asks to start the run (``RunForm.Submitted``)."""

    DEFAULT_CSS = """
    RunForm {
        grid-size: 4;
        grid-columns: 10 1fr 10 1fr;
        grid-rows: 1;
        grid-gutter: 0 1;
        height: auto;
        padding: 0 1;
        border-bottom: hkey $foreground 20%;
        Label { color: $text-muted; width: 100%; text-align: right; }
        Input, Select { width: 100%; }
    }
    """

    @dataclass
    class Submitted(Message):
        """The learner asked to start a run with this config."""

        form: RunForm
        config: RunConfig

    @dataclass
    class Invalid(Message):
        """The form cannot make a config; ``reason`` is one line."""

        form: RunForm
        reason: str

    def __init__(self, config: RunConfig | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.initial = config or RunConfig(data="builtin")
        self._initial_values: dict[str, Any] = {}

    def compose(self) -> ComposeResult:
        c = self.initial
        values = {
            "data": c.data, "weights": c.weights, "frozen": ",".join(c.frozen),
            "unfreeze": ",".join(f"{e}:{g}" for g, e in c.unfreeze.items()), "lr": f"{c.lr:g}",
            "lr_decay": f"{c.lr_decay:g}", "epochs": str(c.epochs), "image_size": str(c.image_size or ""),
            "augment": ",".join(c.augment) or "none", "limit_per_class": str(c.limit_per_class or ""),
        }
        yield Label("model")
        yield Select([(m, m) for m in MODELS], value=c.model, allow_blank=False, compact=True, id="model")
        yield Label("preset")
        yield Select([(p, p) for p in PRESETS], prompt="(none)", value=c.preset or Select.NULL,
                     compact=True, id="preset")
        for name, label, placeholder in FIELDS:
            yield Label(label)
            yield Input(values[name], placeholder=placeholder, compact=True, id=name)

    @property
    def model(self) -> str:
        return self.query_one("#model", Select).value

    @model.setter
    def model(self, name: str) -> None:
        self.query_one("#model", Select).value = name

    @property
    def touched(self) -> bool:
        """Whether anything in the form differs from what it started with."""
        return self._values() != self._initial_values

    def _values(self) -> dict[str, Any]:
        return {widget.id: widget.value for widget in self.query("Input, Select")}

    def on_mount(self) -> None:
        self._initial_values = self._values()

    def config(self) -> RunConfig:
        """The config the form describes; ConfigError with one line if it cannot run."""
        fields: dict[str, Any] = {name: self._parse(name, self.query_one(f"#{name}", Input).value.strip())
                                  for name, _, _ in FIELDS}
        fields = {k: v for k, v in fields.items() if v is not None}
        fields["model"] = self.model
        preset = self.query_one("#preset", Select).value
        return configure(preset if isinstance(preset, str) else None, **fields)

    @staticmethod
    def _parse(name: str, text: str) -> Any:
        """One input as a config value; None keeps the default (or the preset's)."""
        if not text or text in ("auto", "all"):
            return None
        if name in ("data", "weights"):
            return text
        if name == "frozen":
            if text.lower() == "none":
                return ()
            try:
                return parse_groups(text)
            except ValueError as error:
                raise ConfigError(f"freeze: {error}") from None
        if name == "unfreeze":
            return parse_unfreeze(text)
        if name == "augment":
            return () if text.lower() in ("none", "off") else tuple(a.strip() for a in text.split(",") if a.strip())
        kind = float if name in ("lr", "lr_decay") else int
        try:
            return kind(text)
        except ValueError:
            raise ConfigError(f"{name.replace('_', ' ')}: {text!r} is not a number") from None

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit()

    def submit(self) -> None:
        try:
            self.post_message(self.Submitted(self, self.config()))
        except ConfigError as error:
            self.post_message(self.Invalid(self, str(error)))

