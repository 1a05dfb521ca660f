"""Fair service in the worker daemon: how long a third client's short requests take while two clients keep
16 LR finders going (8 each, 1,000 steps of the tiny model on ``builtin``), in a data dir of its own.

    python benchmarks/fair_service.py [--tries 3]

Prints, per try, how long ``list_runs`` took to be answered and ``start_run`` to be accepted (the run
started is cancelled at once). The daemon is started for it and killed after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import tempfile
import time

from tltui.core.client import WorkerClient
from tltui.core.protocol.config import RunConfig
from tltui.core.protocol.requests import CancelRun, FindLr, ListRuns, StartRun

FINDER = FindLr(config=RunConfig(data="builtin", model="tiny", limit_per_class=8, batch_size=16),
                         steps=1000, end_lr=1e-3)
RUN = RunConfig(model="tiny", weights="none", limit_per_class=4, epochs=1, batch_size=16, augment=())


async def measure(tries: int) -> None:
    finders = [WorkerClient(), WorkerClient()]
    third = WorkerClient()
    for client in (*finders, third):
        await client.start()
    working = asyncio.Event()
    jobs = [asyncio.create_task(client.request(FINDER, lambda _: working.set()))
            for client in finders for _ in range(8)]
    await working.wait()
    await asyncio.sleep(3)
    for _ in range(tries):
        started = time.monotonic()
        await third.request(ListRuns())
        listed = time.monotonic() - started
        started = time.monotonic()
        run = await third.request(StartRun(config=RUN))
        accepted = time.monotonic() - started
        await third.request(CancelRun(run_id=run.run_id))
        print(f"list_runs answered in {listed:.3f} s, start_run accepted in {accepted:.3f} s", flush=True)
        await asyncio.sleep(2)
    for client in finders:
        client.kill()
        await client.close()
    await asyncio.gather(*jobs, return_exceptions=True)
    await third.close(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=3)
    args = parser.parse_args()
    data = tempfile.mkdtemp(prefix="tltui-fair-")
    os.environ["TLTUI_DATA_DIR"] = data
    try:
        asyncio.run(measure(args.tries))
    finally:
        with open(os.path.join(data, "sock", "daemon.pid")) as pid:
            os.kill(int(pid.read()), signal.SIGKILL)


if __name__ == "__main__":
    main()
