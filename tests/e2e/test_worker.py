"""The real worker process (`tltui worker --stdio`) driven through the real client."""

from __future__ import annotations

import asyncio
import os
import random

import pytest

from tltui.core.client import WorkerClient, WorkerError
from tltui.core.protocol.codec import MAX_LINE
from tltui.core.protocol.config import RunConfig
from tltui.core.protocol.events import TERMINAL_EVENTS, Cancelled, Epoch, Failed, Finished, RunEvent, Started
from tltui.core.protocol.messages import PROTOCOL_VERSION
from tltui.core.protocol.requests import CancelRun, GetCapabilities, GetEvents, ListRuns, ResumeRun, StartRun

pytestmark = pytest.mark.asyncio(loop_scope="module")

TINY = RunConfig(data="builtin", weights="none", image_size=32, limit_per_class=4, epochs=1, batch_size=16)


async def run_to_end(client: WorkerClient, run_id: str, timeout: float = 240) -> list[RunEvent]:
    """Every event of ``run_id`` up to and including its terminal one."""
    events = []
    while True:
        event = await asyncio.wait_for(client.events.get(), timeout)
        assert event is not None, client.gone
        if event.run_id == run_id:
            events.append(event)
            if isinstance(event, TERMINAL_EVENTS):
                return events


async def test_hello_carries_capabilities(worker):
    caps = worker.hello.capabilities
    assert worker.hello.protocol == PROTOCOL_VERSION
    assert caps.torch_version[0].isdigit() and "cpu" in caps.devices
    assert caps.host and caps.weights_dir
    again = await worker.request(GetCapabilities())
    assert again.torch_version == caps.torch_version


async def test_garbage_never_kills_the_worker(worker):
    rng = random.Random(0)
    junk = [
        b"not json\n",
        b"\n\n   \n",
        b"[1, 2, 3]\n",
        b'{"type": "teleport", "id": 5}\n',
        b'{"type": "start_run", "id": 6, "config": {"epochs": "many"}}\n',
        b'{"type": "cancel_run"}\n',
        bytes(rng.randrange(256) for _ in range(5000)) + b"\n",
        b'{"type": "capabilities", "id": ' + b"9" * (MAX_LINE + 10) + b"}\n",
        b"\xff" * (MAX_LINE + 100),
        b"\n",
    ]
    for chunk in junk:
        await worker.send_bytes(chunk)
    caps = await asyncio.wait_for(worker.request(GetCapabilities()), 30)
    assert caps.torch_version
    assert not worker.gone


async def test_bad_input_is_one_line(worker, tmp_path):
    missing = tmp_path / "no-such-folder"
    with pytest.raises(WorkerError) as caught:
        await worker.request(StartRun(config=RunConfig(data=str(missing), weights="none")))
    assert str(missing) in str(caught.value) and "\n" not in str(caught.value)


async def test_a_run_reports_every_event_in_order_and_replays(worker):
    reply = await worker.request(StartRun(config=TINY))
    events = await run_to_end(worker, reply.run_id)
    assert isinstance(events[0], Started) and isinstance(events[-1], Finished)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [type(e) for e in events].count(Epoch) == 1
    run_dir = reply.run_dir
    assert {"config.json", "events.jsonl", "best.pt", "last.pt"} <= set(os.listdir(run_dir))
    result = await worker.request(GetEvents(run_id=reply.run_id, after_seq=2))
    replayed = [await worker.events.get() for _ in range(result.replayed)]
    assert [e.seq for e in replayed] == [e.seq for e in events[2:]]
    summaries = await worker.request(ListRuns())
    assert (summaries[-1].run_id, summaries[-1].status) == (reply.run_id, "finished")


async def test_cancel_keeps_the_checkpoint_and_resume_finishes_the_run(worker):
    reply = await worker.request(StartRun(config=msgspec_replace(TINY, epochs=3, limit_per_class=6)))
    run_id = reply.run_id
    while not isinstance(event := await asyncio.wait_for(worker.events.get(), 240), Epoch):
        assert event is not None
    ids = [s.run_id for s in await worker.request(ListRuns()) if s.run_id != run_id]
    prefix = next(run_id[:n] for n in range(1, len(run_id) + 1) if not any(i.startswith(run_id[:n]) for i in ids))
    assert (await worker.request(CancelRun(run_id=prefix))).run_id == run_id  # a prefix is enough
    events = await run_to_end(worker, run_id)
    cancelled = events[-1]
    assert isinstance(cancelled, Cancelled) and cancelled.epoch == 1
    assert not any(isinstance(e, Epoch) and e.epoch > 1 for e in events)
    assert {"last.pt", "resume.pt"} <= set(os.listdir(reply.run_dir))
    with pytest.raises(WorkerError, match="not running"):
        await worker.request(CancelRun(run_id=run_id))

    await worker.request(ResumeRun(run_id=run_id))
    resumed = await run_to_end(worker, run_id)
    assert isinstance(resumed[0], Started) and resumed[0].resumed_from == 1
    assert resumed[0].seq == cancelled.seq + 1
    assert [e.epoch for e in resumed if isinstance(e, Epoch)] == [2, 3]
    assert isinstance(resumed[-1], Finished)
    with pytest.raises(WorkerError, match="has finished"):
        await worker.request(ResumeRun(run_id=run_id))


async def test_a_failing_run_ends_failed_and_the_worker_serves_on(worker):
    reply = await worker.request(StartRun(config=msgspec_replace(TINY, lr=1000, optimizer="sgd")))
    events = await run_to_end(worker, reply.run_id)
    failed = events[-1]
    assert isinstance(failed, Failed)
    assert "NaN" in failed.reason or "inf" in failed.reason
    assert "--lr" in failed.hint
    assert (await worker.request(GetCapabilities())).torch_version


def msgspec_replace(config: RunConfig, **fields) -> RunConfig:
    import msgspec

    return msgspec.structs.replace(config, **fields)


async def test_a_run_whose_end_cannot_be_written_is_told_to_its_clients_and_given_up(tmp_path):
    """The disk is so full that not even the Failed event fits: clients hear it all the same, and the run
    is left without an owner (listed interrupted; the next worker marks it failed)."""
    from tltui.engine import train
    from tltui.worker.store import RunRecorder, RunStore
    from tltui.worker.training import ActiveRun, Training

    store = RunStore(tmp_path)
    run = store.create(TINY)
    recorder = RunRecorder(run)
    heard = []
    recorder.listeners.append(heard.append)
    os.close(recorder._fd)
    recorder._fd = os.open(run.events_path, os.O_RDONLY)  # every write now fails, as on a full disk
    training = Training(train, threads=1)
    training.end(ActiveRun(run, recorder, TINY), Failed, reason="no space left")
    recorder.close()
    assert [type(e) for e in heard] == [Failed] and heard[0].seq == 1
    status, reason = training.unrecorded[run.id]  # the daemon lists it so, while it lives
    assert status == "failed" and reason.startswith("no space left (not recorded: ")
    assert run.events() == [] and run.summary().status == "interrupted"


async def test_every_request_of_the_protocol_has_its_handler(tmp_path):
    """The daemon answers each request type through its table; one added to the protocol without a handler
    fails here, not as 'unsupported request' in a user's hands."""
    from typing import get_args

    from tltui.core.protocol.requests import AnyRequest
    from tltui.worker.daemon import Daemon
    from tltui.worker.store import RunStore

    handlers = Daemon(RunStore(tmp_path)).handlers
    assert set(handlers) == set(get_args(AnyRequest))
