"""A run's place among the processes that train it (torch.distributed), and what DDP needs around the model.

A run that trains alone is rank 0 of a world of 1: every collective here is then a no-op and nothing is
wrapped, so the engine trains exactly as it does without torch.distributed. A run over N processes
(``engine/ddp.py``, started by torchrun) has every process load the same data and build the same model from
the same seed; DistributedDataParallel averages the gradients, and the helpers here sum the metrics, gather
the boundary cache each process built for its shard, and give every process rank 0's BatchNorm statistics
before it validates its shard.
"""

from __future__ import annotations

import inspect
import math
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.nn import functional as dist_nn


@dataclass(frozen=True)
class World:
    """This process's rank among ``size`` (all hosts) and ``local_size`` (this host) processes."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1

    @classmethod
    def from_env(cls) -> World:
        """The place torchrun gave this process (its RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE)."""
        env = os.environ
        return cls(int(env["RANK"]), int(env["WORLD_SIZE"]), int(env["LOCAL_RANK"]),
                   int(env.get("LOCAL_WORLD_SIZE", env["WORLD_SIZE"])))

    @property
    def main(self) -> bool:
        """Rank 0: the one process that reports events and writes checkpoints."""
        return self.rank == 0

    def init(self, device: torch.device) -> None:
        """Join the process group: NCCL between GPUs, gloo between CPU processes (torchrun's rendezvous
        address comes from the environment). Nothing when alone."""
        if self.size > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` summed over the processes (a new tensor; ``tensor`` itself when alone)."""
        return self._reduce(tensor, dist.ReduceOp.SUM)

    def min(self, tensor: torch.Tensor) -> torch.Tensor:
        """The smallest of each element over the processes."""
        return self._reduce(tensor, dist.ReduceOp.MIN)

    def _reduce(self, tensor: torch.Tensor, op: dist.ReduceOp.RedOpType) -> torch.Tensor:
        if self.size == 1:
            return tensor
        total = tensor.clone()
        dist.all_reduce(total, op=op)
        return total

    def any(self, flag: bool, device: torch.device) -> bool:
        """True on every process if ``flag`` is true on any (a stop all must agree on)."""
        if self.size == 1:
            return flag
        return bool(self.sum(torch.tensor([float(flag)], device=device)).item())

    def shard(self, n: int) -> range:
        """This process's share of ``n`` items: contiguous, ``ceil(n / size)`` long (the last ones shorter)."""
        per = math.ceil(n / self.size)
        return range(min(n, self.rank * per), min(n, (self.rank + 1) * per))

    def gather(self, part: torch.Tensor, n: int) -> torch.Tensor:
        """The ``n`` rows of every process's ``shard(n)``, in order, on every process."""
        if self.size == 1:
            return part
        per = math.ceil(n / self.size)
        padded = part.new_zeros((per, *part.shape[1:]))
        padded[:len(part)] = part
        parts = [torch.empty_like(padded) for _ in range(self.size)]
        dist.all_gather(parts, padded)
        return torch.cat(parts)[:n]

    def share(self, tensors: list[torch.Tensor]) -> None:
        """Every process takes rank 0's values of ``tensors`` (in place)."""
        if self.size > 1:
            for tensor in tensors:
                dist.broadcast(tensor, 0)

    def share_buffers(self, module: nn.Module) -> None:
        """Every process takes rank 0's buffers (BatchNorm running statistics): the model rank 0 saves is the
        one every process validates with."""
        self.share(list(module.buffers()))

    def wrap(self, module: nn.Module, device: torch.device) -> nn.Module:
        """``module`` in DistributedDataParallel (its trainable parameters' gradients averaged), or itself
        when alone. DDP takes the parameters that require grad when it is made: wrap again when more do."""
        if self.size == 1:
            return module
        return nn.parallel.DistributedDataParallel(
            module, device_ids=[device.index] if device.type == "cuda" else None, **_NO_BUFFER_SYNC)


# Each process keeps its own BatchNorm statistics while it trains (rank 0's are shared before validating):
# no broadcast of the buffers before every forward. torch 2.14 renamed the option; both keep the sync at init.
_NO_BUFFER_SYNC: dict[str, Any] = ({"forward_sync_buffers": False}
                   if "forward_sync_buffers" in inspect.signature(nn.parallel.DistributedDataParallel).parameters
                   else {"broadcast_buffers": False})


def sync_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` with each BatchNorm normalising over the global batch: torch's SyncBatchNorm on CUDA, which
    runs on GPUs only, and ``CpuSyncBatchNorm`` on the CPU. Parameters and statistics are kept (the same
    tensors), and so are the state_dict's keys. A timm model's BatchNorm with its activation (BatchNormAct2d)
    becomes timm's SyncBatchNormAct on CUDA (torch's would drop the activation); on the CPU it stays per
    process."""
    if device.type == "cuda":
        if any(isinstance(m, nn.modules.batchnorm._BatchNorm) and type(m).__module__.startswith("timm.")
               for m in model.modules()):
            from timm.layers import convert_sync_batchnorm

            return convert_sync_batchnorm(model)
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return _cpu_sync(model)


class CpuSyncBatchNorm(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are those of the global batch: the sums over every process's
    images, through differentiable all-reduces (torch.distributed.nn), in two passes (mean, then the
    variance about it) as single-process BatchNorm computes them. In eval mode, plain BatchNorm."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        c, dims = x.shape[1], (0, 2, 3)
        sums = dist_nn.all_reduce(torch.cat([x.sum(dims), x.new_tensor([x.numel() // c])]))
        n = sums[c]
        mean = sums[:c] / n
        centred = x - mean.view(1, c, 1, 1)
        var = dist_nn.all_reduce(centred.square().sum(dims)) / n
        if self.track_running_stats:
            tracked, running_mean, running_var = self.num_batches_tracked, self.running_mean, self.running_var
            assert tracked is not None and running_mean is not None and running_var is not None  # made with them
            with torch.no_grad():
                tracked.add_(1)
                momentum = self.momentum if self.momentum is not None else 1 / tracked.item()
                running_mean.lerp_(mean, momentum)
                running_var.lerp_(var * n / (n - 1), momentum)
        out = centred * torch.rsqrt(var + self.eps).view(1, c, 1, 1)
        if self.affine:
            out = out * self.weight.view(1, c, 1, 1) + self.bias.view(1, c, 1, 1)
        return out


def _cpu_sync(module: nn.Module) -> nn.Module:
    out = module
    if type(module) is nn.BatchNorm2d:
        out = CpuSyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                               module.track_running_stats)
        with torch.no_grad():
            if module.affine:
                out.weight, out.bias = module.weight, module.bias
            if module.track_running_stats:
                out.running_mean, out.running_var = module.running_mean, module.running_var
                out.num_batches_tracked = module.num_batches_tracked
        out.train(module.training)
    for name, child in module.named_children():
        out.add_module(name, _cpu_sync(child))
    return out
