"""The learner's progress: last lesson, visited lessons, quiz and check scores, theme.

Saved as JSON under the data dir, written atomically (temp file + rename). A file that cannot be
read (not JSON, a value of the wrong type anywhere in it, or not a regular file: a FIFO is never waited
on) is moved aside (``progress.json.corrupt-<time>``) before anything new is written over it.
"""

from __future__ import annotations

import errno
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from tltui.core.files import UnsafePath, private_dir, read_regular, write_atomic
from tltui.core.paths import data_dir

FILENAME = "progress.json"
MAX_BYTES = 2**20

_Runs = dict[str, list[tuple[str, str]]]
"""An experiment's runs as its widget keeps them: name -> [label, run id] pairs."""


class _Check(msgspec.Struct):
    answers: dict[str, int] = {}
    right: int = 0
    best: int = 0
    total: int = 0
    checks: _Runs = {}


class _Answer(msgspec.Struct):
    quadrant: int
    strategy: str
    quadrant_ok: bool
    strategy_ok: bool


class _Quiz(msgspec.Struct):
    seed: int = 0
    answers: dict[str, _Answer] = {}
    best: int = 0
    checks: _Runs = {}


_FIELDS: dict[str, tuple[str, Any]] = {
    "last_lesson": ("value", str), "theme": ("value", str),
    "visited": ("items", str), "board_runs": ("items", tuple[str, str]),
    "quiz": ("entries", _Quiz), "checks": ("entries", _Check), "scroll": ("entries", float),
    "form": ("entries", str | None), "runs": ("entries", dict[str, str]),
}
"""Each field of a progress file: a value, a list of items or a dict of entries, and the type of each (a
class, or a type expression such as ``str | None``)."""


def _typed(data: dict) -> tuple[dict, int]:
    """The fields of ``data`` with every value of its type (the widgets read them as such), and how many
    values were dropped for being of another type."""
    kept: dict = {}
    dropped = 0

    def fits(value: object, kind: Any) -> bool:
        try:
            msgspec.convert(value, kind, strict=True)
        except msgspec.ValidationError:
            return False
        return True

    for name, (shape, kind) in _FIELDS.items():
        if name not in data:
            continue
        value = data[name]
        if shape == "value":
            ok = fits(value, kind)
            kept[name], dropped = (value, dropped) if ok else ("", dropped + 1)
        elif shape == "items" and isinstance(value, list):
            kept[name] = [v for v in value if fits(v, kind)]
            dropped += len(value) - len(kept[name])
        elif shape == "entries" and isinstance(value, dict):
            kept[name] = {k: v for k, v in value.items() if fits(v, kind)}
            dropped += len(value) - len(kept[name])
        else:
            dropped += 1
    return kept, dropped


@dataclass
class LearnerProgress:
    last_lesson: str = ""
    visited: list[str] = field(default_factory=list)
    quiz: dict[str, dict] = field(default_factory=dict)
    theme: str = ""
    board_runs: list[list[str]] = field(default_factory=list)
    """[run id, backbone] of the freeze board's real runs, so their points come back."""
    scroll: dict[str, float] = field(default_factory=dict)
    """Lesson name -> how far down it was scrolled."""
    form: dict[str, str] = field(default_factory=dict)
    """The training form's fields as last left."""
    checks: dict[str, dict] = field(default_factory=dict)
    """Lesson name -> its check of understanding: ``answers`` (question id -> option chosen),
    ``right``, ``best`` (the most right answers in one round) and ``total`` (its questions)."""
    runs: dict[str, dict[str, str]] = field(default_factory=dict)
    """What started runs (the race, the training screen, a config widget) -> its last runs (label -> run
    id), so their curves come back in the next session."""

    def visit(self, name: str) -> None:
        self.last_lesson = name
        if name not in self.visited:
            self.visited.append(name)

    def check_scores(self) -> dict[str, tuple[int, int]]:
        """Lesson name -> (best right answers, questions) of each check tried."""
        scores = {}
        for name, check in self.checks.items():
            try:
                best, total = int(check.get("best", 0)), int(check.get("total", 0))
            except (TypeError, ValueError, AttributeError):
                continue
            if total > 0:
                scores[name] = (min(best, total), total)
        return scores


@dataclass
class ProgressStore:
    """Loads and saves one progress file; ``notice`` holds a one-line message for the user, if any."""

    path: Path = field(default_factory=lambda: data_dir() / FILENAME)
    notice: str = ""
    writable: bool = True

    def load(self) -> LearnerProgress:
        try:
            raw = read_regular(self.path, MAX_BYTES)
        except FileNotFoundError:
            return LearnerProgress()
        except OSError as error:
            if error.errno in (errno.EINVAL, errno.EFBIG):  # a FIFO, a device, or far too big
                return self._set_aside()
            self.writable = False
            self.notice = f"Could not read {self.path} ({error.strerror}): progress will not be saved this session."
            return LearnerProgress()
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            return self._set_aside()
        if not isinstance(data, dict):
            return self._set_aside()
        data, dropped = _typed(data)
        if dropped:
            self._copy_aside(raw, dropped)
        return LearnerProgress(
            last_lesson=data.get("last_lesson", ""),
            visited=data.get("visited", []),
            quiz=data.get("quiz", {}),
            theme=data.get("theme", ""),
            board_runs=[list(pair) for pair in data.get("board_runs", [])],
            scroll={k: float(v) for k, v in data.get("scroll", {}).items()},
            form={k: v for k, v in data.get("form", {}).items() if v is not None},
            checks=data.get("checks", {}),
            runs=data.get("runs", {}),
        )

    def _copy_aside(self, raw: bytes, dropped: int) -> None:
        """Keep the file as it was beside it: values of the wrong type are left out of what is loaded."""
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            write_atomic(aside, raw)
        except OSError as error:
            self.writable = False
            self.notice = (f"{self.path} holds {dropped} value(s) of the wrong type, left out, and it could not be "
                           f"copied aside ({error.strerror}): progress will not be saved this session.")
        else:
            self.notice = (f"Progress file had {dropped} value(s) of the wrong type: left them out (the file is kept "
                           f"as {aside.name}).")

    def _set_aside(self) -> LearnerProgress:
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            os.replace(self.path, aside)
        except OSError as error:
            self.writable = False
            self.notice = (f"{self.path} is unreadable and could not be moved aside ({error.strerror}); starting fresh "
                           "without saving.")
        else:
            self.notice = f"Progress file was unreadable: kept it as {aside.name} and started fresh."
        return LearnerProgress()

    def save(self, progress: LearnerProgress) -> None:
        """Write atomically; a failure becomes the notice, never an exception."""
        if not self.writable:
            return
        try:
            private_dir(self.path.parent, "data directory")
            write_atomic(self.path, json.dumps(asdict(progress), indent=1).encode())
        except UnsafePath as error:
            self.notice = f"Progress is not saved: {error}"
            self.writable = False
        except OSError as error:
            self.notice = f"Could not save progress to {self.path} ({error.strerror})."
            self.writable = False
