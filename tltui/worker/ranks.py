"""A run over several processes, as the daemon trains it: torchrun started, its events recorded, its end read.

The daemon runs ``python -m torch.distributed.run --standalone --nproc-per-node N -m tltui.engine.ddp ...``
(``engine/ddp.py`` says what each process does) with the GPUs it reserved for the run in
``CUDA_VISIBLE_DEVICES``, reads rank 0's events from torchrun's stdout and records them as its own, and
reads every rank's ``RankReport`` from stderr. A cancel is a ``stop`` line on the processes' standard input.

When the processes end without the run's last event, one reason is told, the first that applies: a
reason a rank gave for failing itself (a NaN, bad input, a full disk), then a rank that died of a signal
(torchrun's "root cause": ``kill -9``, the kernel's OOM killer), then how torchrun or a rank exited. Ranks
that failed only because another had gone (a broken collective) are never the reason. torchrun stops the
other processes when one dies (SIGTERM, then SIGKILL); any rank still alive once torchrun has exited is
killed here, so the GPUs are free for the next run when this returns.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import msgspec

from tltui.core.protocol.config import RunConfig
from tltui.core.protocol.events import TERMINAL_EVENTS, RunEvent
from tltui.core.protocol.ranks import RankReport, read_event_line, read_rank_line

POLL_S = 0.2
LOG_LINES = 60
"""Lines of torchrun's stderr kept for the daemon's log when a run fails."""
STOP_GRACE_S = 10.0
"""How long a rank left alive after torchrun exits is given after SIGTERM before SIGKILL."""


@dataclass
class Outcome:
    """How the processes ended: ``ended`` if rank 0 sent the run's last event, else why they stopped."""

    ended: bool
    returncode: int
    reason: str = ""
    hint: str = ""
    log: list[str] = field(default_factory=list)


def command(run_dir: Path, config: RunConfig, processes: int, resume: bool) -> list[str]:
    """The torchrun command line of a run over ``processes`` processes on this host."""
    line = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
            "-m", "tltui.engine.ddp", str(run_dir), msgspec.json.encode(config).decode(), "--control-stdin"]
    return [*line, "--resume"] if resume else line


def environment(gpus: list[str], deterministic: bool = False) -> dict[str, str]:
    """The processes' environment: the reserved GPUs alone visible (``cuda:N`` as this process numbers them,
    so a ``CUDA_VISIBLE_DEVICES`` the daemon was started with is respected); a deterministic run's cuBLAS
    workspace set before CUDA starts."""
    env = dict(os.environ)
    if deterministic:
        from tltui.engine import determinism

        env.update(determinism.environment())
    if gpus:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        indices = [int(g.split(":")[1]) for g in gpus]
        if visible:
            names = [v.strip() for v in visible.split(",")]
            env["CUDA_VISIBLE_DEVICES"] = ",".join(names[i] for i in indices)
        else:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, indices))
    env.setdefault("OMP_NUM_THREADS", "1")  # torchrun's default, set here so it does not print a banner
    env["PYTHONUNBUFFERED"] = "1"
    return env


def train(run_dir: Path, config: RunConfig, processes: int, gpus: list[str], *, resume: bool,
          emit: Callable[[RunEvent], object], should_stop: Callable[[], bool],
          log: Callable[[str], object] = lambda line: None) -> Outcome:
    """Run the processes to their end; ``emit`` records each of rank 0's events (in this thread's reader)."""
    proc = subprocess.Popen(command(run_dir, config, processes, resume), env=environment(gpus, config.deterministic),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, bufsize=1, start_new_session=True)
    stdin, stdout, stderr = proc.stdin, proc.stdout, proc.stderr
    assert stdin is not None and stdout is not None and stderr is not None  # all three are pipes
    ended = threading.Event()
    reports: list[RankReport] = []
    tail: collections.deque[str] = collections.deque(maxlen=LOG_LINES)
    failures: list[BaseException] = []

    def read_events() -> None:
        for line in stdout:
            try:
                event = read_event_line(line)
            except (msgspec.DecodeError, msgspec.ValidationError):
                log(f"unreadable event line from rank 0: {line[:200]}")
                continue
            if event is None:
                continue
            try:
                emit(event)
            except BaseException as error:  # a full disk: the run must stop; the daemon says why
                failures.append(error)
                _send_stop(stdin)
            if isinstance(event, TERMINAL_EVENTS):
                ended.set()

    def read_log() -> None:
        for line in stderr:
            report = read_rank_line(line)
            if report is not None:
                reports.append(report)
            elif "FutureWarning" not in line:
                tail.append(line.rstrip("\n"))

    readers = [threading.Thread(target=read_events, daemon=True), threading.Thread(target=read_log, daemon=True)]
    for reader in readers:
        reader.start()
    stopped = False
    while proc.poll() is None:
        if not stopped and (should_stop() or failures):
            stopped = True
            _send_stop(stdin)
        time.sleep(POLL_S)
    for reader in readers:
        reader.join(30)
    with contextlib.suppress(OSError):
        stdin.close()
    _kill_leftovers(reports)
    if failures:
        raise failures[0]
    if ended.is_set() and proc.returncode == 0:
        return Outcome(True, 0)
    reason, hint = explain(reports, list(tail), processes, proc.returncode)
    return Outcome(ended.is_set(), proc.returncode, reason, hint, list(tail))


def explain(reports: list[RankReport], log: list[str], processes: int, returncode: int) -> tuple[str, str]:
    """(reason, hint) for processes that ended without the run's last event."""
    own = [r for r in reports if r.reason and not r.peer]
    if own:
        first = own[0]
        return _of(first.rank, processes, first.reason), first.hint
    dead = root_cause(log, peers={r.rank for r in reports if r.peer})
    if dead is not None:
        rank, code, pid = dead
        if code < 0:
            return (f"process rank {rank} of {processes} (pid {pid}) was killed by signal {-code} "
                    f"({_signal_name(-code)}); torchrun stopped the other {processes - 1}"), ""
        return (f"process rank {rank} of {processes} (pid {pid}) exited with status {code}; torchrun stopped the "
                "others"), ""
    peers = [r for r in reports if r.reason]
    if peers:
        return _of(peers[0].rank, processes, peers[0].reason), ""
    last = next((line.strip() for line in reversed(log) if line.strip()), "")
    return f"torchrun exited with status {returncode}" + (f": {last[:200]}" if last else ""), ""


def _of(rank: int, processes: int, reason: str) -> str:
    return f"{reason} (process rank {rank} of {processes}; the others were stopped)" if processes > 1 else reason


_ENTRY = re.compile(r"rank\s*:\s*(\d+).*?exitcode\s*:\s*(-?\d+)\s*\(pid:\s*(\d+)\)", re.S)
"""One process in torchrun's summary (its 'Failures', then its 'Root Cause')."""
_FAILED = re.compile(r"failed \(exitcode: (-?\d+)\) local_rank: (\d+) \(pid: (\d+)\)")


def root_cause(log: list[str], peers: AbstractSet[int] = frozenset()) -> tuple[int, int, int] | None:
    """(rank, exit code, pid) of the process that failed first, from torchrun's summary (or its 'failed
    (exitcode ...)' line); None if it names none. A negative exit code is the signal that killed it. The
    summary's first failure can be a process that only lost its peer (one of ``peers``, which said so) and
    left before torchrun saw the peer's death: then the process listed that was not a peer, and not stopped
    by torchrun's own SIGTERM, is the cause."""
    text = "\n".join(log)
    others, _, root = text.rpartition("Root Cause")
    found = [(int(r), int(c), int(p)) for r, c, p in _ENTRY.findall(root) + _ENTRY.findall(others)]
    if not found:
        found = [(int(r), int(c), int(p)) for c, r, p in _FAILED.findall(text)]
    causes = [f for f in found if f[0] not in peers and f[1] != -signal.SIGTERM]
    return next(iter(causes or found), None)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _send_stop(stdin: IO[str]) -> None:
    with contextlib.suppress(OSError, ValueError):
        stdin.write("stop\n")
        stdin.flush()


def _kill_leftovers(reports: list[RankReport]) -> None:
    """Ranks still alive after torchrun has gone (it was killed itself): SIGTERM, then SIGKILL. A pid is
    only signalled while it is still a rank of tltui's (its command line says so)."""
    pids = {r.pid for r in reports if r.pid}
    alive = [pid for pid in pids if _is_rank(pid)]
    for pid in alive:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    while alive and time.monotonic() < deadline:
        time.sleep(POLL_S)
        alive = [pid for pid in alive if _is_rank(pid)]
    for pid in alive:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _is_rank(pid: int) -> bool:
    try:
        return b"tltui.engine.ddp" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
