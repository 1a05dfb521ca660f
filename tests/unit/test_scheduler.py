"""The daemon's queue (worker/scheduler.py) on made-up hosts: which queued run starts on which devices."""

from __future__ import annotations

from tltui.core.protocol.config import RunConfig
from tltui.worker.scheduler import Launch, Scheduler

FOUR_GPUS = [f"cuda:{i}" for i in range(4)] + ["cpu"]


def config(**fields) -> RunConfig:
    return RunConfig(data="builtin", **fields)


def test_runs_of_several_gpus_are_served_first_come_first_served():
    """A run of 2 takes two GPUs; a run of 4 waits for all four and holds back the runs behind it, even those
    that would fit now, so it is never starved; once the first ends it gets all four."""
    queue = Scheduler(FOUR_GPUS, cores=8)
    for run_id, fields in (("a", dict(nproc=2)), ("b", dict(nproc=4)), ("c", dict(nproc=1)),
                           ("d", dict(device="cuda:3"))):
        queue.queue(run_id, config(**fields))
    assert queue.start() == [Launch("a", ["cuda:0", "cuda:1"], "cuda", 2)]
    assert (queue.waiting("b"), queue.waiting("c"), queue.waiting("d")) == (0, 1, 2)
    assert queue.start() == []  # nothing has ended: nothing more starts
    queue.release("a")
    assert queue.start() == [Launch("b", ["cuda:0", "cuda:1", "cuda:2", "cuda:3"], "cuda", 4)]
    queue.release("b")
    assert queue.start() == [Launch("c", ["cuda:0"], "cuda:0", 1), Launch("d", ["cuda:3"], "cuda:3", 1)]


def test_nproc_all_takes_the_free_gpus_that_divide_the_batch():
    queue = Scheduler(FOUR_GPUS, cores=8)
    queue.queue("x", config(device="cuda:1"))
    assert queue.start() == [Launch("x", ["cuda:1"], "cuda:1", 1)]
    queue.queue("e", config(nproc=0, batch_size=32))
    assert queue.start() == [Launch("e", ["cuda:0", "cuda:2"], "cuda", 2)]  # 3 free; 2 of them divide 32


def test_a_run_that_waits_for_a_named_gpu_holds_back_that_gpu_only():
    queue = Scheduler(FOUR_GPUS, cores=8)
    queue.queue("x", config(device="cuda:0"))
    queue.queue("y", config(device="cuda:0"))
    queue.queue("z", config())
    assert queue.start() == [Launch("x", ["cuda:0"], "cuda:0", 1), Launch("z", ["cuda:1"], "cuda:1", 1)]
    queue.release("x")
    assert queue.start() == [Launch("y", ["cuda:0"], "cuda:0", 1)]


def test_cpu_processes_on_a_gpu_host_take_a_turn_on_one_slot():
    queue = Scheduler(FOUR_GPUS, cores=8)
    queue.queue("p", config(device="cpu", nproc=2))
    assert queue.start() == [Launch("p", ["cuda:0"], "cpu", 2)]


def test_a_host_of_one_device_trains_one_run_at_a_time():
    """One GPU or none: a run takes the host's one device, and the next waits its turn. Several processes
    are CPU processes on a host without a GPU; on a host of one GPU, one process on it."""
    for devices, several in ((["cpu"], Launch("two", [""], "auto", 2)),
                             (["cuda:0", "cpu"], Launch("two", [""], "cuda", 1))):
        queue = Scheduler(devices, cores=4)
        assert queue.slots == [""]
        queue.queue("one", config())
        queue.queue("two", config(nproc=2 if devices == ["cpu"] else 0, batch_size=32))
        queue.queue("three", config())
        assert queue.start() == [Launch("one", [""], "auto", 1)]
        assert queue.waiting("two") == 0 and queue.waiting("three") == 1
        queue.release("one")
        assert queue.start() == [several]


def test_a_queued_run_that_is_dropped_never_starts_and_no_longer_holds_back_the_queue():
    queue = Scheduler(FOUR_GPUS, cores=8)
    queue.queue("a", config(nproc=4))
    assert queue.start()[0].run_id == "a"
    queue.queue("b", config(nproc=4))
    queue.queue("c", config())
    assert queue.start() == []
    assert queue.drop("b") and not queue.drop("b") and not queue.drop("a")  # a has started: not waiting
    assert queue.waiting("c") == 0
    queue.release("a")
    assert queue.start() == [Launch("c", ["cuda:0"], "cuda:0", 1)]


def test_releasing_a_run_frees_only_its_own_slots():
    queue = Scheduler(FOUR_GPUS, cores=8)
    queue.queue("a", config(nproc=2))
    queue.queue("b", config(nproc=2))
    assert [launch.run_id for launch in queue.start()] == ["a", "b"]
    queue.release("a")
    queue.release("a")  # twice: nothing more is freed
    queue.queue("c", config(nproc=3))
    assert queue.start() == []  # two GPUs free, b still holds two
    queue.queue("d", config(nproc=2))
    assert queue.start() == []  # c waits for three, and holds back d, which would fit
    queue.release("b")
    assert queue.start() == [Launch("c", ["cuda:0", "cuda:1", "cuda:2"], "cuda", 3)]


def test_what_a_host_cannot_give_is_refused_in_one_line():
    gpus = Scheduler(FOUR_GPUS, cores=8)
    assert gpus.refusal(config(nproc=8, batch_size=32)).startswith(
        "--nproc 8 takes 8 GPUs, one process each, and this host has 4 (cuda:0, cuda:1, cuda:2, cuda:3)")
    assert gpus.refusal(config(nproc=4)) is None and gpus.refusal(config(nproc=0)) is None
    assert gpus.refusal(config(nproc=1)) is None
    cpu = Scheduler(["cpu"], cores=2)
    assert cpu.refusal(config(nproc=0)).startswith("--nproc all takes every free GPU, and this host has none")
    assert cpu.refusal(config(nproc=2)) is None
    assert cpu.refusal(config(nproc=4)).startswith("--nproc 4 CPU processes: this host has 2 cores")
    assert gpus.refusal(config(device="cpu", nproc=16, batch_size=32)).startswith("--nproc 16 CPU processes")
    mac = Scheduler(["mps", "cpu"], cores=8)
    assert "the Apple GPU (MPS) is one device" in mac.refusal(config(nproc=2))
    assert mac.refusal(config(device="cpu", nproc=2)) is None
