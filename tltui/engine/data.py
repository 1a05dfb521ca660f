"""Load a dataset once into memory as decoded uint8 tensors.

Sources: the built-in generated sets, an ImageFolder directory (``train/`` + ``val/``, or one folder of
class subfolders split by ``val_fraction``), or a named torchvision dataset downloaded to
``tltui.core.paths.datasets_dir()``. Every image is decoded once, resized so its shorter side is
``image_size / 0.875`` and centre-cropped (to ``image_size``, or to that larger square when random crops
will be taken from it), and kept as ``(N, 3, S, S)`` uint8; a timm model's validation images are resized to
its own side first (``floor(image_size / crop_pct)``, as timm's eval transform). Bad files are skipped or
converted and counted.

A folder is walked safely: no directory is entered twice (a link back up, or to another class, is
skipped, so no loop and no file counted twice), only regular files are read (a FIFO named ``.png`` is
skipped, never waited on), a folder of more than ``max_files`` entries is refused rather than walked
for ever, and an image claiming more than ``MAX_PIXELS`` pixels is skipped before it is decoded.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import io
import multiprocessing
import os
import socket
import stat
import threading
import warnings
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from tltui.core import datasets, files, paths
from tltui.core.datasets import IMAGE_EXTENSIONS
from tltui.core.errors import BadInput
from tltui.core.protocol.config import MAX_FILES
from tltui.engine import builtin

MIN_SIDE = 8
"""Images with a side shorter than this are skipped."""
CROP_RATIO = 0.875
"""Validation: resize the shorter side to size / 0.875, then centre-crop size (224 from 256)."""
RESAMPLE = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC,
            "nearest": Image.Resampling.NEAREST, "lanczos": Image.Resampling.LANCZOS}
"""PIL's filter for each interpolation a timm data config names (bilinear for any other)."""
SPLIT_SEED = 0
"""The train/val split and --limit-per-class subsets do not depend on the run's seed: runs stay comparable."""
DOWNLOAD_TIMEOUT_S = 10.0
MAX_PIXELS = 40_000_000
"""Images that claim more pixels are skipped unread: a 20 KB PNG can claim 13000 x 13000 (500 MB decoded);
Pillow's own limit is 179 M."""
MAX_FILE_BYTES = 256 * 2**20
"""Image files larger than this are skipped."""
READING_BYTES = MAX_FILE_BYTES
"""Bytes of image files held in memory at once, over all threads (each read is sized by its file)."""
DECODING_PIXELS = 2 * MAX_PIXELS
"""Pixels being decoded at once, over all threads. With ``READING_BYTES``, this bounds the memory decoding
takes: at most 256 MB of files and 80 M pixels (320 MB as RGBA) whatever the number of threads."""

_CONVERTED = {
    "L": "greyscale", "LA": "greyscale", "1": "1-bit", "P": "palette", "PA": "palette",
    "RGBA": "RGBA", "RGBa": "RGBA", "CMYK": "CMYK", "YCbCr": "YCbCr", "LAB": "LAB", "HSV": "HSV",
    "I": "32-bit", "F": "32-bit float",
}


@dataclass
class ImageData:
    """Decoded images, ``(N, 3, S, S)`` uint8, with int64 labels; what was skipped or converted, by reason;
    notes for the user (an image in both train and val); where each validation image came from."""

    classes: list[str]
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    skipped: dict[str, int] = field(default_factory=dict)
    converted: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    val_paths: list[str] = field(default_factory=list)
    """Each validation image's file; ``NAME:val/N`` (N its index) where it is not a file of the user's."""


def sides(image_size: int, augment: tuple[str, ...]) -> tuple[int, int, int]:
    """(resize, train, val): the shorter side images are resized to, and the stored squares' sides."""
    resize = round(image_size / CROP_RATIO)
    return resize, (resize if "crop" in augment else image_size), image_size


def load(data: str, *, image_size: int, augment: tuple[str, ...], val_fraction: float,
         limit_per_class: int, seed: int, max_files: int = MAX_FILES, pooled: bool = False,
         interpolation: str = "bilinear", val_resize: int = 0, train_resize: int = 0) -> ImageData:
    """Load ``data`` (a built-in name, a folder, or a named dataset). Raises BadInput for bad input.
    ``pooled``: validation images stored as training ones are (diagnose pools the two). ``interpolation``:
    the resize's filter (``RESAMPLE``: a timm model's own, else bilinear). ``val_resize``: the shorter side
    validation images are resized to before their centre crop (a timm model's, from its ``crop_pct``:
    ``Preprocessing.resize``); 0: the training images' (``image_size / 0.875``). ``train_resize``: the
    training images' instead of ``image_size / 0.875`` (diagnose's images as a timm model is evaluated on
    them, without ``crop``)."""
    resize, train_side, val_side = sides(image_size, augment)
    resize = train_resize or resize
    resizes = (resize, val_resize if val_resize and not pooled else resize)
    if pooled:
        val_side = train_side
    if data in datasets.BUILTIN:
        return _builtin(data == "builtin-shifted", seed, resizes, train_side, val_side, val_fraction, limit_per_class,
                        interpolation)
    root = _folder(data)
    if root is None:
        return _named(data.lower(), val_fraction, limit_per_class, resizes, train_side, val_side, interpolation)
    train, val = _folder_lists(root, val_fraction, max_files)
    train = _Lists(train.classes, _limit(train.items, limit_per_class), train.skipped)
    return _decode_all(train, val, resizes, train_side, val_side, interpolation)


def has_val_folder(data: str) -> bool:
    """Whether ``data`` is a folder with ``train/`` and ``val/``: its own validation set, never split."""
    root = Path(data).expanduser()
    return data not in datasets.BUILTIN and (root / "train").is_dir() and (root / "val").is_dir()


def check(data: str, *, max_files: int = MAX_FILES) -> None:
    """BadInput now for a source ``load`` would refuse, without decoding an image or downloading a set."""
    if data not in datasets.BUILTIN and (root := _folder(data)) is not None:
        _folder_lists(root, 0.5, max_files)


def _folder(data: str) -> Path | None:
    """The folder ``data`` names, or None for a named dataset; BadInput for neither, for nothing (``""`` would
    be the worker's own folder), and for a path that cannot be looked at (too long, not allowed)."""
    if not data.strip():
        raise BadInput(f"no data given: a folder of class subfolders, or one of {', '.join(datasets.NAMES)}")
    try:
        root = Path(data).expanduser()
        exists = root.exists()
    except RuntimeError:
        raise BadInput(f"{data[:200]}: no such user's home folder") from None
    except OSError as error:
        raise BadInput(f"cannot look at {data[:200]}: {error.strerror}") from None
    if exists:
        if not root.is_dir():
            raise BadInput(f"{data} is a file: give a folder of class subfolders (or with train/ and val/ in it)")
        return root
    if data.lower() in datasets.DOWNLOADED:
        return None
    raise BadInput(
        f"no such folder: {data} (give a folder of class subfolders, or one of "
        f"{', '.join(datasets.NAMES)})"
    )


# ----------------------------------------------------------------------------------------------
# The built-in sets


def _builtin(shifted: bool, seed: int, resizes: tuple[int, int], train_side: int, val_side: int,
             val_fraction: float, limit: int, interpolation: str = "bilinear") -> ImageData:
    """``resizes``: the training and the validation images' (the split is the same at any side)."""
    x, train, val = builtin_split(shifted, seed, resizes[0], val_fraction, interpolation)
    x_val = x if resizes[1] == resizes[0] else builtin_split(shifted, seed, resizes[1], val_fraction, interpolation)[0]
    train = _limit(train, limit)
    train_idx = torch.tensor([i for i, _ in train])
    val_idx = torch.tensor([i for i, _ in val])
    return ImageData(
        classes=list(builtin.CLASSES),
        train_x=centre(x[train_idx], train_side), train_y=torch.tensor([y for _, y in train]),
        val_x=centre(x_val[val_idx], val_side), val_y=torch.tensor([y for _, y in val]),
        val_paths=[f"{'builtin-shifted' if shifted else 'builtin'}:val/{i}" for i in range(len(val))],
    )


def builtin_split(shifted: bool, seed: int, side: int, val_fraction: float,
                  interpolation: str = "bilinear") -> tuple[torch.Tensor, list, list]:
    """A built-in set at ``side`` px (rendered at the nearest native side, resized to it) and its (index,
    label) train and val items, split as every run splits it."""
    native = min(max(side, builtin.NATIVE[0]), builtin.NATIVE[1])
    x, labels = _render(native, seed, shifted)
    if native != side:
        x = torch.cat([_resize(chunk, side, interpolation) for chunk in x.split(256)])
    items = [(i, int(label)) for i, label in enumerate(labels)]
    train, val = _split(items, len(builtin.CLASSES), val_fraction)
    return x, train, val


@functools.lru_cache(maxsize=2)
def _render(size: int, seed: int, shifted: bool) -> tuple[torch.Tensor, np.ndarray]:
    """``(N, 3, size, size)`` uint8 and labels. The last renders are kept (never written to): trying
    another recipe on the same set skips the rendering."""
    images, labels = builtin.render(size, seed, shifted=shifted)
    return torch.from_numpy(images).permute(0, 3, 1, 2), labels


def _resize(x: torch.Tensor, side: int, interpolation: str = "bilinear") -> torch.Tensor:
    mode = "bicubic" if interpolation == "bicubic" else "bilinear"  # the two F.interpolate antialiases
    x = F.interpolate(x.float(), size=(side, side), mode=mode, antialias=True, align_corners=False)
    return x.round_().clamp_(0, 255).to(torch.uint8)


def centre(x: torch.Tensor, side: int) -> torch.Tensor:
    """The centre ``side`` square of each image: a smaller side cut from the stored one."""
    top = (x.shape[-1] - side) // 2
    return x[..., top:top + side, top:top + side].contiguous()


# ----------------------------------------------------------------------------------------------
# File lists: (path, label) pairs, and the files skipped while listing


@dataclass
class _Lists:
    classes: list[str]
    items: list[tuple[Path, int]]
    skipped: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)


def _folder_lists(root: Path, val_fraction: float, max_files: int = MAX_FILES) -> tuple[_Lists, _Lists]:
    """(train, val) file lists of a folder: its ``train/`` and ``val/``, or its class folders split."""
    if root.resolve() == Path(root.anchor):
        raise BadInput(f"refusing to walk {root.resolve()}, the whole filesystem: give the folder that holds "
                       "your class folders")
    walk = _Walk(root, max_files or MAX_FILES)
    train_dir, val_dir = root / "train", root / "val"
    if has_val_folder(str(root)):
        walk.first(train_dir.stat())
        walk.first(val_dir.stat())
        # Every class folder is marked before any is walked: a link from one into another is not followed.
        train_classes, val_classes = _classes(train_dir, walk), _classes(val_dir, walk)
        train = _scan(train_dir, train_classes, walk)
        val = _scan(val_dir, val_classes, walk, allowed=train.classes)
        unmeasured = sorted(set(train.classes) - {train.classes[label] for _, label in val.items})
        if unmeasured:
            val.notes.append(f"val/ has no images of {_some(unmeasured)}: validation accuracy leaves "
                             f"{'that class' if len(unmeasured) == 1 else 'those classes'} out")
        return train, val
    folder = train_dir if train_dir.is_dir() else root
    walk.first(folder.stat())
    whole = _scan(folder, _classes(folder, walk), walk)
    train_items, val_items = _split(whole.items, len(whole.classes), val_fraction)
    return _Lists(whole.classes, train_items, whole.skipped), _Lists(whole.classes, val_items)


class _Walk:
    """One walk of a data folder: every directory and file it has reached (by device and inode, so none is
    entered or counted twice, whatever links lead to it), and the entries seen, up to ``limit``."""

    def __init__(self, root: Path, limit: int) -> None:
        self.root, self.limit = root, limit
        self.seen: set[tuple[int, int]] = set()
        self.entries = 0
        self.first(root.stat())

    def first(self, info: os.stat_result) -> bool:
        """True the first time this directory or file is reached."""
        key = (info.st_dev, info.st_ino)
        if key in self.seen:
            return False
        self.seen.add(key)
        return True

    def listing(self, folder: Path) -> list[tuple[Path, os.stat_result | None]]:
        """``folder``'s entries (hidden ones left out), sorted, each with what it points to (None: a broken
        link, or unreadable); BadInput once the walk has seen more than ``limit`` entries."""
        with os.scandir(folder) as it:
            entries = sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
        self.entries += len(entries)
        if self.entries > self.limit:
            raise BadInput(f"{self.root} holds more than {self.limit:,} files and folders: give the folder of "
                           "your class folders, or allow more with --max-files N")
        listed: list[tuple[Path, os.stat_result | None]] = []
        for entry in entries:
            try:
                listed.append((Path(entry.path), entry.stat()))
            except OSError:
                listed.append((Path(entry.path), None))
        return listed


@dataclass
class _Classes:
    """The class folders of a folder (the walk has marked them), and what its listing skipped."""

    dirs: dict[str, Path]
    has_images: bool
    skipped: Counter


def _classes(folder: Path, walk: _Walk) -> _Classes:
    try:
        listing = walk.listing(folder)
    except OSError as error:
        raise BadInput(f"cannot read {folder}: {error.strerror}") from None
    dirs: dict[str, Path] = {}
    skipped: Counter[str] = Counter()
    for path, info in listing:
        if info is not None and stat.S_ISDIR(info.st_mode):
            if walk.first(info):
                dirs[path.name] = path
            else:
                skipped["link to a folder already walked"] += 1
    has_images = any(p.suffix.lower() in IMAGE_EXTENSIONS for p, info in listing if info and stat.S_ISREG(info.st_mode))
    return _Classes(dirs, has_images, skipped)


def _scan(folder: Path, found: _Classes, walk: _Walk, allowed: list[str] | None = None) -> _Lists:
    """The image files (recursively, sorted) of ``folder``'s class folders; BadInput for a bad layout."""
    classes = sorted(found.dirs)
    if not classes:
        if found.has_images:
            raise BadInput(f"{folder} holds images but no class folders: put each class's images in a subfolder")
        raise BadInput(f"{folder} is empty: it needs one subfolder of images per class")
    if allowed is not None:
        extra = [c for c in classes if c not in allowed]
        if extra:
            raise BadInput(f"{folder} has classes that train/ lacks: {_some(extra)}")
        classes = allowed
    items: list[tuple[Path, int]] = []
    skipped = Counter(found.skipped)
    for label, name in enumerate(classes):
        if name in found.dirs:
            items += [(path, label) for path in _images(found.dirs[name], walk, skipped)]
    if not items:
        raise BadInput(f"{folder} has no images in its class folders")
    if allowed is None and len(classes) < 2:
        raise BadInput(f"{folder} has one class only ({classes[0]}): a classifier needs at least two")
    return _Lists(classes, items, skipped)


def _images(top: Path, walk: _Walk, skipped: Counter) -> list[Path]:
    """The image files under ``top``, depth first, each directory's files before its subfolders. A link is
    followed to a file, or to a directory the walk has not reached yet; FIFOs, sockets and devices are skipped."""
    found: list[Path] = []
    stack = [top]
    while stack:
        try:
            listing = walk.listing(stack.pop())
        except OSError:
            skipped["unreadable folder"] += 1
            continue
        subdirs = []
        for path, info in listing:
            if info is None:
                skipped["broken link or unreadable"] += 1
            elif stat.S_ISDIR(info.st_mode):
                if walk.first(info):
                    subdirs.append(path)
                else:
                    skipped["link to a folder already walked"] += 1
            elif not stat.S_ISREG(info.st_mode):
                skipped["not a regular file (FIFO, socket or device)"] += 1
            elif not path.name.lower().endswith(IMAGE_EXTENSIONS):
                skipped["not an image file"] += 1
            elif walk.first(info):
                found.append(path)
            else:
                skipped["the same file twice (a link)"] += 1
        stack += reversed(subdirs)
    return found


def _split(items: list, n_classes: int, val_fraction: float) -> tuple[list, list]:
    """Stratified split with a fixed seed: about ``val_fraction`` of each class (at least one) to val."""
    rng = np.random.default_rng(SPLIT_SEED)
    train, val = [], []
    by_class = _by_class(items)
    for label in range(n_classes):
        mine = by_class.get(label, [])
        order = rng.permutation(len(mine))
        n_val = max(1, round(len(mine) * val_fraction)) if len(mine) > 1 else 0
        val += [mine[i] for i in sorted(order[:n_val])]
        train += [mine[i] for i in sorted(order[n_val:])]
    return train, val


def _limit(items: list, limit: int) -> list:
    """At most ``limit`` items per class (0: all), the same subset every time."""
    if not limit:
        return items
    rng = np.random.default_rng(SPLIT_SEED + 1)
    kept = []
    for _, mine in sorted(_by_class(items).items()):
        kept += [mine[i] for i in sorted(rng.permutation(len(mine))[:limit])]
    return kept


def _by_class(items: list) -> dict[int, list]:
    groups: dict[int, list] = {}
    for item in items:
        groups.setdefault(item[1], []).append(item)
    return groups


# ----------------------------------------------------------------------------------------------
# Named torchvision datasets


def _named(name: str, val_fraction: float, limit: int, resizes: tuple[int, int], train_side: int, val_side: int,
           interpolation: str = "bilinear") -> ImageData:
    """A torchvision dataset, with its own splits (EuroSAT, which has none, is split by ``val_fraction``);
    downloaded first if it is not there yet."""
    root = paths.datasets_dir()
    try:
        sets = _make(name, root)
    except RuntimeError:  # not downloaded yet
        _download(name, root)
        sets = _make(name, root)
    if len(sets) == 1:  # EuroSAT: an ImageFolder, whose file list (``samples``) is public
        classes = list(sets[0].classes)
        train_items, val_items = _split([(Path(p), y) for p, y in sets[0].samples], len(classes), val_fraction)
        return _decode_all(_Lists(classes, _limit(train_items, limit)), _Lists(classes, val_items),
                           resizes, train_side, val_side, interpolation)
    train, val = sets
    data = _image_data(list(train.classes),
                       _limit(_decode_set(train, name, resizes[0], train_side, interpolation), limit),
                       _decode_set(val, name, resizes[1], val_side, interpolation))
    data.val_paths = [f"{name}:val/{i}" for i in range(len(data.val_y))]
    return data


def _make(name: str, root: Path, download: bool = False) -> tuple:
    """The dataset's (train, val) sets, or (EuroSAT) its one set; RuntimeError if it is not downloaded."""
    import torchvision

    kind, splits = datasets.TORCHVISION[name]
    make = getattr(torchvision.datasets, kind)
    if not splits:
        return (make(root, download=download),)
    return make(root, splits[0], download=download), make(root, splits[1])


def _decode_set(dataset: Any, name: str, resize: int, side: int,
                interpolation: str = "bilinear") -> list[tuple[np.ndarray, int]]:
    """(image, label) for every item of a torchvision dataset, read through its public ``__getitem__`` (its
    file list is private), in threads; resized and cropped as ``decode`` does."""
    def item(i: int) -> tuple[np.ndarray, int]:
        try:
            image, label = dataset[i]
        except (OSError, SyntaxError, ValueError) as exc:
            raise BadInput(f"{name}: image {i} in {dataset.root} cannot be read ({type(exc).__name__}): delete "
                           f"the folder and run again to download it anew") from None
        return _resize_crop(image, resize, side, interpolation), int(label)

    with ThreadPoolExecutor(max_workers=min(16, (os.cpu_count() or 1) + 2)) as pool:
        return list(pool.map(item, range(len(dataset))))


def _download(name: str, root: Path) -> None:
    """Download in a child process: torchvision's downloads take no timeout, and the process-wide one they
    would need (``socket.setdefaulttimeout``) would reach every thread of the daemon; the child has no other.
    Any failure becomes BadInput."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as child:
        try:
            child.submit(_fetch, name, root, DOWNLOAD_TIMEOUT_S).result()
        except Exception as exc:  # urllib, ssl, socket, checksum: all mean "could not get it"
            raise BadInput(
                f"cannot download {name} to {root} ({type(exc).__name__}; offline?): "
                f"download it there on a connected machine, or give a folder of class subfolders"
            ) from None


def _fetch(name: str, root: Path, timeout: float) -> None:
    """In the download's child process: every socket times out after ``timeout`` s."""
    socket.setdefaulttimeout(timeout)
    _make(name, root, download=True)


# ----------------------------------------------------------------------------------------------
# Decoding


def _decode_all(train: _Lists, val: _Lists, resizes: tuple[int, int], train_side: int, val_side: int,
                interpolation: str = "bilinear") -> ImageData:
    skipped = Counter(train.skipped) + Counter(val.skipped)
    converted: Counter = Counter()
    decoded = []
    for lists, resize, side in ((train, resizes[0], train_side), (val, resizes[1], val_side)):
        results = _decode_many([p for p, _ in lists.items], resize, side, interpolation)
        kept: list[tuple[np.ndarray, int]] = []
        digests: dict[bytes, Path] = {}
        kept_paths: list[str] = []
        for (path, label), (array, skip, conversion, digest) in zip(lists.items, results, strict=True):
            if skip:
                skipped[skip] += 1
                continue
            if conversion:
                converted[conversion] += 1
            kept.append((array, label))
            kept_paths.append(str(path))
            digests.setdefault(digest, path)
        decoded.append((kept, digests, kept_paths))
    (train_kept, train_digests, _), (val_kept, val_digests, val_paths) = decoded
    return _image_data(train.classes, train_kept, val_kept, skipped=dict(skipped), converted=dict(converted),
                       notes=val.notes + _overlap(train_digests, val_digests), val_paths=val_paths)


def _image_data(classes: list[str], train: list[tuple[np.ndarray, int]], val: list[tuple[np.ndarray, int]],
                **extra: Any) -> ImageData:
    """ImageData of decoded (image, label) pairs; BadInput if a class has no training image or val none."""
    counts = Counter(label for _, label in train)
    empty = [name for i, name in enumerate(classes) if counts[i] == 0]
    if empty:
        raise BadInput(f"class {empty[0]} has no usable training image after skipping bad files"
                       + (f" (nor do {_some(empty[1:])})" if len(empty) > 1 else ""))
    if not val:
        raise BadInput("no usable validation image: add images to val/, or more per class so a share can be held out")
    return ImageData(classes=classes, train_x=_stack([x for x, _ in train]), train_y=_labels(train),
                     val_x=_stack([x for x, _ in val]), val_y=_labels(val), **extra)


def _some(names: list[str], shown: int = 5) -> str:
    """The first ``shown`` of ``names`` and how many more: one line, however many classes."""
    more = f" and {len(names) - shown:,} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _overlap(train: dict[bytes, Path], val: dict[bytes, Path]) -> list[str]:
    """A note if some validation files are byte for byte training files: validation would not measure
    how the model does on images it has not seen."""
    shared = [digest for digest in val if digest in train]
    if not shared:
        return []
    first = shared[0]
    return [f"{len(shared)} validation image{'s are' if len(shared) > 1 else ' is'} also in the training set "
            f"(e.g. {val[first]} is {train[first]}): validation accuracy overstates how the model does on new images"]


def _stack(images: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()


def _labels(pairs: list[tuple[np.ndarray, int]]) -> torch.Tensor:
    return torch.tensor([label for _, label in pairs], dtype=torch.int64)


def _decode_many(files: list[Path], resize: int, side: int, interpolation: str = "bilinear") -> list[tuple]:
    """Decode in threads (PIL releases the GIL while decoding and resizing)."""
    with ThreadPoolExecutor(max_workers=min(16, (os.cpu_count() or 1) + 2)) as pool:
        return list(pool.map(lambda f: decode(f, resize, side, interpolation), files))


class _Budget:
    """Bytes or pixels held at once, across threads: a thread waits until its share fits in what is left.
    A thread takes from ``_reading`` before ``_decoding`` and never the other way round, so none waits on
    another that waits on it."""

    def __init__(self, total: int) -> None:
        self.total, self.free = total, total
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        pixels = min(pixels, self.total)
        with self._cond:
            self._cond.wait_for(lambda: self.free >= pixels)
            self.free -= pixels
        try:
            yield
        finally:
            with self._cond:
                self.free += pixels
                self._cond.notify_all()


_reading = _Budget(READING_BYTES)
_decoding = _Budget(DECODING_PIXELS)


def decode(path: Path, resize: int, side: int,
           interpolation: str = "bilinear") -> tuple[np.ndarray | None, str | None, str | None, bytes]:
    """(image ``(side, side, 3)`` uint8 or None, why it was skipped, which conversion was needed, a digest
    of the file's bytes).

    Resize so the shorter side is ``resize``, then centre-crop ``side``. Never raises for a bad file, and
    never waits on one: a FIFO or a device in the file's place is skipped.
    """
    with contextlib.ExitStack() as held:
        try:
            raw = files.read_regular(path, MAX_FILE_BYTES, lambda size: held.enter_context(_reading.hold(size)))
        except OSError as error:
            reasons: dict[int | None, str] = {errno.EINVAL: "not a regular file (FIFO, socket or device)",
                                              errno.EFBIG: f"larger than {MAX_FILE_BYTES >> 20} MB"}
            why = reasons.get(error.errno, "unreadable")
            return None, why, None, b""
        return _decode_bytes(raw, resize, side, interpolation)


def _decode_bytes(raw: bytes, resize: int, side: int,
                  interpolation: str = "bilinear") -> tuple[np.ndarray | None, str | None, str | None, bytes]:
    """``decode`` of a file's bytes (held in the reading budget by the caller)."""
    digest = hashlib.blake2b(raw, digest_size=16).digest()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # EXIF and palette-transparency chatter
            with Image.open(io.BytesIO(raw)) as img:
                mode = img.mode
                if mode == "RGB" and img.format == "JPEG":
                    img.draft("RGB", (resize, resize))  # decode big JPEGs at a reduced scale: much faster
                pixels = img.width * img.height
                if pixels > MAX_PIXELS:
                    return None, f"too large (over {MAX_PIXELS // 10**6} M pixels)", None, digest
                with _decoding.hold(pixels):
                    img.load()
                    if min(img.size) < MIN_SIDE:
                        return None, f"tiny (under {MIN_SIDE} px)", None, digest
                    rgb, conversion = _to_rgb(img)
                    rgb = ImageOps.exif_transpose(rgb)
                    return _resize_crop(rgb, resize, side, interpolation), None, conversion, digest
    except UnidentifiedImageError:
        return None, "not an image (unreadable)", None, digest
    except MemoryError:
        return None, "out of memory while decoding", None, digest
    except Image.DecompressionBombError:
        return None, f"too large (over {MAX_PIXELS // 10**6} M pixels)", None, digest
    except (OSError, SyntaxError, ValueError) as exc:
        return None, "truncated" if "truncated" in str(exc) else "corrupt", None, digest


def _to_rgb(img: Image.Image) -> tuple[Image.Image, str | None]:
    mode = img.mode
    if mode == "RGB":
        return img, None
    if mode.startswith("I;16") or mode in ("I", "F"):
        return _high_bit_depth(img), "16-bit" if mode.startswith("I;16") else _CONVERTED[mode]
    reason = _CONVERTED.get(mode, mode)
    if mode in ("RGBA", "RGBa", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB"), reason
    return img.convert("RGB"), reason


def _high_bit_depth(img: Image.Image) -> Image.Image:
    """16/32-bit greyscale to 8-bit: scale by the format's range, not clip (clipping makes it white)."""
    array = np.asarray(img, dtype=np.float32)
    high = float(array.max()) if array.size else 0.0
    if img.mode.startswith("I;16"):
        array = array / 257.0
    elif high > 255:
        array = array * (255.0 / (65535.0 if high <= 65535 else high))
    grey = np.clip(array + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(grey).convert("RGB")


def _resize_crop(img: Image.Image, resize: int, side: int, interpolation: str = "bilinear") -> np.ndarray:
    """Resize the shorter side to ``resize`` and centre-crop ``side``, as one resample of the crop box."""
    w, h = img.size
    scale = resize / min(w, h)
    box_w, box_h = side / scale, side / scale
    left, top = (w - box_w) / 2, (h - box_h) / 2
    out = img.resize((side, side), RESAMPLE.get(interpolation, Image.Resampling.BILINEAR),
                     box=(left, top, left + box_w, top + box_h),
                     reducing_gap=3.0)
    return np.asarray(out, dtype=np.uint8)


def shuffle_labels(data: ImageData, seed: int) -> None:
    """Permute the labels of the training and the validation set, once, with ``seed`` (``--shuffle-labels``).

    Each image keeps a label, each class keeps its count, but which image has which label is random, so
    nothing in an image can predict its label: validation accuracy can only be chance, and any training
    accuracy above chance is memorised."""
    generator = torch.Generator().manual_seed(seed)
    data.train_y = data.train_y[torch.randperm(len(data.train_y), generator=generator)]
    data.val_y = data.val_y[torch.randperm(len(data.val_y), generator=generator)]
