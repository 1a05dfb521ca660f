"""Made-up pictures for the fake worker's picture requests: deterministic patterns in plain Python (no
torch), so UI tests and snapshots of the picture widgets run anywhere. Only their shapes, sizes and
captions follow the real worker (tltui/engine/pictures.py); the pixels mean nothing."""

from __future__ import annotations

import math
import random
from pathlib import Path

from tltui.core import analysis as core_analysis
from tltui.core.protocol.config import AUGMENTS
from tltui.core.protocol.events import ErrorAnalysis, Finished
from tltui.core.protocol.replies import (
    ActivationsReply,
    ChannelStats,
    FiltersReply,
    GalleryReply,
    GroupMaps,
    LossPicturesReply,
    Picture,
    WalkReply,
)
from tltui.core.protocol.requests import Activations, FeatureWalk, Filters, Gallery, LossPictures, Request

CLASSES = ("stripes-h", "stripes-v", "checkers", "dots", "rings", "triangle", "cross", "waves", "blob", "gradient")
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
WIDTHS = {"resnet50": (64, 256, 512, 1024, 2048), "tiny": (16, 16, 32, 64, 128)}
LABELS = {"resnet50": "ResNet-50", "tiny": "tiny ResNet"}
PRETRAINED = {"resnet50": "imagenet (IMAGENET1K_V2)", "tiny": "pretrained (generated fractals, tiny.pt)"}
SIX = """\
................
......#####.....
....###...##....
...##...........
..##............
..##............
..##.######.....
..####....###...
..###......##...
..##.......##...
..##.......##...
..###.....###...
...###...###....
....######......
................
................"""

Rows = list[list[tuple[int, int, int]]]


def picture(rows: Rows, label: str) -> Picture:
    return Picture(width=len(rows[0]), height=len(rows), rgb=bytes(v for row in rows for px in row for v in px),
                   label=label)


def stripes(side: int, index: int) -> Rows:
    """Slanted two-colour stripes whose colours and angle depend on ``index``."""
    hue = (index * 0.37) % 1
    a = tuple(int(255 * (0.5 + 0.45 * math.sin(2 * math.pi * (hue + k / 3)))) for k in range(3))
    b = tuple(255 - v for v in a)
    slope = 1 + index % 3
    return [[a if ((x + slope * y) // 3) % 2 else b for x in range(side)] for y in range(side)]


def stats(rows: Rows) -> tuple[ChannelStats, ChannelStats]:
    values = [[px[c] / 255 for row in rows for px in row] for c in range(3)]
    mean = [sum(v) / len(v) for v in values]
    std = [math.sqrt(sum((x - m) ** 2 for x in v) / len(v)) for v, m in zip(values, mean, strict=True)]
    before = ChannelStats(mean=[round(m, 4) for m in mean], std=[round(s, 4) for s in std])
    after = ChannelStats(mean=[round((m - MEAN[c]) / STD[c], 4) for c, m in enumerate(mean)],
                         std=[round(s / STD[c], 4) for c, s in enumerate(std)])
    return before, after


def check_folder(data: str) -> None:
    if data not in ("builtin", "builtin-shifted") and not Path(data).is_dir():
        raise ValueError(f"no such folder: {data} (give a folder of class subfolders, or builtin)")


def gallery(request: Gallery) -> GalleryReply:
    check_folder(request.data)
    index = request.index % 960
    base = stripes(request.display, index)
    rng = random.Random(request.seed)
    variants = []
    for i in range(request.count):
        rows = base
        if "crop" in request.augment:
            shift = rng.randrange(1, 5)
            rows = [row[shift:] + row[:shift] for row in rows[shift:] + rows[:shift]]
        if "flip" in request.augment and rng.random() < 0.5:
            rows = [row[::-1] for row in rows]
        if "color" in request.augment:
            factor = rng.uniform(0.6, 1.2)
            rows = [[tuple(min(255, int(v * factor)) for v in px) for px in row] for row in rows]
        variants.append(picture(rows, f"variant {i + 1}"))
    before, after = stats(base)
    normalised = [[tuple(int(255 * min(1, max(0, ((v / 255 - MEAN[c]) / STD[c] + 2.7) / 5.4)))
                         for c, v in enumerate(px)) for px in row] for row in base]
    six = [[(40, 40, 40) if ch == "#" else (255, 255, 255) for ch in line] for line in SIX.splitlines()]
    return GalleryReply(
        source=f"{request.data} training image {index + 1}/960", label=CLASSES[index % 10], index=index,
        augment=[a for a in AUGMENTS if a in request.augment], image_size=request.image_size,
        original=picture(base, "original"), variants=variants, normalised=picture(normalised, "network input"),
        before=before, after=after, digit=picture(six, 'a "6" (label 6)'),
        digit_flipped=picture(six[::-1], "v-flip breaks it"),
    )


def weights_label(model: str, weights: str) -> str:
    return "random (seed 0)" if weights == "none" else PRETRAINED[model]


def filters(request: Filters) -> FiltersReply:
    count, kernel = (64, 7) if request.model == "resnet50" else (16, 3)
    rng = random.Random(0)
    pictures = []
    for i in range(count):
        if request.weights == "none":
            rows = [[tuple(rng.randrange(256) for _ in range(3)) for _ in range(kernel)] for _ in range(kernel)]
        else:  # an oriented grating in two colours
            angle, hue = i * 0.7, (i * 0.13) % 1
            colour = [0.5 + 0.5 * math.sin(2 * math.pi * (hue + k / 3)) for k in range(3)]
            rows = [[tuple(int(255 * (0.5 + 0.5 * math.cos(x * math.cos(angle) + y * math.sin(angle)) * c))
                           for c in colour) for x in range(kernel)] for y in range(kernel)]
        pictures.append(picture(rows, f"filter {i + 1}"))
    return FiltersReply(model=LABELS[request.model], weights=weights_label(request.model, request.weights),
                        kernel=kernel, filters=pictures)


def heat(side: int, seed: int, label: str) -> Picture:
    """A blob whose place depends on ``seed``, in an inferno-like ramp."""
    cx, cy = (seed * 7) % side, (seed * 3) % side
    rows = []
    for y in range(side):
        row = []
        for x in range(side):
            level = math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (side * 2))
            row.append((int(252 * level ** 0.5), int(200 * level), int(110 * (1 - level) * level + 20)))
        rows.append(row)
    return picture(rows, label)


def activations(request: Activations) -> ActivationsReply:
    check_folder(request.data)
    index = request.index % 240
    size = 64 if request.model == "resnet50" else 32
    groups = []
    for g, (group, side, width) in enumerate(zip(("stem", "layer1", "layer2", "layer3", "layer4"),
                                                 (16, 16, 8, 4, 2), WIDTHS[request.model], strict=True)):
        channels = [(index * 5 + g * 11 + k * 3) % width for k in range(request.channels)]
        groups.append(GroupMaps(group=group, channels=width, height=side, width=side,
                                maps=[heat(request.display, index + c, f"ch {c}") for c in channels]))
    return ActivationsReply(
        model=LABELS[request.model], weights=weights_label(request.model, request.weights), image_size=size,
        index=index, label=CLASSES[index % 10],
        source=(f"built-in validation image {index + 1}/240" if request.data == "builtin"
                else f"{request.data} #{index + 1}"),
        image=picture(stripes(size, index), CLASSES[index % 10]), groups=groups,
    )


def feature_walk(request: FeatureWalk) -> WalkReply:
    index = request.index % 240
    width = WIDTHS[request.model][-1]
    features = [round(max(0.0, math.sin(i * 0.37 + index)) ** 6 * (1 + (i * index) % 3), 4) for i in range(width)]
    logits = [3.0 if k == index % 10 else 1.5 if k == (index + 3) % 10 else 0.0 for k in range(10)]
    total = sum(math.exp(v) for v in logits)
    return WalkReply(
        model=LABELS[request.model], weights=weights_label(request.model, request.weights),
        image_size=64 if request.model == "resnet50" else 32, index=index,
        source=f"built-in validation image {index + 1}/240", label=CLASSES[index % 10],
        image=picture(stripes(request.display, index), CLASSES[index % 10]), features=features,
        classes=list(CLASSES), scores=[round(math.exp(v) / total, 4) for v in logits],
        head=f"Linear({width}, 10) fitted by the worker on the frozen features of 400 built-in training images",
        train_acc=0.98, val_acc=0.87,
    )


def answer(request: Request) -> object:
    handlers = {Gallery: gallery, Filters: filters, Activations: activations,
                FeatureWalk: feature_walk}
    return handlers[type(request)](request)


def analysis(finished: Finished) -> ErrorAnalysis:
    """An error analysis with the finished event's confusion matrix: made-up files and probabilities."""
    labels, predicted, p_true, p_predicted, paths = [], [], [], [], []
    for t, row in enumerate(finished.confusion):
        for p, count in enumerate(row):
            for k in range(count):
                right = t == p
                labels.append(t)
                predicted.append(p)
                p_true.append(0.9 - 0.01 * k if right else 0.02 + 0.01 * ((t + k) % 7))
                p_predicted.append(p_true[-1] if right else 0.5 + 0.05 * (k % 5))
                paths.append(f"/home/learner/birds/val/{finished.classes[t]}/{finished.classes[t]}_{len(paths):04d}.jpg")
    return core_analysis.analyse(finished.classes, labels, predicted, p_true, p_predicted, paths)


def loss_pictures(request: LossPictures, errors: ErrorAnalysis) -> LossPicturesReply:
    return LossPicturesReply(run_id=request.run_id, pictures=[
        picture(stripes(request.display, top.index), f"{top.true} → {top.predicted} {top.probability:.0%}")
        for top in errors.top_losses])
