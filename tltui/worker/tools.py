"""Engine work that runs in the command's own process rather than in the daemon: ``tltui pretrain-tiny``
(minutes of single-process pretraining, nothing to share with runs). torch is imported when called."""

from __future__ import annotations

import dataclasses
from pathlib import Path


def pretrain_tiny(out: Path, changes: dict[str, int]) -> int:
    """Pretrain the tiny backbone as its shipped weights were made, with ``changes`` to the recipe."""
    from tltui.engine import pretrain

    return pretrain.main(out, dataclasses.replace(pretrain.RECIPE, **changes))
