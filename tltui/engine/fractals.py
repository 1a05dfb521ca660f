"""The tiny backbone's source set: FractalDB-style classes of iterated function systems, rendered with numpy.

Each class is one random 2-D iterated function system (IFS): 2 to 4 contractive affine maps (largest
singular value at most 0.8), picked with probability in proportion to |det|, kept only if its attractor
covers at least 15% of the canvas. An instance changes one parameter of one map by x U(0.8, 1.2), runs
the chaos game (1,000 points, all on the attractor: every chain starts at a map's fixed point), and draws
the points, one colour per map, at a random rotation, flip, scale and position on a cluttered background
like the built-in sets' (a base colour, a slow colour wave, a few rectangles), plus pixel noise.

Same bytes for the same seed: the classes come from one random stream, and each (stream, class) pair draws
its instances from its own, so classes render in parallel threads, every pretraining epoch sees fresh
images (stream = epoch), and the held-out batch is just another stream (``HELD_OUT``) of the same classes.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from tltui.engine import builtin

MAX_MAPS = 4
MAX_GAIN = 0.8
"""Largest singular value of a map before an instance's x1.2 change."""
MIN_COVER = 0.15
CHAINS, STEPS = 50, 20
"""The chaos game: CHAINS chains of STEPS points each, 1,000 points an image."""
HELD_OUT = 10**6
"""The stream of the held-out instances: never an epoch's."""
NOISE = 0.04
_CHUNK = 256


def systems(n_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n_classes`` IFSs: matrices ``(K, 4, 2, 2)``, offsets ``(K, 4, 2)``, map probabilities ``(K, 4)``
    (unused map slots have probability 0)."""
    rng = np.random.default_rng([seed, 0])
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    while len(found) < n_classes:
        a, b, p = _random_systems(4 * n_classes, rng)
        points, _ = _chaos(a, b, p, rng)
        keep = _cover(_normalise(points)) >= MIN_COVER
        found += [(a[i], b[i], p[i]) for i in np.flatnonzero(keep)]
    a, b, p = (np.stack(x) for x in zip(*found[:n_classes], strict=True))
    return a, b, p


def render(size: int, seed: int, n_classes: int, per_class: int, *, stream: int = 0,
           ifs: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, size, size, 3)`` uint8 and labels ``(N,)`` int64, class by class: ``per_class``
    instances of each class from random stream ``stream``.

    ``ifs``: the classes' systems when already made (``systems(n_classes, seed)`` otherwise).
    """
    a, b, p = ifs if ifs is not None else systems(n_classes, seed)
    images = np.empty((n_classes * per_class, size, size, 3), np.uint8)
    labels = np.repeat(np.arange(n_classes, dtype=np.int64), per_class)

    def render_class(label: int) -> None:
        rng = np.random.default_rng([seed, 1, stream, label])
        for start in range(0, per_class, _CHUNK):
            n = min(_CHUNK, per_class - start)
            first = label * per_class + start
            images[first:first + n] = _render_chunk(a[label], b[label], p[label], n, size, rng)

    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        list(pool.map(render_class, range(n_classes)))
    return images, labels


def _random_systems(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` candidate systems: each map a rotation, two gains, a rotation (and a reflection half the time)."""
    def rotation(angle: np.ndarray) -> np.ndarray:
        c, s = np.cos(angle), np.sin(angle)
        return np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)

    shape = (n, MAX_MAPS)
    first = rng.uniform(0.25, MAX_GAIN, shape)
    second = first * rng.uniform(0.2, 1.0, shape)
    gains = np.zeros((*shape, 2, 2))
    gains[..., 0, 0] = first
    gains[..., 1, 1] = second * rng.choice([-1.0, 1.0], shape)
    a = rotation(rng.uniform(0, 2 * np.pi, shape)) @ gains @ rotation(rng.uniform(0, 2 * np.pi, shape))
    b = rng.uniform(-1, 1, (*shape, 2))
    maps = rng.integers(2, MAX_MAPS + 1, n)
    used = np.arange(MAX_MAPS) < maps[:, None]
    weight = np.abs(np.linalg.det(a)) * used
    return a, b, weight / weight.sum(1, keepdims=True)


def _chaos(a: np.ndarray, b: np.ndarray, p: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Points ``(n, CHAINS * STEPS, 2)`` on each system's attractor and the map that drew each."""
    n: int = a.shape[0]
    rows = np.arange(n)[:, None]
    start = rng.choice(MAX_MAPS, n, p=None)
    start = np.where(p[np.arange(n), start] > 0, start, 0)
    # A map's fixed point lies on the attractor, so every chain is on it from its first point.
    fixed = np.linalg.solve(np.eye(2) - a[np.arange(n), start], b[np.arange(n), start][..., None])[..., 0]
    x = np.repeat(fixed[:, None, :], CHAINS, 1)
    cumulative = np.cumsum(p, 1)
    points = np.empty((n, STEPS, CHAINS, 2))
    which = np.empty((n, STEPS, CHAINS), np.int64)
    for step in range(STEPS):
        pick = (rng.uniform(0, 1, (n, CHAINS, 1)) > cumulative[:, None, :]).sum(-1).clip(0, MAX_MAPS - 1)
        x = np.einsum("ncij,ncj->nci", a[rows, pick], x) + b[rows, pick]
        points[:, step], which[:, step] = x, pick
    return points.reshape(n, -1, 2), which.reshape(n, -1)


def _normalise(points: np.ndarray) -> np.ndarray:
    """Points centred and scaled so the longer side of their bounding box spans [-1, 1]."""
    low, high = points.min(1, keepdims=True), points.max(1, keepdims=True)
    half = ((high - low) / 2).max(-1, keepdims=True)
    return (points - (low + high) / 2) / np.maximum(half, 1e-9)


def _cover(points: np.ndarray, side: int = 32) -> np.ndarray:
    """Share of a ``side`` x ``side`` canvas the (normalised) points hit, per system."""
    n = points.shape[0]
    pixel = np.clip(((points + 1) / 2 * side).astype(np.int64), 0, side - 1)
    flat = (np.arange(n)[:, None] * side + pixel[..., 1]) * side + pixel[..., 0]
    return (np.bincount(flat.ravel(), minlength=n * side * side).reshape(n, -1) > 0).mean(1)


def _render_chunk(a: np.ndarray, b: np.ndarray, p: np.ndarray, n: int, size: int,
                  rng: np.random.Generator) -> np.ndarray:
    a, b = np.repeat(a[None], n, 0), np.repeat(b[None], n, 0)
    # One parameter of one used map, times U(0.8, 1.2).
    used = np.flatnonzero(p > 0)
    slot = rng.choice(used, n)
    param = rng.integers(0, 6, n)
    factor = rng.uniform(0.8, 1.2, n)
    rows = np.arange(n)
    in_matrix = param < 4
    a[rows[in_matrix], slot[in_matrix], param[in_matrix] // 2, param[in_matrix] % 2] *= factor[in_matrix]
    b[rows[~in_matrix], slot[~in_matrix], param[~in_matrix] - 4] *= factor[~in_matrix]
    points, which = _chaos(a, b, np.repeat(p[None], n, 0), rng)
    points = _normalise(points)

    # Pose: rotation, a mirror half the time, scale, and a shift that keeps it on the canvas.
    angle = rng.uniform(0, 2 * np.pi, n)
    mirror = rng.choice([-1.0, 1.0], n)
    scale = rng.uniform(0.5, 0.9, n)
    shift = rng.uniform(-1, 1, (n, 2)) * (1 - scale)[:, None]
    c, s = np.cos(angle), np.sin(angle)
    x, y = points[..., 0] * mirror[:, None], points[..., 1]
    px = (c[:, None] * x - s[:, None] * y) * scale[:, None] + shift[:, :1]
    py = (s[:, None] * x + c[:, None] * y) * scale[:, None] + shift[:, 1:]

    # Splat at twice the side, then average 2x2: ink coverage and the mean colour of the maps there.
    fine = 2 * size
    col = np.clip(((px + 1) / 2 * fine).astype(np.int64), 0, fine - 1)
    row = np.clip(((py + 1) / 2 * fine).astype(np.int64), 0, fine - 1)
    flat = ((rows[:, None] * fine + row) * fine + col).ravel()
    axis = ((np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1)
    image, base = builtin.background(n, axis[None, None, :], axis[None, :, None], rng)
    colours = _ink_colours(base[:, 0, 0, :], rng)  # (n, 4, 3)
    point_colour = colours[rows[:, None], which].reshape(-1, 3)
    hits = np.bincount(flat, minlength=n * fine * fine).reshape(n, size, 2, size, 2)
    paint = np.stack([np.bincount(flat, point_colour[:, k], n * fine * fine) for k in range(3)], -1)
    paint = paint.reshape(n, size, 2, size, 2, 3).sum((2, 4))
    count = hits.sum((2, 4))
    ink = ((hits > 0).mean((2, 4)))[..., None].astype(np.float32)
    colour = (paint / np.maximum(count, 1)[..., None]).astype(np.float32)
    image = image * (1 - ink) + colour * ink
    image = image + rng.normal(0, NOISE, image.shape).astype(np.float32)
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)


def _ink_colours(base: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A colour per map, ``(n, 4, 3)``: random hues, all 0.3 to 0.5 away from the background's brightness."""
    n = base.shape[0]
    luma = builtin.luma(base)[:, None, :]  # (n, 1, 1)
    step = rng.uniform(0.3, 0.5, (n, 1, 1))
    target = np.where(luma < 0.5, luma + step, luma - step)
    hues = rng.uniform(0, 1, (n, MAX_MAPS, 3))
    return builtin.with_luma(hues, target).astype(np.float32)
