"""Which device runs a fine-tune, how it is set up for speed, and what the worker reports about itself."""

from __future__ import annotations

import os
import platform
import socket

import torch

from tltui import __version__
from tltui.core import backbones
from tltui.core.errors import BadInput
from tltui.core.protocol.replies import Capabilities
from tltui.engine import model, timm_backbone, tiny


def resolve(name: str) -> torch.device:
    """``auto`` (cuda, then mps, then cpu), or an explicit ``cuda``, ``cuda:N``, ``mps``, ``cpu``."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", 0)
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise BadInput(f"unknown device {name!r}: use auto, cuda, cuda:N, mps or cpu") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise BadInput(f"--device {name}: CUDA is not available here (torch {torch.__version__})")
        index = device.index or 0
        if index >= torch.cuda.device_count():
            raise BadInput(f"--device {name}: there are {torch.cuda.device_count()} CUDA devices")
        return torch.device("cuda", index)
    if device.type == "mps" and not _mps_available():
        raise BadInput(f"--device {name}: MPS is not available here")
    if device.type not in ("cuda", "mps", "cpu"):
        raise BadInput(f"--device {name}: use auto, cuda, cuda:N, mps or cpu")
    if device.index:
        raise BadInput(f"--device {name}: there is one {device.type} device, {device.type} (no index)")
    return torch.device(device.type)


def default_image_size(device: torch.device, model: str) -> int:
    """The tiny backbone: 32, the side it was pretrained at. A timm model: its own (timm's data config).
    ResNet-50: 224 on a GPU; 64 on the CPU, where 224 px trains about 7x slower."""
    if model == "tiny":
        return tiny.IMAGE_SIZE
    if backbones.is_timm(model):
        return timm_backbone.own_size(backbones.timm_name(model))
    return 64 if device.type == "cpu" else 224


def channels_last(device: torch.device, image_size: int, model: str) -> bool:
    """Whether to run in NHWC memory format: always on CUDA (what its tensor cores want); on the CPU for the
    tiny backbone (40% faster at 32 px), and for ResNet-50 from 64 px up, where it trained 13% faster (and
    ran 15% slower at 32 px) on 2 cores; not for a timm model on the CPU (not measured). Only for a
    convolutional network (``model.convolutional``): the caller asks that of the model it built."""
    if backbones.is_timm(model):
        return device.type == "cuda"
    return device.type == "cuda" or (device.type == "cpu" and (model == "tiny" or image_size >= 64))


def configure(device: torch.device, model: str, processes: int = 1) -> None:
    """Speed settings: on the CPU all cores for ResNet-50 (shared out among ``processes`` on this host), one
    thread for the tiny backbone (its layers are too small to share: 2 threads trained it at half the speed
    of one on 2 cores); cuDNN autotuning and TF32 on CUDA."""
    if device.type == "cpu":
        torch.set_num_threads(1 if model == "tiny" else max(1, cpu_count() // processes))
    elif device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return f"{_cpu_model()} ({cpu_count()} cores)"


def capabilities() -> Capabilities:
    devices = [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    if _mps_available():
        devices.append("mps")
    devices.append("cpu")
    gpu_name, gpu_memory = "", 0.0
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        gpu_name, gpu_memory = props.name, round(props.total_memory / 2**30, 1)
    return Capabilities(
        host=socket.gethostname(),
        tltui_version=__version__,
        torch_version=str(torch.__version__),
        devices=devices,
        gpu_name=gpu_name,
        gpu_memory_gb=gpu_memory,
        cached_weights=model.cached_weights(),
        weights_dir=str(model.weights_file(model.WEIGHTS["imagenet"]).parent),
        models=model.available(),
    )


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU"
