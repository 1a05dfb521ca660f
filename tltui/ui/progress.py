"""The learner's progress: last lesson, visited lessons, quiz and check scores, theme.

Saved as JSON under the data dir, written atomically (temp file + rename). A file that cannot be
read (not JSON, or not a regular file: a FIFO is never waited on) is moved aside
(``progress.json.corrupt-<time>``) before anything new is written over it.
"""

from __future__ import annotations

import errno
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tltui.core.files import UnsafePath, private_dir, read_regular, write_atomic
from tltui.core.paths import data_dir

FILENAME = "progress.json"
MAX_BYTES = 2**20


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
            progress = LearnerProgress(
                last_lesson=str(data.get("last_lesson", "")),
                visited=[str(v) for v in data.get("visited", [])],
                quiz=dict(data.get("quiz", {})),
                theme=str(data.get("theme", "")),
                board_runs=[[str(x) for x in pair] for pair in data.get("board_runs", [])],
                scroll={str(k): float(v) for k, v in data.get("scroll", {}).items()},
                form={str(k): str(v) for k, v in data.get("form", {}).items() if v is not None},
                checks={str(k): dict(v) for k, v in data.get("checks", {}).items()},
                runs={str(k): {str(label): str(run_id) for label, run_id in v.items()}
                      for k, v in data.get("runs", {}).items()},
            )
        except (ValueError, TypeError, AttributeError):
            return self._set_aside()
        return progress

    def _set_aside(self) -> LearnerProgress:
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            os.replace(self.path, aside)
        except OSError as error:
            self.writable = False
            self.notice = f"{self.path} is unreadable and could not be moved aside ({error.strerror}); starting fresh without saving."
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
