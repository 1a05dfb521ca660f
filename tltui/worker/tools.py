"""Engine work that runs in the command's own process rather than in the daemon: ``tltui pretrain-tiny``
(minutes of single-process pretraining, nothing to share with runs). torch is imported when called."""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

from tltui.core.errors import BadInput


def pretrain_tiny(out: Path, changes: dict[str, int]) -> int:
    """Pretrain the tiny backbone as its shipped weights were made, with ``changes`` to the recipe; BadInput
    first, before minutes of work, if ``out`` cannot be written."""
    check_writable(out)
    from tltui.core import files
    from tltui.engine import pretrain

    try:
        return pretrain.main(out, dataclasses.replace(pretrain.RECIPE, **changes))
    except OSError as error:  # the disk filled while it trained
        raise BadInput(files.full_disk(error)) from None


def check_writable(out: Path) -> None:
    """BadInput unless a file can be written at ``out``: not a folder, in a folder that takes a new file (a
    pseudo-filesystem such as /proc does not)."""
    try:
        if out.is_dir():
            raise BadInput(f"--out {out} is a folder: name the file to write, e.g. {out / 'tiny.pt'}")
        fd, probe = tempfile.mkstemp(dir=out.parent or ".", prefix=f".{out.name[:100]}.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise BadInput(f"cannot write --out {str(out)[:200]}: {error.strerror}") from None
