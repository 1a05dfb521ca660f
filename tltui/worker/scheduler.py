"""Which queued run starts, on which devices: the daemon's queue as a pure class (no threads, no I/O).

A slot is what one run takes while it trains: each GPU (``cuda:N``) of a host with several, else ``""``,
the host's one device. The queue is first come, first served, and a run that cannot start holds back the
slots it waits for from the runs behind it (the GPU it names, or every slot when it waits for a number of
GPUs or for the host's one device), so a run of several GPUs is never starved. The daemon queues a run,
launches what ``start`` returns, and releases a run's slots when it ends.
"""

from __future__ import annotations

from dataclasses import dataclass

from tltui.core.protocol.config import RunConfig


@dataclass(frozen=True)
class Launch:
    """A run to start now: the slots it holds, and the device and number of processes it trains with."""

    run_id: str
    slots: list[str]
    device: str
    processes: int


class Scheduler:
    """The queue of one daemon's host: its ``devices`` (as the worker's capabilities list them) and ``cores``."""

    def __init__(self, devices: list[str], cores: int) -> None:
        self.devices, self.cores = devices, cores
        self.gpus = [d for d in devices if d.startswith("cuda")]
        self.slots = self.gpus if len(self.gpus) > 1 else [""]
        """What runs take while they train: each GPU of a host with several, else the host's one device."""
        self._busy: dict[str, str] = {}
        """Slot -> the run that holds it."""
        self._pending: dict[str, RunConfig] = {}
        """Runs waiting for their slots, first come first served (a dict keeps their order)."""

    def refusal(self, config: RunConfig) -> str | None:
        """Why a run that asks for more GPUs than this host has (one that waits for GPUs other runs hold is
        queued instead), or for several processes on a device that cannot share them, is refused; or None."""
        n = config.nproc
        if n == 1:
            return None
        asked = "--nproc all" if n == 0 else f"--nproc {n}"
        if config.device == "cpu":
            return self._too_many_cores(asked, n)
        if not self.gpus:
            if n == 0:
                return (f"{asked} takes every free GPU, and this host has none: use --device cpu --nproc N "
                        "for N CPU processes")
            if "mps" in self.devices and config.device == "auto":
                return (f"{asked}: the Apple GPU (MPS) is one device that processes cannot share; use "
                        f"--device cpu --nproc {n} for CPU processes, or --nproc 1")
            return self._too_many_cores(asked, n)  # auto on a CPU-only host: CPU processes
        if n > len(self.gpus):
            return (f"{asked} takes {n} GPUs, one process each, and this host has {len(self.gpus)} "
                    f"({', '.join(self.gpus)}): use --nproc {len(self.gpus)} or fewer")
        return None

    def _too_many_cores(self, asked: str, n: int) -> str | None:
        """More CPU processes than this host has cores only wait on each other."""
        if n > self.cores:
            return (f"{asked} CPU processes: this host has {self.cores} cores, and more processes than cores only "
                    f"wait on each other: use --nproc {self.cores} or fewer")
        return None

    def queue(self, run_id: str, config: RunConfig) -> None:
        """Put ``run_id`` at the back of the queue; ``start`` says when it starts."""
        self._pending[run_id] = config

    def waiting(self, run_id: str) -> int:
        """How many runs wait before ``run_id`` (0 when it has started, or is first in the queue)."""
        return list(self._pending).index(run_id) if run_id in self._pending else 0

    def drop(self, run_id: str) -> bool:
        """Take a run that has not started out of the queue; False if it was not waiting."""
        return self._pending.pop(run_id, None) is not None

    def start(self) -> list[Launch]:
        """Every waiting run whose slots are free, in order, now holding them."""
        launches = []
        free = [s for s in self.slots if s not in self._busy]
        for run_id, config in list(self._pending.items()):
            taken = self._claim(config, free)
            if taken is None:
                free = [s for s in free if s != config.device] if config.device in self.slots else []
                continue
            del self._pending[run_id]
            free = [s for s in free if s not in taken]
            for slot in taken:
                self._busy[slot] = run_id
            launches.append(self._place(run_id, config, taken))
        return launches

    def release(self, run_id: str) -> None:
        """Free the slots ``run_id`` holds (it ended); the next ``start`` may give them to another run."""
        for slot in [s for s, holder in self._busy.items() if holder == run_id]:
            del self._busy[slot]

    def _claim(self, config: RunConfig, free: list[str]) -> list[str] | None:
        """The slots ``config`` takes from ``free`` now, or None if it must wait."""
        if self.slots == [""]:
            return [""] if free else None
        if config.device in self.slots:
            return [config.device] if config.device in free else None
        n = config.nproc
        if n == 1 or config.device not in ("auto", "cuda"):
            return free[:1] or None  # one GPU, or a CPU run, which takes a turn as on a host of one device
        if n == 0:  # every free GPU, as many as divide the global batch
            n = max((k for k in range(1, len(free) + 1) if config.batch_size % k == 0), default=0)
        return free[:n] if n and len(free) >= n else None

    def _place(self, run_id: str, config: RunConfig, slots: list[str]) -> Launch:
        """The device and processes a run trains with on ``slots``."""
        gpus = [s for s in slots if s]
        if config.nproc != 1 and config.device in ("auto", "cuda") and self.gpus:
            processes = len(gpus) if gpus else 1  # one per GPU; a host of one GPU: that one
            device = "cuda"
        else:
            processes = max(config.nproc, 1)
            device = gpus[0] if gpus and config.device in ("auto", "cuda") else config.device
        return Launch(run_id, slots, device, processes)
