"""The run store: one directory per run on the worker's host, the source of truth about runs.

``<runs>/<run id>/`` holds ``config.json``, ``events.jsonl`` (append-only, one event per line, flushed
per event), the checkpoints the engine writes (``best.pt``, ``last.pt``, ``resume.pt``) and ``owner``
(the pid of the process training it). Pure Python: the CLI lists runs without importing torch.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from tltui import protocol
from tltui.paths import runs_dir
from tltui.protocol import Epoch, RunConfig, RunEvent, RunSummary

_config_decoder = msgspec.json.Decoder(RunConfig)


class RunNotFound(LookupError):
    """No run with that id; the message is one line for the user."""


class Run:
    """One run directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.id = path.name

    @property
    def config(self) -> RunConfig:
        return _config_decoder.decode((self.path / "config.json").read_bytes())

    @property
    def events_path(self) -> Path:
        return self.path / "events.jsonl"

    def events(self, after_seq: int = 0) -> list[RunEvent]:
        """Events with seq > ``after_seq``; a torn or corrupt line (a crash mid-write) is skipped."""
        try:
            raw = self.events_path.read_bytes()
        except FileNotFoundError:
            return []
        events = []
        for line in raw.splitlines():
            try:
                event = protocol.decode_event(line)
            except (msgspec.DecodeError, msgspec.ValidationError):
                continue
            if event.seq > after_seq:
                events.append(event)
        return events

    def owner_alive(self) -> bool:
        """True if the process that trains this run is still running."""
        try:
            pid = int((self.path / "owner").read_text())
        except (OSError, ValueError):
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def summary(self) -> RunSummary:
        events = self.events()
        epochs = [e for e in events if isinstance(e, Epoch)]
        last = events[-1] if events else None
        status, reason = "running", ""
        if isinstance(last, protocol.Finished):
            status = "finished"
        elif isinstance(last, protocol.Failed):
            status, reason = "failed", last.reason
        elif isinstance(last, protocol.Cancelled):
            status = "cancelled"
        elif not self.owner_alive():
            status, reason = "interrupted", "the worker stopped before the run ended"
        return RunSummary(
            run_id=self.id,
            status=status,
            config=self.config,
            created=(self.path / "config.json").stat().st_mtime,
            last_seq=last.seq if last else 0,
            epochs_done=max((e.epoch for e in epochs), default=0),
            best_val_acc=max((e.val_acc for e in epochs), default=None),
            reason=reason,
        )


class RunRecorder:
    """Appends a run's events, numbering them; thread-safe. Listeners see each event as written."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self._lock = threading.Lock()
        existing = run.events()
        self.seq = existing[-1].seq if existing else 0
        self._file = open(run.events_path, "ab")
        self.listeners: list[Callable[[RunEvent], Any]] = []

    def emit(self, cls: type[RunEvent], **fields: Any) -> RunEvent:
        with self._lock:
            self.seq += 1
            event = cls(run_id=self.run.id, seq=self.seq, time=time.time(), **fields)
            self._file.write(protocol.encode(event))
            self._file.flush()
        for listener in list(self.listeners):
            listener(event)
        return event

    def close(self) -> None:
        self._file.close()


class RunStore:
    """All runs under one directory (by default the user's data dir)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or runs_dir()

    def create(self, config: RunConfig) -> Run:
        """A new run directory with its config, owned by this process."""
        run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
        path = self.root / run_id
        path.mkdir(parents=True)
        _write_atomic(path / "config.json", msgspec.json.format(msgspec.json.encode(config)))
        self.claim(Run(path))
        return Run(path)

    @staticmethod
    def claim(run: Run) -> None:
        """Record this process as the one training ``run``."""
        _write_atomic(run.path / "owner", str(os.getpid()).encode())

    def get(self, run_id: str) -> Run:
        """The run ``run_id``, or the only run whose id starts with it."""
        path = self.root / run_id
        if run_id and "/" not in run_id and (path / "config.json").is_file():
            return Run(path)
        matches = [run for run in self.all() if run.id.startswith(run_id)] if run_id else []
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise RunNotFound(f"no run {run_id!r} in {self.root} (tltui runs lists them)")
        raise RunNotFound(f"{run_id!r} matches {len(matches)} runs: give more of the id")

    def all(self) -> list[Run]:
        """Every run, oldest first."""
        if not self.root.is_dir():
            return []
        return [Run(p) for p in sorted(self.root.iterdir()) if (p / "config.json").is_file()]

    def summaries(self) -> list[RunSummary]:
        summaries = []
        for run in self.all():
            try:
                summaries.append(run.summary())
            except (OSError, msgspec.DecodeError, msgspec.ValidationError):
                continue
        return summaries


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
