"""A built-in set written as an ImageFolder, for the script of ``tltui export builtin -o x.py`` (``x_data/``).

``train/`` and ``val/``, a folder of PNG files per class: the images a run with the same seed renders, split
as it splits them (``--val-fraction``), at the side a run resizes them to (``image_size / 0.875``, at most
the 128 px they are rendered at; above that the script's own resize upscales them), so the script's resize
and centre crop see what the engine sees. Files are named by their index in the rendered set, so a class
folder lists them in the engine's order; the script numbers the classes as an ImageFolder does, in the
sorted order of their folders (a run numbers them in ``builtin.CLASSES`` order).

A folder that is there already is replaced only where an earlier export wrote it (its ``MARKER`` says so);
one that tltui did not write is refused, never emptied.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from PIL import Image

from tltui.core import datasets
from tltui.core.errors import BadInput
from tltui.core.protocol.config import MAX_SEED
from tltui.core.protocol.replies import BuiltinWritten
from tltui.core.protocol.requests import WriteBuiltin
from tltui.engine import builtin, data

MARKER = "tltui-builtin.json"
"""The file that says tltui wrote the folder, and with what recipe."""


def write(request: WriteBuiltin) -> BuiltinWritten:
    """Write ``request.data`` into ``request.folder``; BadInput (one line) where that cannot be done."""
    if request.data not in datasets.BUILTIN:
        raise BadInput(f"{request.data} is not one of tltui's generated sets ({', '.join(datasets.BUILTIN)})")
    if not 0 <= request.seed <= MAX_SEED:
        raise BadInput(f"the seed must be 0 to {MAX_SEED}, not {request.seed}")
    root = Path(request.folder)
    if not root.is_absolute():
        raise BadInput(f"{request.folder}: give the folder as an absolute path (the worker has its own working dir)")
    _clear(root)
    side = min(data.sides(request.image_size, ())[0], builtin.NATIVE[1])
    recipe = {"data": request.data, "seed": request.seed, "val_fraction": request.val_fraction, "side": side}
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text(json.dumps(recipe) + "\n", encoding="utf-8")  # first: a half-written folder is ours
    x, train, val = data.builtin_split(request.data == "builtin-shifted", request.seed, side, request.val_fraction)
    for split, items in (("train", train), ("val", val)):
        for name in builtin.CLASSES:
            (root / split / name).mkdir(parents=True)
        for index, label in items:
            picture = Image.fromarray(x[index].permute(1, 2, 0).numpy())
            picture.save(root / split / builtin.CLASSES[label] / f"{index:04d}.png", compress_level=1)
    return BuiltinWritten(folder=str(root), classes=list(builtin.CLASSES), n_train=len(train), n_val=len(val),
                          side=side)


def _clear(root: Path) -> None:
    """Make way in ``root``: nothing to do where it is missing or empty; an earlier export's splits removed."""
    if not root.exists():
        return
    if not root.is_dir() or root.is_symlink():
        raise BadInput(f"{root} is there already and is not a folder tltui wrote: move it, or export to another name")
    if not (root / MARKER).is_file():
        if any(root.iterdir()):
            raise BadInput(f"{root} is there already and tltui did not write it: move it, or export to another name")
        return
    for split in ("train", "val"):
        if (root / split).is_symlink():
            (root / split).unlink()
        elif (root / split).exists():
            shutil.rmtree(root / split)
