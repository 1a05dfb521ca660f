"""The reliability suite: a real SSH server on loopback and the system ssh; faults injected on purpose.

Faults: a dropped SSH connection mid-run, kill -9 of the worker daemon mid-run (also in
test_ui_training.py, through the tutor), a torn last line in an events file, garbage through the
bridge, a socket and a directory with the wrong permissions or owner. For each: the run survives
where it should, and no event is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import pwd
import random
import shlex
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

import msgspec
import pytest

from tltui.core import remote
from tltui.core.client import WorkerClient, WorkerError, WorkerGone
from tltui.core.protocol.codec import MAX_LINE
from tltui.core.protocol.config import RunConfig
from tltui.core.protocol.events import (
    TERMINAL_EVENTS,
    Cancelled,
    Epoch,
    Failed,
    Finished,
    Note,
    Progress,
    RunEvent,
    Started,
)
from tltui.core.protocol.requests import (
    CancelRun,
    FindLr,
    Gallery,
    GetCapabilities,
    GetEvents,
    ListRuns,
    LossPictures,
    ResumeRun,
    StartRun,
    WriteBuiltin,
)
from tltui.worker.store import RunRecorder, RunStore

from conftest import stop_daemon

TINY = RunConfig(data="builtin", weights="none", image_size=32, limit_per_class=6, epochs=3, batch_size=16,
                 augment=())
CLI_TINY = ["builtin", "--weights", "none", "--image-size", "32", "--limit-per-class", "4", "--batch-size", "16"]


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


async def next_event(client: WorkerClient, timeout: float = 240) -> RunEvent:
    event = await asyncio.wait_for(client.events.get(), timeout)
    assert event is not None, client.gone
    return event


async def test_a_dropped_connection_loses_no_event_and_the_run_finishes(over_ssh):
    first = WorkerClient(remote.worker_command(over_ssh))
    await first.start()
    run_id = (await first.request(StartRun(config=TINY))).run_id
    seen = []
    while not any(isinstance(e, Progress) for e in seen):
        seen.append(await next_event(first))
    first.kill()  # the ssh client dies: the connection drops mid-run
    while (event := await asyncio.wait_for(first.events.get(), 30)) is not None:
        seen.append(event)  # what was already on its way before the drop
    assert first.gone
    await first.close()

    second = WorkerClient(remote.worker_command(over_ssh))
    await second.start()
    summaries = await second.request(ListRuns())
    assert {s.run_id: s.status for s in summaries}[run_id] == "running"
    await second.request(GetEvents(run_id=run_id, after_seq=seen[-1].seq, follow=True))
    while not isinstance(seen[-1], TERMINAL_EVENTS):
        seen.append(await next_event(second))
    await second.close(timeout=30)
    assert isinstance(seen[-1], Finished)
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
    caps = await asyncio.wait_for(client.request(GetCapabilities()), 60)
    assert caps.torch_version and not client.gone
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
        await WorkerClient([*ssh, "tltui-is-not-here", "worker", "--stdio"], host=over_ssh).start()
    old = tmp_path / "old_worker.py"
    old.write_text(
        "import json, time\n"
        "print(json.dumps({'type': 'hello', 'protocol': 99, 'capabilities': {'host': 'old', "
        "'tltui_version': '0', 'torch_version': '0', 'devices': []}}), flush=True)\n"
        "time.sleep(30)\n"  # an old worker that says hello and then nothing: the stimulus, not a wait
    )
    with pytest.raises(WorkerError, match="speaks protocol 99, this tltui speaks"):
        await WorkerClient([*ssh, sys.executable, str(old)]).start()


# ----------------------------------------------------------------------------------------------
# The attacks of issue 11: each one tried again, as a hostile or a careless user would.

TINY_CLI = ["builtin", "--model", "tiny", "--epochs", "1", "--limit-per-class", "10"]


def one_line(result: subprocess.CompletedProcess, words: str) -> None:
    """A user error: exit 2, one line on stderr saying ``words``, no traceback, never 'please report it'."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert result.stderr.count("\n") == 1 and words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "report it" not in result.stderr


def test_five_runs_started_together_from_cold_all_train(data_dir):
    command = [sys.executable, "-m", "tltui", "train", *TINY_CLI]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(5)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in processes]
    assert [code for code, _ in results] == [0] * 5, results
    summaries = RunStore(data_dir / "runs").summaries()
    assert [s.status for s in summaries] == ["finished"] * 5


def rss_mib(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def unread(sock: socket.socket) -> int:
    """Bytes that came to ``sock`` and were not read."""
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0" * 4))[0]


def daemon_pid(data_dir) -> int:
    return int((data_dir / "sock" / "daemon.pid").read_text())


@contextlib.contextmanager
def small_disk(path, megabytes: int):
    """A filesystem of ``megabytes`` at ``path``: a tmpfs (this needs root)."""
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m,mode=700", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path, leave: int) -> None:
    """Write a file at ``path`` that leaves ``leave`` bytes free on its filesystem (0: every byte taken)."""
    free = os.statvfs(path.parent).f_bavail * os.statvfs(path.parent).f_frsize
    with open(path, "wb") as file:
        try:
            file.write(b"\0" * max(0, free - leave))
            file.flush()
        except OSError:
            pass


DISK_RUN = RunConfig(model="tiny", weights="none", limit_per_class=4, epochs=1, batch_size=16, augment=())


async def run_to_end(client: WorkerClient, run_id: str) -> list[RunEvent]:
    events = []
    while not events or not isinstance(events[-1], TERMINAL_EVENTS):
        event = await next_event(client)
        if event.run_id == run_id:
            events.append(event)
    return events


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root; the RLIMIT_FSIZE test runs instead")
async def test_a_full_disk_fails_the_run_in_one_line_and_the_worker_serves_on(tmp_path, monkeypatch):
    with small_disk(tmp_path / "disk", 16) as disk:
        data = disk / "data"
        monkeypatch.setenv("TLTUI_DATA_DIR", str(data))
        client = WorkerClient()
        await client.start()
        try:
            earlier = (await client.request(StartRun(config=DISK_RUN))).run_id
            assert isinstance((await run_to_end(client, earlier))[-1], Finished)
            kept = (data / "runs" / earlier / "events.jsonl").read_bytes()

            fill(disk / "filler", leave=1_000_000)  # room for events, not for a checkpoint
            full = (await client.request(StartRun(config=DISK_RUN))).run_id
            failed = (await run_to_end(client, full))[-1]
            assert isinstance(failed, Failed)
            assert failed.reason.startswith(f"no space left on the tmpfs filesystem at {disk} (writing {data}/runs/")
            assert "\n" not in failed.reason and "report it" not in failed.hint

            fill(disk / "filler2", leave=0)  # not a byte left: a new run cannot even be created
            with pytest.raises(WorkerError, match=f"no space left on the tmpfs filesystem at {disk}"):
                await client.request(StartRun(config=DISK_RUN))
            assert (await client.request(GetCapabilities())).torch_version  # it serves on

            (disk / "filler").unlink()
            (disk / "filler2").unlink()
            later = (await client.request(StartRun(config=DISK_RUN))).run_id
            assert isinstance((await run_to_end(client, later))[-1], Finished)  # the queue trains again

            assert not [p for p in data.rglob("*") if p.name.endswith(".tmp")]
            store = RunStore(data / "runs")
            statuses = {s.run_id: s.status for s in store.summaries()}
            assert statuses == {earlier: "finished", full: "failed", later: "finished"}
            assert (data / "runs" / earlier / "events.jsonl").read_bytes() == kept
        finally:
            await client.close(timeout=30)
            stop_daemon(data)


async def test_a_file_size_limit_fails_the_run_in_one_line_and_the_worker_serves_on(data_dir):
    """Without root, RLIMIT_FSIZE stands for the full disk: a checkpoint (2.5 MB) is over the limit."""
    limited = [sys.executable, "-c", "import os, resource, sys; "
               "resource.setrlimit(resource.RLIMIT_FSIZE, (2**20, 2**20)); "
               "os.execv(sys.executable, [sys.executable, '-m', 'tltui', 'worker', '--stdio'])"]
    client = WorkerClient(limited)
    await client.start()
    try:
        for _ in range(2):  # the queue goes on after the first one
            run_id = (await client.request(StartRun(config=DISK_RUN))).run_id
            failed = (await run_to_end(client, run_id))[-1]
            assert isinstance(failed, Failed)
            assert failed.reason.startswith(f"cannot write {data_dir}/runs/{run_id}/resume.pt: the file is larger")
        assert (await client.request(GetCapabilities())).torch_version
        assert not [p for p in data_dir.rglob("*") if p.name.endswith(".tmp")]
    finally:
        await client.close(timeout=30)


@pytest.fixture(scope="module")
def other_user():
    """A second local user, made for these tests (useradd) and removed after."""
    if os.geteuid() != 0:
        pytest.skip("making a second user to attack from needs root (useradd)")
    name = f"tltui-attacker-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"  # one per test process
    made = subprocess.run(["useradd", "-M", "-s", "/bin/false", name], capture_output=True).returncode == 0
    yield pwd.getpwnam(name)
    if made:
        subprocess.run(["userdel", name], capture_output=True)


def test_a_data_dir_another_user_made_is_refused_and_no_link_of_theirs_is_followed(other_user, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("the victim's private file")
    secret.chmod(0o600)
    shared = Path(tempfile.mkdtemp(dir="/tmp"))  # like /tmp itself: anyone may make a folder in it
    shared.chmod(0o1777)
    try:
        data = shared / "tltui"

        def attacker(*command: str) -> None:
            subprocess.run(command, check=True, user=other_user.pw_uid, group=other_user.pw_gid)

        # The attacker is first: the data dir (0777), the run store, and a run folder whose temporary
        # checkpoint names lead to the victim's file.
        attacker("mkdir", "-m", "777", str(data), str(data / "runs"))
        planted = data / "runs" / "20990101-000000-beef"
        attacker("mkdir", "-m", "777", str(planted))
        for name in ("last.pt.tmp", "best.pt.tmp", "resume.pt.tmp", "last.pt", "config.json"):
            attacker("ln", "-s", str(secret), str(planted / name))
        env = {**os.environ, "TLTUI_DATA_DIR": str(data)}
        for args in (["train", *TINY_CLI], ["runs"]):
            result = subprocess.run([sys.executable, "-m", "tltui", *args], capture_output=True, text=True,
                                    timeout=120, env=env)
            one_line(result, f"refusing the data directory {data}: it belongs to uid {other_user.pw_uid}, not you")
        assert secret.read_text() == "the victim's private file"
        assert not (data / "sock").exists()  # no daemon was started there

        # The victim's own folder, but open to all: refused too, then fine once closed.
        own = tmp_path / "own"
        own.mkdir(mode=0o777)
        own.chmod(0o777)
        result = tltui_env({"TLTUI_DATA_DIR": str(own)}, "runs")
        one_line(result, f"refusing the data directory {own}: mode 777 lets others write in it (chmod 700 {own})")
        own.chmod(0o700)
        (own / "runs").mkdir()
        os.chown(own / "runs", other_user.pw_uid, other_user.pw_gid)
        result = tltui_env({"TLTUI_DATA_DIR": str(own)}, "runs")
        one_line(result, f"refusing the run store {own / 'runs'}: it belongs to uid {other_user.pw_uid}")
    finally:
        shutil.rmtree(shared)


def tltui_env(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tltui", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **env})


def test_a_new_store_is_private_to_its_owner(data_dir):
    result = tltui("runs")
    assert result.returncode == 0, result.stderr
    for path in (data_dir, data_dir / "runs"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700


def raw_client(data_dir) -> tuple[socket.socket, object]:
    """A connection straight to the daemon's socket, past its hello; (socket, its lines)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(data_dir / "sock" / "worker.sock"))
    sock.settimeout(60)
    lines = sock.makefile("rb")
    assert json.loads(lines.readline())["type"] == "hello"
    return sock, lines


async def test_a_client_that_never_reads_stalls_no_one_and_deep_json_is_answered(data_dir):
    store = RunStore(data_dir / "runs")
    for _ in range(150):  # replies of ~100 KB each
        recorder = RunRecorder(store.create(RunConfig()))
        recorder.emit(Note, message="x" * 200)
        recorder.close()
    client = WorkerClient()
    await client.start()
    pid = daemon_pid(data_dir)
    try:
        deep, lines = await asyncio.to_thread(raw_client, data_dir)
        for line in (b"[" * 100_000 + b"]" * 100_000,
                     b'{"type":"capabilities","id":5,"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}"):
            deep.sendall(line + b"\n")
            answer = json.loads(await asyncio.to_thread(lines.readline))
            assert answer["type"] == "error" and answer["message"].startswith("bad request")
        assert answer["id"] == 5 and answer["message"] == "bad request: nested too deeply"
        deep.close()

        await client.request(ListRuns())
        before = rss_mib(pid)
        hog, _ = await asyncio.to_thread(raw_client, data_dir)
        requests = b'{"type":"list_runs","id":1}\n' * 20_000

        def flood() -> None:
            try:
                hog.sendall(requests)  # blocks once the daemon stops reading: it never reads a reply
            except OSError:
                pass

        flooding = asyncio.create_task(asyncio.to_thread(flood))
        deadline = time.monotonic() + 60
        while unread(hog) < 100_000:  # until a whole reply waits for a client that never reads it
            assert time.monotonic() < deadline, "the daemon never answered the flood"
            await asyncio.sleep(0.05)  # the next look at the socket
        for _ in range(5):
            started = time.monotonic()
            runs = await asyncio.wait_for(client.request(ListRuns()), 30)
            assert len(runs) == 150 and time.monotonic() - started < 5
        grown = rss_mib(pid) - before
        assert grown < 100, f"the daemon grew by {grown:.0f} MiB for a client that does not read"
        hog.shutdown(socket.SHUT_RDWR)
        hog.close()
        await flooding
        assert (await client.request(GetCapabilities())).torch_version
    finally:
        await client.close(timeout=30)


async def test_queued_runs_hold_no_model_or_data_until_they_start(data_dir):
    client = WorkerClient()
    await client.start()
    pid = daemon_pid(data_dir)
    try:
        busy = (await client.request(StartRun(config=msgspec.structs.replace(DISK_RUN, epochs=500)))).run_id
        while not isinstance(await next_event(client), Epoch):
            pass
        before = rss_mib(pid)
        queued = []
        for n in range(6):  # ResNet-50 and its decoded images: about 120 MB each if held while queued
            reply = await client.request(StartRun(config=RunConfig(weights="none", epochs=1)))
            assert reply.queued_behind == n  # waiting behind the busy run and n others
            queued.append(reply.run_id)
        grown = rss_mib(pid) - before
        assert grown < 60, f"6 queued ResNet-50 runs took {grown:.0f} MiB"
        for run_id in [busy, *queued]:
            await client.request(CancelRun(run_id=run_id))
        ends = {}
        while len(ends) < 7:
            event = await next_event(client)
            if isinstance(event, TERMINAL_EVENTS):
                ends[event.run_id] = type(event)
        assert set(ends.values()) == {Cancelled}
    finally:
        await client.close(timeout=30)


def test_a_far_side_that_never_says_hello_is_given_up_in_the_stated_time():
    env = {"TLTUI_SSH_COMMAND": "sh -c 'sleep 600'", "TLTUI_HELLO_TIMEOUT_S": "3"}
    started = time.monotonic()
    result = tltui_env(env, "runs", "--remote", "quiet-host", timeout=60)
    assert time.monotonic() - started < 30
    one_line(result, "the worker did not say hello within 3 s (sh -c 'sleep 600'")


def test_sigterm_and_sighup_leave_the_run_going_as_ctrl_c_does(data_dir):
    for signum in (signal.SIGTERM, signal.SIGHUP):
        process = subprocess.Popen([sys.executable, "-m", "tltui", "train", *CLI_TINY, "--epochs", "3",
                                    "--limit-per-class", "8", "--json"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for line in process.stdout:
            event = json.loads(line)
            if event["event"] == "progress":
                break
        process.send_signal(signum)
        out, err = process.communicate(timeout=60)
        assert process.returncode == 128 + signum, err
        assert f"left run {event['run_id']} going; follow it again with: tltui runs follow {event['run_id']}" in err
        assert "Traceback" not in err
        followed = tltui("runs", "follow", event["run_id"], "--json")
        assert followed.returncode == 0, followed.stderr
        assert json.loads(followed.stdout.splitlines()[-1])["event"] == "finished"


def test_every_user_error_is_one_line_and_exit_2(data_dir, tmp_path):
    for flags, words in (
        (["--lr", "1e308"], "--lr must be a positive number up to 1000, not 1e+308"),
        (["--weight-decay", "nan"], "--weight-decay must be in [0, 1], not nan"),
        (["--seed", "-1"], "--seed must be between 0 and 2147483647, not -1"),
        (["--epochs", "100000"], "--epochs must be between 1 and 1000, not 100000"),
        (["--freeze", "layer4", "--unfreeze", "2:layer4,3:layer4"], "--unfreeze names layer4 twice"),
        (["--device", "cpu:99"], "--device cpu:99: there is one cpu device, cpu (no index)"),
        (["--max-files", "-1"], "--max-files must be 0"),
    ):
        one_line(tltui("train", *TINY_CLI, *flags), words)
    one_line(tltui("train", "/", "--model", "tiny"), "refusing to walk /, the whole filesystem")

    # A run store with damage in it: listed as damaged, shown in one line.
    store = RunStore(data_dir / "runs")
    corrupt, no_events = store.create(RunConfig()), store.create(RunConfig())
    (corrupt.path / "config.json").write_text('{"epochs": "many"')
    (no_events.path / "events.jsonl").mkdir()
    listing = tltui("runs")
    assert listing.returncode == 0 and listing.stdout.count(" damaged ") == 2, listing.stdout
    one_line(tltui("runs", "show", corrupt.id), f"run {corrupt.id} is damaged: its config.json is not a run config")
    one_line(tltui("runs", "show", no_events.id), f"run {no_events.id} is damaged: cannot read its events.jsonl")
    one_line(tltui("runs", "resume", no_events.id), f"run {no_events.id} is damaged")

    # Resume from a checkpoint that is text, or an empty dict: refused before anything is queued.
    stopped = store.create(DISK_RUN)
    recorder = RunRecorder(stopped)
    recorder.emit(Cancelled, epoch=1, run_dir=str(stopped.path))
    recorder.close()
    (stopped.path / "resume.pt").write_text("not a checkpoint")
    one_line(tltui("runs", "resume", stopped.id), "resume.pt is not a checkpoint tltui can read")
    (stopped.path / "resume.pt").write_bytes(b"PK\x03\x04" + b"\0" * 100)
    one_line(tltui("runs", "resume", stopped.id), "resume.pt is not a checkpoint tltui can read")

    # `tltui runs show ID | head -1`: the reader leaves early, tltui stops quietly.
    long = store.create(RunConfig(epochs=1000))
    recorder = RunRecorder(long)
    for n in range(1, 1001):
        recorder.emit(Epoch, epoch=n, train_loss=1.0, train_acc=0.5, val_loss=1.0, val_acc=0.5, lrs={},
                      images_per_s=1.0, elapsed=1.0, eta=1.0)
    recorder.close()
    piped = subprocess.run(f"{shlex.quote(sys.executable)} -m tltui runs show {long.id} | head -1", shell=True,
                           capture_output=True, text=True, timeout=60)
    assert piped.stdout.startswith(f"run {long.id}") and piped.stderr == ""

    # The data dir and the worker's own dir: not a directory, not writable.
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    one_line(tltui_env({"TLTUI_DATA_DIR": str(a_file)}, "runs"), f"the data directory {a_file} is not a directory")
    for kind in ("file", "dangling link"):
        sock = data_dir / "sock"
        shutil.rmtree(sock, ignore_errors=True)
        sock.unlink(missing_ok=True)
        if kind == "file":
            sock.write_text("x")
        else:
            sock.symlink_to(tmp_path / "nowhere")
        one_line(tltui("train", *TINY_CLI), f"refusing the worker directory {sock}: it is not a directory")
    with read_only(tmp_path / "ro") as readonly:
        one_line(tltui_env({"TLTUI_DATA_DIR": str(readonly)}, "train", *TINY_CLI), f"data directory {readonly}")


@contextlib.contextmanager
def read_only(path):
    """A directory this user owns but cannot write in: a read-only tmpfs for root, else mode 500."""
    path.mkdir()
    if os.geteuid() == 0:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m,mode=700", "tmpfs", str(path)], check=True)
    else:
        path.chmod(0o500)
    try:
        yield path
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", "-l", str(path)], check=False)
        else:
            path.chmod(0o700)


# ----------------------------------------------------------------------------------------------
# The attacks of issue 22: no one job stalls the others, the socket heals, no input reaches a traceback.

LONG_FIND = FindLr(config=RunConfig(data="builtin", model="tiny", limit_per_class=8, batch_size=16),
                            steps=1000, end_lr=1e-3)


async def test_sixteen_lr_finders_of_two_clients_delay_no_other_clients_listing_or_start(data_dir):
    """Every request once ran on asyncio's default pool (6 threads here): 2 clients x 8 LR finders of 1,000
    steps left a third client's list_runs unanswered for 300 s. Jobs now hold at most LANE_THREADS threads
    of their own, and listing and starting have lanes of theirs."""
    finders = [WorkerClient(), WorkerClient()]
    third = WorkerClient()
    for client in (*finders, third):
        await client.start()
    working = asyncio.Event()
    jobs = [asyncio.create_task(client.request(LONG_FIND, lambda _: working.set()))
            for client in finders for _ in range(8)]
    try:
        await asyncio.wait_for(working.wait(), 120)  # the finders are sweeping
        started = time.monotonic()
        await asyncio.wait_for(third.request(ListRuns()), 30)
        listed = time.monotonic() - started
        started = time.monotonic()
        run = await asyncio.wait_for(third.request(StartRun(config=DISK_RUN)), 30)
        accepted = time.monotonic() - started
        assert listed < 2 and accepted < 2, f"list_runs took {listed:.1f} s, start_run {accepted:.1f} s"
        assert not any(job.done() for job in jobs)  # all sixteen still going or waiting their turn
        await third.request(CancelRun(run_id=run.run_id))
    finally:
        for client in finders:
            client.kill()  # their finders stop; the ones still waiting are never started
            await client.close()
        await asyncio.gather(*jobs, return_exceptions=True)
        await third.close(timeout=30)


async def test_a_deleted_socket_is_bound_again_by_the_live_daemon(data_dir):
    """A temp-file cleaner removed the socket (or its whole folder) while the daemon lived: every command
    then waited 181 s and said the daemon did not start, while the old one trained on out of reach."""
    client = WorkerClient()
    await client.start()
    pid = daemon_pid(data_dir)
    run_id = (await client.request(StartRun(config=msgspec.structs.replace(DISK_RUN, epochs=500)))).run_id
    await client.close()
    sock = data_dir / "sock"
    for removed in (sock / "worker.sock", sock):
        shutil.rmtree(removed) if removed.is_dir() else removed.unlink()
        started = time.monotonic()
        again = WorkerClient()
        await again.start()
        listed = {s.run_id: s.status for s in await again.request(ListRuns())}
        await again.close()
        assert time.monotonic() - started < 10, f"reached again after {time.monotonic() - started:.0f} s"
        assert listed[run_id] == "running"  # the same daemon, with its run: no second one was started
        assert daemon_pid(data_dir) == pid
        assert stat.S_ISSOCK((sock / "worker.sock").lstat().st_mode)
        assert stat.S_IMODE(sock.stat().st_mode) == 0o700
    cancel = tltui("runs", "cancel", run_id, timeout=60)
    assert cancel.returncode == 0, cancel.stderr
    follow = tltui("runs", "follow", run_id, "--json", timeout=120)
    assert json.loads(follow.stdout.splitlines()[-1])["event"] == "cancelled"


def told(result: subprocess.CompletedProcess, words: str, code: int = 2) -> None:
    """Exit ``code`` and one line on stderr saying ``words``: never a traceback."""
    assert result.returncode == code, (result.returncode, result.stderr)
    assert result.stderr.count("\n") == 1 and words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


@pytest.mark.parametrize("kind", ["link", "folder", "fifo"])
def test_a_worker_log_that_is_not_a_file_is_one_line(data_dir, tmp_path, kind):
    """The bridge's os.open of worker.log was not caught: a link or a folder gave a traceback, and a FIFO
    blocked it for 200 s before "did not say hello"."""
    sock = data_dir / "sock"
    sock.mkdir(mode=0o700)
    log = sock / "worker.log"
    {"link": lambda: log.symlink_to(tmp_path / "elsewhere"), "folder": log.mkdir,
     "fifo": lambda: os.mkfifo(log)}[kind]()
    started = time.monotonic()
    result = tltui("train", *TINY_CLI, timeout=60)
    assert time.monotonic() - started < 30
    told(result, f"cannot write the worker's log {log}: ", code=1)
    assert not (tmp_path / "elsewhere").exists()


def without_dac_override(*command: str) -> list[str]:
    """``command`` as root without the right to read other users' folders (as any other user would run it)."""
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", "--bounding-set", caps, "--inh-caps", caps, *command]


def test_paths_that_cannot_be_looked_at_are_one_line(data_dir, tmp_path):
    """parse_data's PermissionError (data under another user's 0700 folder), ENAMETOOLONG (a 300-character
    name, for train and runs show) and ~nosuchuser (as data and as $TLTUI_DATA_DIR) were tracebacks."""
    long = "a" * 300
    told(tltui("train", long, "--model", "tiny"), "File name too long")
    told(tltui("runs", "show", long), "a run id is 20 characters")
    told(tltui("train", "~nosuchuser/x", "--model", "tiny"), "~nosuchuser/x: no such user's home folder")
    told(tltui_env({"TLTUI_DATA_DIR": "~nosuchuser/x"}, "runs"), "no such user's home folder")
    if os.geteuid() == 0 and shutil.which("setpriv"):
        private = tmp_path / "theirs"
        (private / "data").mkdir(parents=True)
        private.chmod(0o700)
        os.chown(private, 12345, 12345)
        result = subprocess.run(without_dac_override(sys.executable, "-m", "tltui", "train", str(private / "data"),
                                                     "--model", "tiny"), capture_output=True, text=True, timeout=60)
        told(result, f"cannot look at {private / 'data'}: Permission denied")


@pytest.mark.parametrize("args", [["runs", "show", "RUN"], ["train", *CLI_TINY, "--epochs", "1"],
                                  ["export", "builtin", "--model", "tiny"]])
def test_a_closed_or_full_standard_output_is_one_line(data_dir, args):
    """`>&-` gave "'NoneType' object has no attribute 'isatty'", `>/dev/full` an ENOSPC traceback."""
    store = RunStore(data_dir / "runs")
    run = store.create(DISK_RUN)
    recorder = RunRecorder(run)
    recorder.emit(Cancelled, epoch=0, run_dir=str(run.path))
    recorder.close()
    command = shlex.join([sys.executable, "-m", "tltui", *[run.id if a == "RUN" else a for a in args]])
    closed = subprocess.run(f"{command} >&-", shell=True, capture_output=True, text=True, timeout=300)
    told(closed, "the standard output is closed")
    full = subprocess.run(f"{command} >/dev/full", shell=True, capture_output=True, text=True, timeout=300)
    assert full.returncode == 1 and "Traceback" not in full.stderr, full.stderr
    assert full.stderr.splitlines()[-1] == "tltui: cannot write the standard output: No space left on device"


def test_environment_values_that_cannot_be_read_are_one_line(data_dir):
    """$TLTUI_WORKER_IDLE_S=abc broke every command (it was parsed at import), and $TLTUI_HELLO_TIMEOUT_S=abc,
    an unclosed quote in $TLTUI_SSH_COMMAND or --worker-cmd were tracebacks."""
    for command in (["runs"], ["export", "builtin", "--model", "tiny"]):
        assert tltui_env({"TLTUI_WORKER_IDLE_S": "abc"}, *command).returncode == 0  # nothing to do with it
    told(tltui_env({"TLTUI_WORKER_IDLE_S": "abc"}, "train", *TINY_CLI), "$TLTUI_WORKER_IDLE_S='abc' is not a number",
         code=1)
    told(tltui_env({"TLTUI_HELLO_TIMEOUT_S": "abc"}, "train", *TINY_CLI),
         "$TLTUI_HELLO_TIMEOUT_S='abc' is not a number", code=1)
    told(tltui_env({"TLTUI_SSH_COMMAND": "ssh 'x"}, "runs", "--remote", "host"),
         "$TLTUI_SSH_COMMAND \"ssh 'x\": No closing quotation")
    told(tltui("--worker-cmd", "'x"), "--worker-cmd \"'x\": No closing quotation")


def test_pretrain_tiny_out_that_cannot_be_written_is_one_line_before_it_trains(tmp_path):
    """--out naming a folder, or a file in a pseudo-filesystem, failed with a traceback after the training."""
    started = time.monotonic()
    told(tltui("pretrain-tiny", "--out", str(tmp_path)), f"--out {tmp_path} is a folder")
    told(tltui("pretrain-tiny", "--out", "/proc/tiny.pt"), "cannot write --out /proc/tiny.pt")
    assert time.monotonic() - started < 30  # refused before minutes of pretraining


# -- the concerns of issue 22 --------------------------------------------------------------------


def test_a_remote_host_that_ssh_would_read_as_an_option_is_refused(tmp_path):
    """`--remote '-oProxyCommand=...'` ran a local command: ssh took the host for an option."""
    proof = tmp_path / "ran"
    for flag in (f"--remote=-oProxyCommand=touch {proof}", "--remote=-F/dev/null"):
        told(tltui("runs", flag), "is not a [USER@]HOST")
    assert not proof.exists()
    command = remote.worker_command("gpu-box")
    assert command[command.index("gpu-box") - 1] == "--"  # ssh reads nothing after it as an option


def test_control_characters_in_class_names_reach_the_terminal_escaped(data_dir, tmp_path):
    """Escape sequences in class and file names reached the terminal raw (one set the title)."""
    from PIL import Image

    folder = tmp_path / "data"
    for name in ("plain", "evil\x1b]0;owned\x07"):
        (folder / name).mkdir(parents=True)
        for i in range(8):
            Image.new("RGB", (40, 40), (i * 30, 0 if name == "plain" else 200, 0)).save(folder / name / f"{i}.png")
    result = tltui("train", str(folder), "--model", "tiny", "--epochs", "1", "--no-augment")
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "evil\\x1b]0;owned\\x07" in result.stdout


def test_a_data_dir_under_a_folder_others_can_write_is_refused(tmp_path):
    """Another user who can write in the data dir's parent renamed it mid-run; sshd's StrictModes refuses
    such parents, and so does tltui now."""
    open_parent = tmp_path / "open"
    open_parent.mkdir()
    open_parent.chmod(0o777)
    told(tltui_env({"TLTUI_DATA_DIR": str(open_parent / "data")}, "runs"),
         f"others can write in the folder {open_parent} above it")
    assert not (open_parent / "data").exists()
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)  # like /tmp: others cannot move what is not theirs
    assert tltui_env({"TLTUI_DATA_DIR": str(sticky / "data")}, "runs").returncode == 0
    if os.geteuid() == 0:
        theirs = tmp_path / "theirs"
        theirs.mkdir()
        os.chown(theirs, 12345, 12345)
        told(tltui_env({"TLTUI_DATA_DIR": str(theirs / "data")}, "runs"),
             f"the folder {theirs} above it belongs to uid 12345")


async def test_bad_input_in_requests_is_refused_in_one_line_not_as_a_bug(data_dir, monkeypatch):
    """5,000-character run ids or paths in requests, a gallery seed of 1e30 and $TLTUI_CACHE_MB=abc were
    answered "internal error" (a bug's label)."""
    monkeypatch.setenv("TLTUI_CACHE_MB", "abc")
    long = "x" * 5000
    client = WorkerClient()
    await client.start()
    try:
        requests = [
            GetEvents(run_id=long), CancelRun(run_id=long), ResumeRun(run_id=long),
            LossPictures(run_id=long), StartRun(config=RunConfig(data="/" + long, model="tiny")),
            FindLr(config=RunConfig(data="/" + long, model="tiny")),
            StartRun(config=RunConfig(model="tiny", weights="/" + long)),
            WriteBuiltin(data="builtin", folder="/" + long, image_size=32),
            Gallery(data="/" + long), Gallery(seed=10**30),
        ]
        for request in requests:
            with pytest.raises(WorkerError) as refused:
                await asyncio.wait_for(client.request(request), 120)
            message = str(refused.value)
            assert "internal error" not in message and "\n" not in message and len(message) < 600, message[:300]
        from tltui.core.groups import BACKBONE

        cached = msgspec.structs.replace(DISK_RUN, frozen=BACKBONE)  # the frozen backbone's outputs are cached
        run_id = (await client.request(StartRun(config=cached))).run_id
        failed = (await run_to_end(client, run_id))[-1]
        assert isinstance(failed, Failed) and "$TLTUI_CACHE_MB='abc' is not a number" in failed.reason
        assert "report it" not in failed.hint
    finally:
        await client.close(timeout=30)


async def test_a_worker_whose_first_line_is_not_a_hello_is_told_at_once():
    """A malformed hello was waited on for 200 s and then called "did not say hello"."""
    started = time.monotonic()
    with pytest.raises(WorkerGone, match="did not answer in tltui's protocol: its first line was b'Welcome"):
        await WorkerClient([sys.executable, "-c", "import time; print('Welcome to the box', flush=True); "
                                                  "time.sleep(60)"]).start()  # a banner, then up: the stimulus
    assert time.monotonic() - started < 20


async def test_a_queued_run_of_a_dead_worker_is_queued_again_and_leftovers_go(data_dir):
    """The next worker marked a run that had only been queued failed; a checkpoint's temporary file of a
    save cut short (kill -9) was left past resume and finish."""
    store = RunStore(data_dir / "runs")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    queued, started = store.create(DISK_RUN), store.create(DISK_RUN)
    recorder = RunRecorder(started)
    recorder.emit(Started, config=DISK_RUN, device="cpu", device_name="cpu", model="tiny", weights="none",
                  classes=["a", "b"], n_train=4, n_val=2, path="full")
    recorder.close()
    for run in (queued, started):
        (run.path / "owner").write_text(dead.stdout.strip())
        (run.path / ".resume.pt.k9x2.tmp").write_bytes(b"half a checkpoint")
    client = WorkerClient()
    await client.start()
    try:
        await client.request(GetEvents(run_id=queued.id, follow=True))
        events = await run_to_end(client, queued.id)
        assert isinstance(events[-1], Finished)
        statuses = {s.run_id: s.status for s in await client.request(ListRuns())}
        assert statuses == {queued.id: "finished", started.id: "failed"}
        assert not list(data_dir.rglob("*.tmp"))
    finally:
        await client.close(timeout=30)


async def test_more_cpu_processes_than_cores_empty_data_and_a_tutor_without_a_terminal_are_refused(data_dir):
    """--nproc allowed 64 CPU processes whatever the cores; data "" walked the daemon's working folder; the
    tutor with its input or output not a terminal ran for ever."""
    cores = len(os.sched_getaffinity(0))
    told(tltui("train", *TINY_CLI, "--device", "cpu", "--nproc", str(cores + 1), "--batch-size", str(8 * (cores + 1))),
         f"this host has {cores} cores")
    told(tltui("train", "", "--model", "tiny"), "DATA is empty")
    client = WorkerClient()
    await client.start()
    try:
        with pytest.raises(WorkerError, match="no data given"):
            await client.request(StartRun(config=RunConfig(data="", model="tiny")))
    finally:
        await client.close(timeout=30)
    told(subprocess.run([sys.executable, "-m", "tltui"], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                        timeout=60), "the tutor needs a terminal")


async def test_a_data_dir_too_long_for_a_unix_socket_works(tmp_path, monkeypatch):
    """A data dir path over about 95 characters gave "AF_UNIX path too long"."""
    data = tmp_path / ("d" * 120)
    monkeypatch.setenv("TLTUI_DATA_DIR", str(data))
    assert len(str(data / "sock" / "worker.sock")) > 108
    client = WorkerClient()
    try:
        await client.start()
        assert (await client.request(GetCapabilities())).torch_version
    finally:
        await client.close(timeout=30)
        stop_daemon(data)


def immutable(*paths: Path, on: bool = True) -> bool:
    """Make ``paths`` immutable (chattr +i: even an open file takes no more writes), or mutable again; False
    where the filesystem or the user cannot."""
    result = subprocess.run(["chattr", "+i" if on else "-i", *map(str, paths)], capture_output=True)
    return result.returncode == 0


async def test_a_run_whose_end_cannot_be_written_is_listed_as_ended_by_its_live_daemon(data_dir, tmp_path):
    """After a read-only remount a failed run was listed running while its daemon (its owner) lived: neither
    its end nor the removal of its owner file could be written. chattr +i stands for the remount (a
    filesystem with files open for writing cannot be remounted read-only)."""
    probe = tmp_path / "probe"
    probe.touch()
    if shutil.which("chattr") is None or not immutable(probe) or not immutable(probe, on=False):
        pytest.skip("chattr +i needs root and a filesystem that has it (ext4, xfs, btrfs)")
    client = WorkerClient()
    await client.start()
    run_dir = None
    try:
        started = await client.request(StartRun(config=msgspec.structs.replace(DISK_RUN, epochs=500)))
        run_dir = Path(started.run_dir)
        while not isinstance(await next_event(client), Epoch):
            pass
        assert immutable(run_dir / "events.jsonl", run_dir)
        end = (await run_to_end(client, started.run_id))[-1]
        assert isinstance(end, Failed) and "Operation not permitted" in end.reason
        (summary,) = [s for s in await client.request(ListRuns()) if s.run_id == started.run_id]
        assert summary.status == "failed" and "not recorded" in summary.reason
    finally:
        if run_dir is not None:
            immutable(run_dir / "events.jsonl", run_dir, on=False)
        await client.close(timeout=30)
