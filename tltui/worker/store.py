"""The run store: one directory per run on the worker's host, the source of truth about runs.

``<runs>/<run id>/`` holds ``config.json``, ``events.jsonl`` (append-only, one event per line, flushed
per event), the checkpoints the engine writes (``resume.pt``, ``last.pt``, ``best.pt``) and ``owner``
(the pid and start time of the process training it). Every directory is 0700 and every file 0600,
written without following links (core/files.py). A run whose files cannot be read is listed as
damaged, with the reason. Pure Python: the CLI lists runs without importing torch.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from tltui.core import files
from tltui.core.protocol import codec
from tltui.core.protocol.config import RunConfig
from tltui.core.protocol.events import Cancelled, Diagnosis, Epoch, Failed, Finished, Measured, RunEvent, current
from tltui.core.protocol.replies import RunStatus, RunSummary

MAX_CONFIG_BYTES = 2**20
MAX_EVENTS_BYTES = 2**30
"""An events file larger than this is damaged (a run writes well under a megabyte per epoch)."""
ID_DRAWS = 100
"""How many random suffixes a new run's id may try (65,536 each second; 150 runs made in one second met a
taken one about one time in six before ids were drawn again)."""

ID_LENGTH = len("20261126-140500-ab12")
MAX_ID = 64
"""Longer ids are refused before they reach the filesystem (over 255 bytes a name cannot exist)."""

_config_decoder = msgspec.json.Decoder(RunConfig)


class _Seq(msgspec.Struct):
    seq: int


_seq_decoder = msgspec.json.Decoder(_Seq)
_PROGRESS = b'{"event":"progress",'
"""How every Progress line starts (codec.encode writes the tag first)."""


class RunNotFound(LookupError):
    """No run with that id; the message is one line for the user."""


class RunDamaged(Exception):
    """A run whose files cannot be read as a run's; the message is one line for the user."""


class Run:
    """One run directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.id = path.name

    @property
    def config(self) -> RunConfig:
        try:
            return _config_decoder.decode(files.read_regular(self.path / "config.json", MAX_CONFIG_BYTES))
        except OSError as error:
            raise RunDamaged(f"run {self.id} is damaged: cannot read its config.json ({error.strerror})") from None
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            raise RunDamaged(f"run {self.id} is damaged: its config.json is not a run config ({error})") from None

    @property
    def events_path(self) -> Path:
        return self.path / "events.jsonl"

    def events(self, after_seq: int = 0, progress: bool = True) -> list[RunEvent]:
        """Events with seq > ``after_seq`` (without Progress unless ``progress``); a torn or corrupt line (a
        crash mid-write) is skipped."""
        return self._scan(after_seq, progress)[0]

    def _scan(self, after_seq: int, progress: bool) -> tuple[list[RunEvent], int]:
        """``events``, and the last seq of all (Progress included). The file is read a megabyte at a time,
        and Progress lines left out are not decoded (seqs only grow: the last one's is the largest), so a
        run's file of hundreds of MB, nearly all Progress, costs the events kept, not the file."""
        try:
            file = files.open_regular(self.events_path, MAX_EVENTS_BYTES)
        except FileNotFoundError:
            return [], 0
        except OSError as error:
            raise RunDamaged(f"run {self.id} is damaged: cannot read its events.jsonl ({error.strerror})") from None
        events, last, skipped = [], 0, [b"", b""]
        with file:
            try:
                for line in file:
                    try:
                        if not progress and line.startswith(_PROGRESS):
                            skipped[0], skipped[1] = skipped[1], line
                            continue
                        event = codec.decode_event(line)
                    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
                        continue
                    last = max(last, event.seq)
                    if event.seq > after_seq:
                        events.append(event)
            except OSError as error:
                raise RunDamaged(f"run {self.id} is damaged: cannot read its events.jsonl ({error.strerror})") from None
        for line in reversed(skipped):  # the last Progress line, or the one before if that one is torn
            with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError):
                return events, max(last, _seq_decoder.decode(line).seq)
        return events, last

    def drop_leftovers(self) -> None:
        """Remove the temporary files of writes cut short (a kill during a checkpoint's save); only while no
        process writes this run: before it trains, or once its worker has died."""
        for leftover in self.path.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                leftover.unlink()

    def owner_alive(self) -> bool:
        """True if the process that wrote ``owner`` is still running (not another one that got its pid)."""
        try:
            written, *started = files.read_regular(self.path / "owner", 100).split()
            pid = int(written)
        except (OSError, ValueError):
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        now = _start_ticks(pid)
        return not (started and now) or started[0].decode() == now

    def summary(self) -> RunSummary:
        """The run's status and results, from its events; status ``damaged`` if they cannot be read."""
        try:
            config = self.config
            kept, last_seq = self._scan(0, progress=False)
            events = current(kept)
            created = (self.path / "config.json").stat().st_mtime
        except (RunDamaged, OSError) as error:
            reason = str(error) if isinstance(error, RunDamaged) else f"run {self.id} is damaged: {error.strerror}"
            return RunSummary(run_id=self.id, status="damaged", config=None, created=_mtime(self.path),
                              last_seq=0, reason=reason)
        epochs = [e for e in events if isinstance(e, Epoch)]
        measured = [e for e in events if isinstance(e, Measured)]
        last = events[-1] if events else None
        verdict = last if isinstance(last, Diagnosis) else None
        status: RunStatus = "running"
        reason = ""
        if isinstance(last, (Finished, Diagnosis)):
            status = "finished"
        elif isinstance(last, Failed):
            status, reason = "failed", last.reason
        elif isinstance(last, Cancelled):
            status = "cancelled"
        elif not self.owner_alive():
            status, reason = "interrupted", "the worker stopped before the run ended"
        return RunSummary(
            run_id=self.id,
            status=status,
            config=config,
            created=created,
            last_seq=last_seq,
            epochs_done=max((e.epoch for e in epochs), default=0),
            best_val_acc=max((r.acc for r in verdict.results.values()), default=None) if verdict
            else max((e.val_acc for e in epochs), default=None),
            reason=reason,
            folds_done=measured[-1].fold if measured else 0,
            folds=measured[-1].folds if measured else 0,
            recommend=verdict.recommend if verdict else "",
        )


class RunRecorder:
    """Appends a run's events, numbering them; thread-safe. Listeners see each event as written.

    A line cut short (power lost, a full disk) never swallows the next one: that starts on a new line.
    An event that cannot be written raises OSError and takes no number.
    """

    def __init__(self, run: Run) -> None:
        self.run = run
        self._lock = threading.Lock()
        existing = run.events()
        self.seq = existing[-1].seq if existing else 0
        self._fd = os.open(run.events_path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        size = os.fstat(self._fd).st_size
        self._torn = size > 0 and os.pread(self._fd, 1, size - 1) != b"\n"
        self.listeners: list[Callable[[RunEvent], Any]] = []

    def emit(self, cls: type[RunEvent], **fields: Any) -> RunEvent:
        with self._lock:
            event = self._event(cls, fields)
            line = codec.encode(event)
            try:
                self._write(b"\n" + line if self._torn else line)
            except OSError as error:
                self._torn = True
                error.filename = str(self.run.events_path)
                raise
            self._torn = False
            self.seq = event.seq
        self._tell(event)
        return event

    def announce(self, cls: type[RunEvent], **fields: Any) -> RunEvent:
        """Give the listeners an event that could not be written (they must still hear how the run ended)."""
        with self._lock:
            event = self._event(cls, fields)
        self._tell(event)
        return event

    def _event(self, cls: type[RunEvent], fields: dict[str, Any]) -> RunEvent:
        return codec.fit(cls(run_id=self.run.id, seq=self.seq + 1, time=time.time(), **fields))

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]

    def _tell(self, event: RunEvent) -> None:
        for listener in list(self.listeners):
            listener(event)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class RunStore:
    """All runs under one directory (by default the user's, checked private: paths.private_runs_dir)."""

    def __init__(self, root: Path | None = None) -> None:
        if root is None:
            from tltui.core.paths import private_runs_dir

            root = private_runs_dir()
        self.root = root
        self._ended: dict[str, tuple[tuple, RunSummary]] = {}
        """Summaries of ended runs, by the state of their files: listed again without reading them again."""

    def create(self, config: RunConfig) -> Run:
        """A new run directory (0700) with its config, owned by this process; nothing is left if that fails.
        Its id is the time and a random suffix, drawn again while a run of the same second has it."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        for _ in range(ID_DRAWS):
            path = self.root / f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
            try:
                path.mkdir(mode=0o700)
                break
            except FileExistsError:
                continue
        else:
            raise OSError(f"no free run id in {self.root} after {ID_DRAWS} draws")
        run = Run(path)
        try:
            files.write_atomic(path / "config.json", msgspec.json.format(msgspec.json.encode(config)))
            self.claim(run)
        except OSError:
            self.remove(run)
            raise
        return run

    @staticmethod
    def remove(run: Run) -> None:
        shutil.rmtree(run.path, ignore_errors=True)

    @staticmethod
    def claim(run: Run) -> None:
        """Record this process (its pid, and its start time where /proc tells it) as the one training ``run``."""
        pid = os.getpid()
        files.write_atomic(run.path / "owner", f"{pid} {_start_ticks(pid) or ''}".strip().encode())

    def get(self, run_id: str) -> Run:
        """The run ``run_id``, or the only run whose id starts with it."""
        if len(run_id) > MAX_ID or not run_id.isprintable():
            raise RunNotFound(f"no run {run_id[:40]!r}{'...' if len(run_id) > 40 else ''} in {self.root}: a run id "
                              f"is {ID_LENGTH} characters (tltui runs lists them)")
        if run_id and "/" not in run_id and not run_id.startswith(".") and (self.root / run_id).is_dir():
            return Run(self.root / run_id)
        matches = [run for run in self.all() if run.id.startswith(run_id)] if run_id else []
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise RunNotFound(f"no run {run_id!r} in {self.root} (tltui runs lists them)")
        raise RunNotFound(f"{run_id!r} matches {len(matches)} runs: give more of the id")

    def all(self) -> list[Run]:
        """Every run, oldest first (a damaged one too: any folder in the store)."""
        try:
            entries = sorted(self.root.iterdir())
        except OSError:
            return []
        return [Run(p) for p in entries if not p.name.startswith(".") and p.is_dir()]

    def summaries(self) -> list[RunSummary]:
        return [self._summary(run) for run in self.all()]

    def _summary(self, run: Run) -> RunSummary:
        """``run.summary()``; that of an ended run whose files have not changed since, remembered."""
        try:
            stamp = tuple((i.st_ino, i.st_size, i.st_mtime_ns) for i in
                          (os.stat(run.path / "config.json"), os.stat(run.events_path)))
        except OSError:
            return run.summary()
        cached = self._ended.get(run.id)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        summary = run.summary()
        if summary.status in ("finished", "failed", "cancelled"):
            self._ended[run.id] = (stamp, summary)
        return summary


def _start_ticks(pid: int) -> str | None:
    """When process ``pid`` started, in clock ticks since boot (from /proc; None where there is none)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _mtime(path: Path) -> float:
    try:
        return path.lstat().st_mtime
    except OSError:
        return 0.0
