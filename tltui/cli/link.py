"""The CLI's link to the worker, here or on a host through ssh: one short request (``ask``), or a run
started, resumed or picked up and followed to its end (``follow_run``)."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from tltui.core import remote
from tltui.core.errors import BadInput
from tltui.core.paths import private_runs_dir
from tltui.core.protocol.events import TERMINAL_EVENTS, Cancelled, Diagnosis, Finished, RunEvent
from tltui.core.protocol.messages import Working
from tltui.core.protocol.replies import Replayed, RunStarted
from tltui.core.protocol.requests import GetEvents, Request, ResumeRun, StartDiagnosis, StartRun

if TYPE_CHECKING:
    from tltui.core.client import WorkerClient

R = TypeVar("R")


async def follow_run(request: StartRun | ResumeRun | GetEvents | StartDiagnosis,
                     report: Callable[[RunEvent], None], host: str | None = None) -> int:
    """Start, resume or pick up a run on the worker (local, or on ``host``) and report its events until
    it ends. Ctrl-C or a dropped connection leaves the run going and says how to follow it again."""
    from tltui.core.client import WorkerError, WorkerGone

    client = new_client(host)
    run_id = ""
    detached = asyncio.Event()
    caught: list[int] = []

    def detach(signum: int) -> None:
        caught.append(signum)
        detached.set()

    loop = asyncio.get_running_loop()
    for signum in DETACH_SIGNALS:
        loop.add_signal_handler(signum, detach, signum)
    try:
        hello = await client.start()
        if host and not any(d.startswith("cuda") for d in hello.capabilities.devices):
            print(f"note: {host} has no GPU; the run trains on its CPU", file=sys.stderr)
        reply: RunStarted | Replayed = await client.request(request)
        run_id = reply.run_id
        while True:
            event = await _next(client, detached)
            if event is None:
                break
            report(event)
            if isinstance(event, TERMINAL_EVENTS) and event.run_id == run_id:
                if isinstance(event, Cancelled) and not isinstance(request, StartDiagnosis):
                    print(f"resume with: tltui runs resume {run_id}" + (f" --remote {host}" if host else ""),
                          file=sys.stderr)
                return 0 if isinstance(event, (Finished, Diagnosis)) else 1
        if detached.is_set():
            _say(f"\nleft run {run_id} going" + (f" on {host}" if host else "")
                 + f"; {remote.follow_hint(run_id, host)}")
            return 128 + caught[0]
        raise WorkerGone(client.gone)
    except WorkerGone as error:
        _say(f"tltui: {error}")
        if run_id:
            _say(f"the run may go on; {remote.follow_hint(run_id, host)}")
        return 1
    except WorkerError as error:
        raise BadInput(str(error)) from None
    finally:
        for signum in DETACH_SIGNALS:
            loop.remove_signal_handler(signum)
        await client.close(timeout=10)


#: Signals that leave a followed run going, as Ctrl-C does: a closed terminal, a polite kill.
DETACH_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _say(text: str) -> None:
    """A line on stderr; a terminal that has gone (SIGHUP) cannot make it a traceback."""
    try:
        print(text, file=sys.stderr, flush=True)
    except OSError:
        pass


async def ask(request: Request[R], host: str | None = None,
              working: Callable[[Working], None] | None = None) -> R:
    """The worker's reply to one short request (here, or on ``host``; ``working`` hears its progress); a
    refusal as BadInput."""
    from tltui.core.client import WorkerError

    client = new_client(host)
    try:
        await client.start()
        return await client.request(request, working)
    except WorkerError as error:
        raise BadInput(str(error)) from None
    finally:
        await client.close(timeout=10)


def new_client(host: str | None) -> WorkerClient:
    """A client of the worker on ``host``, or here; here, a data or worker directory that is not private is
    refused first, in one line (the worker would refuse it too, less directly)."""
    from tltui.core.client import WorkerClient
    from tltui.worker.sockets import private_dir

    if host:
        return remote.client(host)
    private_runs_dir()
    private_dir()
    return WorkerClient()


async def _next(client: WorkerClient, detached: asyncio.Event) -> RunEvent | None:
    """The next event, or None once the user has pressed Ctrl-C or the worker has gone."""
    get = asyncio.ensure_future(client.events.get())
    stop = asyncio.ensure_future(detached.wait())
    done, _ = await asyncio.wait({get, stop}, return_when=asyncio.FIRST_COMPLETED)
    for task in (get, stop):
        if task not in done:
            task.cancel()
    return get.result() if get in done else None
