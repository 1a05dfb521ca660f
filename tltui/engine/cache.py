"""The boundary cache: frozen groups below the lowest trainable one run once, not every epoch.

When nothing random happens to the inputs (no augmentation) and the frozen groups' BatchNorm stays in
eval mode, the groups below the lowest group that ever trains compute the same output every epoch. So
they run once over the training and validation images, their outputs are kept (fp16: half the memory,
well inside its range for post-ReLU activations), and training runs only the groups above the cut.
The cache is bounded: ``min(4 GiB, half the available RAM)`` on the CPU, 40% of free GPU memory on CUDA,
or ``$TLTUI_CACHE_MB``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import nn

from tltui.core import backbones
from tltui.engine import model as net

if TYPE_CHECKING:
    from tltui.core.protocol.config import RunConfig

ENV_BUDGET = "TLTUI_CACHE_MB"
CPU_BUDGET_CAP = 4 * 2**30
GPU_SHARE = 0.4


def boundary(config: RunConfig) -> str | None:
    """The group where the cache can cut the network (its input is cached), or None. A timm model is cut
    below its head alone (its pooled features), where the whole backbone is frozen."""
    if config.augment or config.bn != "freeze":
        return None
    lowest = config.lowest_ever_trainable()
    if backbones.is_timm(config.model):
        return "head" if lowest == "head" else None
    return lowest if lowest not in (None, "stem") else None


def needed_bytes(model: nn.Module, group: str, image_size: int, n_images: int, dtype: torch.dtype) -> int:
    per_image = math.prod(net.input_shape(model, group, image_size))
    return per_image * n_images * torch.finfo(dtype).bits // 8


def budget_bytes(device: torch.device) -> int:
    if os.environ.get(ENV_BUDGET, "").strip():
        from tltui.core.parsing import env_number

        return int(env_number(ENV_BUDGET, 0) * 2**20)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free * GPU_SHARE)
    return min(CPU_BUDGET_CAP, _available_ram() // 2)


def build(model: nn.Module, group: str, images: torch.Tensor, prepare: Callable[[torch.Tensor], torch.Tensor],
          *, batch_size: int, dtype: torch.dtype, device: torch.device,
          should_stop: Callable[[], bool] = lambda: False) -> torch.Tensor | None:
    """``group``'s input for every image, ``(N, ...)`` in ``dtype`` on ``device``; None if stopped.

    ``images`` are uint8 batches on any device; ``prepare`` turns a batch into the network's input.
    The model must be in eval mode.
    """
    amp = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else None
    out = torch.empty((images.shape[0], *net.input_shape(model, group, images.shape[-1])), dtype=dtype, device=device)
    with torch.inference_mode(), torch.autocast(device.type, dtype=amp, enabled=amp is not None):
        for start in range(0, images.shape[0], batch_size):
            if should_stop():
                return None
            batch = images[start:start + batch_size].to(device, non_blocking=True)
            out[start:start + batch.shape[0]] = net.forward_until(model, group, prepare(batch))
    return out


def _available_ram() -> int:
    """MemAvailable from /proc/meminfo, else all RAM (psutil would do it, but is not worth a dependency)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
