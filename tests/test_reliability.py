"""The reliability suite: a real SSH server on loopback and the system ssh; faults injected on purpose.

Faults: a dropped SSH connection mid-run, kill -9 of the worker daemon mid-run (also in
test_ui_training.py, through the tutor), a torn last line in an events file, garbage through the
bridge, a socket and a directory with the wrong permissions or owner. For each: the run survives
where it should, and no event is lost.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys

import pytest

from sshd import SSHServer
from tltui import protocol, remote
from tltui.client import WorkerClient, WorkerError, WorkerGone
from tltui.protocol import MAX_LINE, RunConfig
from tltui.runs import RunStore

TINY = RunConfig(data="builtin", weights="none", image_size=32, limit_per_class=6, epochs=3, batch_size=16,
                 augment=())
CLI_TINY = ["builtin", "--weights", "none", "--image-size", "32", "--limit-per-class", "4", "--batch-size", "16"]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    server = SSHServer(tmp_path_factory.mktemp("sshd"))
    yield server
    server.close()


@pytest.fixture
def over_ssh(sshd, monkeypatch):
    monkeypatch.setenv("TLTUI_SSH_COMMAND", sshd.ssh_command)
    return sshd.host


def tltui(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tltui", *args], capture_output=True, text=True, timeout=timeout)


def test_a_fine_tune_through_ssh_end_to_end(over_ssh):
    result = tltui("train", *CLI_TINY, "--epochs", "2", "--json", "--remote", over_ssh)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [1, 2]
    assert events[-1]["event"] == "finished"
    assert "has no GPU" in result.stderr  # the remote check says where the run trains
    listing = tltui("runs", "--remote", over_ssh)
    assert events[-1]["run_id"] in listing.stdout and "finished" in listing.stdout


async def next_event(client: WorkerClient, timeout: float = 240) -> protocol.RunEvent:
    event = await asyncio.wait_for(client.events.get(), timeout)
    assert event is not None, client.gone
    return event


async def test_a_dropped_connection_loses_no_event_and_the_run_finishes(over_ssh):
    first = WorkerClient(remote.worker_command(over_ssh))
    await first.start()
    run_id = (await first.request(protocol.StartRun, config=TINY))["run_id"]
    seen = []
    while not any(isinstance(e, protocol.Progress) for e in seen):
        seen.append(await next_event(first))
    first.kill()  # the ssh client dies: the connection drops mid-run
    while (event := await asyncio.wait_for(first.events.get(), 30)) is not None:
        seen.append(event)  # what was already on its way before the drop
    assert first.gone
    await first.close()

    second = WorkerClient(remote.worker_command(over_ssh))
    await second.start()
    summaries = await second.request(protocol.ListRuns)
    assert {s["run_id"]: s["status"] for s in summaries}[run_id] == "running"
    await second.request(protocol.GetEvents, run_id=run_id, after_seq=seen[-1].seq, follow=True)
    while not isinstance(seen[-1], protocol.TERMINAL_EVENTS):
        seen.append(await next_event(second))
    await second.close(timeout=30)
    assert isinstance(seen[-1], protocol.Finished)
    assert [e.seq for e in seen] == list(range(1, len(seen) + 1))  # no seq missing, none twice
    stored = RunStore().get(run_id).events()
    assert [e.seq for e in stored] == [e.seq for e in seen]


def test_ctrl_c_leaves_a_remote_run_going_and_follow_picks_it_up(over_ssh):
    process = subprocess.Popen([sys.executable, "-m", "tltui", "train", *CLI_TINY, "--epochs", "3",
                                "--limit-per-class", "8", "--json", "--remote", over_ssh],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run_id = ""
    for line in process.stdout:
        event = json.loads(line)
        run_id = event["run_id"]
        if event["event"] == "progress":
            break
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert f"tltui runs follow {run_id} --remote {over_ssh}" in err
    followed = tltui("runs", "follow", run_id, "--remote", over_ssh, "--json")
    assert followed.returncode == 0, followed.stderr
    events = [json.loads(line) for line in followed.stdout.splitlines()]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))  # replayed from the start
    assert events[-1]["event"] == "finished"


async def test_garbage_through_the_bridge_never_stops_the_worker(over_ssh):
    client = WorkerClient(remote.worker_command(over_ssh))
    await client.start()
    rng = random.Random(7)
    for _ in range(200):
        await client.send_bytes(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))) + b"\n")
    for line in (b'{"type":"hello","protocol":99}', b'{"type":"capabilities","id":1,"protocol":0}',
                 b'{"type":"start_run","id":2,"config":{"epochs":-1}}', b'{"id":3}', b"null", b"{}" * 1000):
        await client.send_bytes(line + b"\n")
    await client.send_bytes(b"x" * (MAX_LINE + 10) + b"\n")
    caps = await asyncio.wait_for(client.request(protocol.GetCapabilities), 60)
    assert caps["torch_version"] and not client.gone
    await client.close(timeout=30)


def test_a_torn_events_line_is_skipped_and_the_run_still_lists(over_ssh):
    result = tltui("train", *CLI_TINY, "--epochs", "1", "--json", "--remote", over_ssh)
    run_id = json.loads(result.stdout.splitlines()[-1])["run_id"]
    events = RunStore().get(run_id).events_path
    data = events.read_bytes()
    events.write_bytes(data[: len(data) - 30])  # power lost in the middle of the last line
    listing = tltui("runs", "--remote", over_ssh, "--json")
    (summary,) = [json.loads(line) for line in listing.stdout.splitlines() if run_id in line]
    assert summary["epochs_done"] == 1


def test_a_socket_or_directory_that_is_not_private_is_refused(data_dir):
    sock_dir = data_dir / "sock"
    sock_dir.mkdir(mode=0o755)
    sock_dir.chmod(0o755)
    refused = subprocess.run([sys.executable, "-m", "tltui", "worker", "--stdio"], input="", capture_output=True,
                             text=True, timeout=60)
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "mode 755 lets others in" in refused.stderr
    sock_dir.chmod(0o700)
    os.chown(sock_dir, 12345, -1)
    refused = subprocess.run([sys.executable, "-m", "tltui", "worker", "--stdio"], input="", capture_output=True,
                             text=True, timeout=60)
    assert refused.returncode == 2 and "belongs to uid 12345" in refused.stderr
    os.chown(sock_dir, os.getuid(), -1)
    import socket as sockets

    listener = sockets.socket(sockets.AF_UNIX)
    listener.bind(str(sock_dir / "worker.sock"))
    (sock_dir / "worker.sock").chmod(0o666)
    refused = subprocess.run([sys.executable, "-m", "tltui", "worker", "--stdio"], input="", capture_output=True,
                             text=True, timeout=60)
    listener.close()
    assert refused.returncode == 2 and "worker socket" in refused.stderr and "lets others in" in refused.stderr


async def test_the_remote_side_is_checked_before_it_is_used(over_ssh, tmp_path):
    ssh = remote.worker_command(over_ssh)[:-3]
    with pytest.raises(WorkerGone, match=f"tltui is not installed on {over_ssh}"):
        await WorkerClient([*ssh, "tltui-is-not-here", "worker", "--stdio"]).start()
    old = tmp_path / "old_worker.py"
    old.write_text(
        "import json, time\n"
        "print(json.dumps({'type': 'hello', 'protocol': 99, 'capabilities': {'host': 'old', "
        "'tltui_version': '0', 'torch_version': '0', 'devices': []}}), flush=True)\n"
        "time.sleep(30)\n"
    )
    with pytest.raises(WorkerError, match="speaks protocol 99, this tltui speaks"):
        await WorkerClient([*ssh, sys.executable, str(old)]).start()
