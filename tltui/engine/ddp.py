"""The training entry point of a run over several processes, one per GPU (NCCL) or per CPU share (gloo).

The worker starts it as ``python -m torch.distributed.run --standalone --nproc-per-node N -m tltui.engine.ddp
RUN_DIR CONFIG [--resume] [--control-stdin]``: torchrun (PyTorch's own launcher, run as a module so no
other executable is needed) starts N copies, gives each its RANK, WORLD_SIZE and LOCAL_RANK, and stops
them all when one dies. Each copy prepares and trains the run as ``engine/train.py`` does alone; the
differences are in ``engine/world.py``.

What the worker reads back:

- on stdout, rank 0's events, one per line (``event_line`` of core/protocol/ranks.py; the worker numbers
  and stores them, as it does for a run it trains in a thread); no other rank prints one;
- on stderr, each rank's ``RankReport`` line (``rank_line``): its pid when it starts, its reason
  and hint when it fails; torchrun's own log and tracebacks go there too.

With ``--control-stdin`` rank 0 reads its standard input (the worker's pipe): a ``stop`` line, or the
pipe closing because the worker died, stops the run at the next point the processes agree on, with a
checkpoint. Exit status: 0 when the run ended (finished or cancelled), 1 when this rank failed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from tltui.core import files
from tltui.core.errors import BadInput, RunFailure
from tltui.core.protocol import codec
from tltui.core.protocol.config import RunConfig
from tltui.core.protocol.events import RunEvent
from tltui.core.protocol.ranks import RankReport, event_line, rank_line

if TYPE_CHECKING:
    from tltui.engine.world import World

PEER_GONE = ("Connection closed by peer", "Connection reset by peer", "Broken pipe", "NCCL communicator was aborted",
             "DistNetworkError", "DistBackendError")
"""Words of the errors a process gets in a collective when another one has died: not the run's reason."""
PEER_GRACE_S = 2.0
"""How long a process that lost its peer waits before it exits, so that torchrun (which looks every 0.1 s)
sees the dead one first and names it as the root cause, not this one (its exit raced the peer's in CI)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tltui.engine.ddp", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("config", help="the run's RunConfig as JSON")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--control-stdin", action="store_true",
                        help="rank 0 stops the run on a 'stop' line or the end of its standard input")
    args = parser.parse_args(argv)

    from tltui.engine.world import World

    world = World.from_env()
    _report(RankReport(rank=world.rank, pid=os.getpid()))
    stop = threading.Event()
    if world.main and args.control_stdin:
        threading.Thread(target=_watch_stdin, args=(stop,), daemon=True, name="tltui-stop").start()
    try:
        config = msgspec.json.decode(args.config, type=RunConfig)
        train_run(config, args.run_dir, world, stop.is_set, resume=args.resume)
    except RunFailure as failure:
        return _fail(world, failure.reason, failure.hint)
    except BadInput as error:
        return _fail(world, str(error), "fix the input and start a new run")
    except OSError as error:
        return _fail(world, files.full_disk(error), "")
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        return _fail(world, f"not a run config: {error}", "this is a bug in tltui; please report it")
    except Exception as error:
        traceback.print_exc()
        text = f"{type(error).__name__}: {error}"
        if any(word in text for word in PEER_GONE):
            code = _fail(world, f"lost another process of the run ({text.splitlines()[0][:200]})", "", peer=True)
            time.sleep(PEER_GRACE_S)
            return code
        return _fail(world, f"internal error: {text.splitlines()[0][:300]}", "this is a bug in tltui; please report it")
    return 0


def train_run(config: RunConfig, run_dir: str, world: World, should_stop: Callable[[], bool], *,
              resume: bool = False) -> None:
    """Prepare and train ``config`` as this process of ``world``; rank 0 prints the events."""
    import torch
    import torch.distributed as dist

    from tltui.engine import device as devices, train

    device = devices.resolve(config.device)
    if device.type == "cuda":
        if world.size > 1:  # each its own GPU; alone (a deterministic run), the one its config names
            device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    world.init(device)
    try:
        prepared = train.prepare(config, world)
        train.train(prepared, Path(run_dir), emit if world.main else _silent, should_stop, resume=resume)
        dist.barrier()  # no process tears down while another still saves or validates
    finally:
        if dist.is_initialized():
            with contextlib.suppress(Exception):
                dist.destroy_process_group()


def emit(cls: type[RunEvent], **fields: Any) -> None:
    """Rank 0's event, on stdout for the worker (which gives it its run id and number)."""
    event = codec.fit(cls(run_id="", seq=0, time=time.time(), **fields))
    sys.stdout.write(event_line(event))
    sys.stdout.flush()


def _silent(cls: type[RunEvent], **fields: Any) -> None:
    """The other ranks' events: rank 0 tells them all."""


def _watch_stdin(stop: threading.Event) -> None:
    for line in sys.stdin:
        if line.strip() == "stop":
            break
    stop.set()  # told to stop, or the worker's end of the pipe closed (it died)


def _report(report: RankReport) -> None:
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write(rank_line(report))
        sys.stderr.flush()


def _fail(world: World, reason: str, hint: str, peer: bool = False) -> int:
    _report(RankReport(rank=world.rank, pid=os.getpid(), reason=reason, hint=hint, peer=peer))
    return 1


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Not sys.exit: at interpreter teardown a C++ thread of the distributed autograd can still be joinable,
    # and the process then aborts ("terminate called without an active exception", SIGABRT) after a run
    # that went well; measured here on 1 in 4 two-process runs under load. Everything is written by now.
    os._exit(code)
