"""``--deterministic``: torch's deterministic algorithms for one run, as torchvision's reference scripts'
``--use-deterministic-algorithms`` sets them, and where the run trains so that they hold.

While a deterministic run trains (``enforced``): ``torch.use_deterministic_algorithms(True)``, cuDNN's
deterministic kernels without autotuning (``cudnn.benchmark``, which ``device.configure`` turns on for
speed, off), and ``CUBLAS_WORKSPACE_CONFIG=:4096:8``, which cuBLAS needs for repeatable sums on CUDA 10.2
and later. Not ``warn_only``: an operation with no deterministic implementation stops the run with one line
(``RunFailure``), so a run said to be deterministic is one. The data's split, order and augmentations and the
new head's initialisation already follow ``seed`` (the split its own generator, the order the sampler's, the
rest torch's global generator, seeded in ``prepare``).

Why a process of its own: these settings, cuBLAS's workspace and torch's global generator belong to a whole
process, while the worker daemon trains runs in threads of one process (several at once on a host with
several GPUs, beside LR finder and picture jobs). Turning the flags on there would make the other threads'
runs deterministic (slower) or fail, a run started meanwhile would turn ``cudnn.benchmark`` back on, the
runs' augmentations would interleave draws from one generator, and cuBLAS reads its workspace setting once
per handle, which an earlier run may have made already. So the worker trains a deterministic run as it
trains a run of several processes, in torchrun's (here one process; worker/training.py), whose environment
sets the workspace before CUDA starts; the settings are restored when the run ends all the same, for a
caller that trains in its own process (tests, benchmarks). The run's ``Started`` event records whether the
deterministic algorithms were on while it trained. The scripts ``tltui export`` writes carry the same
settings (core/codegen.py ``deterministic_lines``).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator

import torch

from tltui.core.errors import RunFailure

CUBLAS_WORKSPACE = ("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
"""cuBLAS's fixed workspace for repeatable results (CUDA's and torch's reproducibility notes)."""


def environment() -> dict[str, str]:
    """What a deterministic run's process needs in its environment before CUDA starts."""
    return dict([CUBLAS_WORKSPACE])


@contextlib.contextmanager
def enforced(on: bool) -> Iterator[None]:
    """Deterministic algorithms while the block runs when ``on`` (else nothing changes); the settings as they
    were afterwards. An operation that has no deterministic implementation raises RunFailure."""
    if not on:
        yield
        return
    before = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
              torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic, os.environ.get(CUBLAS_WORKSPACE[0]))
    os.environ.setdefault(*CUBLAS_WORKSPACE)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    try:
        yield
    except RuntimeError as error:
        operation = _nondeterministic(str(error))
        if operation is None:
            raise
        raise RunFailure(f"--deterministic: {operation} has no deterministic implementation on this device",
                         "train without --deterministic, or on another device") from None
    finally:
        algorithms, warn_only, benchmark, cudnn_deterministic, workspace = before
        torch.use_deterministic_algorithms(algorithms, warn_only=warn_only)
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = benchmark, cudnn_deterministic
        if workspace is None:
            os.environ.pop(CUBLAS_WORKSPACE[0], None)


def enabled() -> bool:
    """Whether torch's deterministic algorithms are on in this process now."""
    return torch.are_deterministic_algorithms_enabled()


def _nondeterministic(message: str) -> str | None:
    """The operation a RuntimeError of ``use_deterministic_algorithms`` names, or None for any other error."""
    found = re.search(r"^(\S+) does not have a deterministic implementation", message)
    return found.group(1) if found else None
