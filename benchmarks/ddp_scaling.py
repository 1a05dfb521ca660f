"""One run over N processes (torch.distributed): training images/s at each N, and the scaling efficiency.

Scaling: the worker's own launcher (``worker/ranks.py``: torchrun on ``engine/ddp.py``) trains the same
full fine-tune at each N with the same per-process batch (weak scaling: the global batch is N times
the batch of one), and the throughput is the median over the epochs after the first of the images/s
the engine reports (training steps only: no start-up, no validation). Efficiency at N is
``images/s(N) / (N * images/s(1))``.

- CPU (default): N = 1, 2 gloo processes, the tiny backbone at 32 px (one thread per process, as the
  engine sets it), batch 32 per process, built-in data, crop + flip.
- GPU (``--gpu``): N = 1, 2, 4, 8 (as many as there are) NCCL processes, one per GPU, ResNet-50 at
  224 px from random weights, batch 128 per GPU, bf16.

Unfreezing (``--unfreeze``, CPU, 2 gloo processes): what a group joining mid-run costs under DDP, the
two ways it can be done. ``rebuild`` (what the engine does): DDP wraps the parameters that train now
and is made again when layer4 joins. ``find_unused``: layer4's parameters require grad from the start,
run under ``no_grad`` until they join, with ``find_unused_parameters=True`` so DDP does not wait for their
gradients. Milliseconds per step before and after the join, and the rebuild itself.

``python benchmarks/ddp_scaling.py [--gpu] [--unfreeze] [--epochs N]``
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import msgspec  # noqa: E402

from tltui.core.protocol.config import RunConfig  # noqa: E402
from tltui.core.protocol.events import Epoch, RunEvent  # noqa: E402


def throughput(config: RunConfig, n: int, gpus: list[str]) -> tuple[float, list[float]]:
    """(median images/s over the epochs after the first, every epoch's) of ``config`` over ``n`` processes."""
    from tltui.worker import ranks

    events: list[RunEvent] = []
    with tempfile.TemporaryDirectory() as run_dir:
        outcome = ranks.train(Path(run_dir), msgspec.structs.replace(config, nproc=n), n, gpus[:n] if gpus else [],
                              resume=False, emit=events.append, should_stop=lambda: False)
    if not outcome.ended:
        raise SystemExit(f"N={n}: {outcome.reason}\n" + "\n".join(outcome.log[-20:]))
    rates = [e.images_per_s for e in events if isinstance(e, Epoch)]
    return statistics.median(rates[1:] or rates), rates


def scaling(gpu: bool, epochs: int) -> None:
    if gpu:
        import torch

        count = torch.cuda.device_count()
        counts = [n for n in (1, 2, 4, 8) if n <= count]
        per = 128
        base = RunConfig(data="builtin", model="resnet50", weights="none", device="cuda", image_size=224,
                         batch_size=per, epochs=epochs, frozen=())
        gpus = [f"cuda:{i}" for i in range(count)]
        what = f"ResNet-50, 224 px, batch {per} per GPU, NCCL, {torch.cuda.get_device_name(0)}"
    else:
        counts, per, gpus = [1, 2], 32, []
        base = RunConfig(data="builtin", model="tiny", device="cpu", batch_size=per, epochs=epochs, frozen=())
        what = f"tiny, 32 px, batch {per} per process, gloo, {os.cpu_count()} CPUs"
    print(f"scaling: full fine-tune, {what}, {epochs} epochs each")
    print(f"{'N':>3} {'global batch':>12} {'images/s':>10} {'speed-up':>9} {'efficiency':>10}  per epoch")
    first = None
    for n in counts:
        rate, rates = throughput(msgspec.structs.replace(base, batch_size=per * n), n, gpus)
        first = first or rate
        print(f"{n:>3} {per * n:>12} {rate:>10.0f} {rate / first:>8.2f}x {rate / (n * first):>10.0%}  "
              + " ".join(f"{r:.0f}" for r in rates))


# -- unfreezing ------------------------------------------------------------------------------


def _unfreeze_worker(rank: int, size: int, port: int, steps: int, results) -> None:
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel as DDP

    from tltui.engine import model as net
    from tltui.engine.tiny import TinyResNet

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=size)
    torch.manual_seed(rank)
    x = torch.randn(64, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (64,))

    def timed(wrapped, optimizer, forward, blocks: int = 5) -> float:
        """Milliseconds per step: the fastest of ``blocks`` blocks of ``steps // blocks`` (a shared machine's
        other work lands in some blocks, not all)."""
        best = float("inf")
        for block in range(blocks + 1):
            dist.barrier()
            started = time.perf_counter()
            for _ in range(steps // blocks):
                loss = F.cross_entropy(forward(wrapped, x), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            dist.barrier()
            if block:  # the first block warms up
                best = min(best, (time.perf_counter() - started) / (steps // blocks) * 1000)
        return best

    def fresh() -> TinyResNet:
        torch.manual_seed(0)
        model = TinyResNet(10).to(memory_format=torch.channels_last)
        net.set_trainable(model, {"head"}, "freeze")
        return model

    out = {}
    # rebuild: DDP over the head, then made again over head + layer4
    model = fresh()
    optimizer = torch.optim.SGD(net.group_parameters(model, "head"), lr=0.01, momentum=0.9)
    wrapped = DDP(model)
    out["rebuild, head only"] = timed(wrapped, optimizer, lambda m, x: m(x))
    net.set_trainable(model, {"head", "layer4"}, "freeze")
    optimizer.add_param_group({"params": net.group_parameters(model, "layer4")})
    dist.barrier()
    started = time.perf_counter()
    wrapped = None
    wrapped = DDP(model)
    dist.barrier()
    out["rebuild: the wrapper made again"] = (time.perf_counter() - started) * 1000
    out["rebuild, head + layer4"] = timed(wrapped, optimizer, lambda m, x: m(x))

    # find_unused_parameters: layer4 requires grad throughout; until it joins it runs without gradients
    model = fresh()
    for p in net.group_parameters(model, "layer4"):
        p.requires_grad_(True)
    optimizer = torch.optim.SGD(net.group_parameters(model, "head"), lr=0.01, momentum=0.9)
    wrapped = DDP(model, find_unused_parameters=True)

    def frozen_layer4(m, x):
        inner = m.module
        with torch.no_grad():
            features = net.forward_until(inner, "head", x)
        return inner.fc(features)

    out["find_unused, head only"] = timed(wrapped, optimizer, frozen_layer4)
    optimizer.add_param_group({"params": net.group_parameters(model, "layer4")})
    out["find_unused, head + layer4"] = timed(wrapped, optimizer, lambda m, x: m(x))
    if rank == 0:
        results.update(out)
    dist.destroy_process_group()


def unfreezing(steps: int) -> None:
    import torch.multiprocessing as mp

    # find_unused_parameters warns once the group has joined and every parameter is used: expected here
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_unfreeze_worker, args=(2, port, steps, results), nprocs=2)
        results = dict(results)
    print(f"unfreezing under DDP: tiny, 32 px, batch 64 per process, 2 gloo processes; ms per step, the fastest "
          f"of 5 blocks of {steps // 5} steps (the rebuild: ms, once)")
    for name, value in results.items():
        print(f"  {name:<34} {value:8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gpu", action="store_true", help="N = 1, 2, 4, 8 GPUs (NCCL) instead of CPU processes")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--unfreeze", action="store_true", help="also: a group joining mid-run, two ways")
    parser.add_argument("--steps", type=int, default=200, help="steps timed per phase of --unfreeze")
    args = parser.parse_args()
    scaling(args.gpu, args.epochs)
    if args.unfreeze:
        unfreezing(args.steps)


if __name__ == "__main__":
    main()
