"""The built-in datasets: ten classes of textures and shapes rendered with numpy from a seed.

No download, same bytes for the same seed. Each image is one patch (a texture or a filled shape) at a
random position, scale, angle and colour, on a cluttered, noisy background, so the task is not trivial.
``builtin-shifted`` renders the same classes in another domain: grey pencil-sketch edges on tinted
paper, sometimes inverted, with heavier noise (the "different domain" side of the transfer quadrants).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

CLASSES: tuple[str, ...] = (
    "stripes-h", "stripes-v", "checkers", "dots", "rings",
    "triangle", "cross", "waves", "blob", "gradient",
)
PER_CLASS = 120
"""Images per class, training and validation together."""
NATIVE = (64, 128)
"""Sides rendered: smaller images are downscaled from 64 px, larger ones upscaled from 128 px."""

_CHUNK = 64  # images rendered at once: bounds the temporaries at large sizes
_CLUTTER = 6  # distractor rectangles per image


def render(size: int, seed: int, *, shifted: bool = False, per_class: int = PER_CLASS) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, size, size, 3)`` uint8 and labels ``(N,)`` int64, class by class.

    Each class has its own random stream, so classes render in parallel threads (numpy releases the GIL)
    and the bytes depend only on the seed.
    """
    images = np.empty((len(CLASSES) * per_class, size, size, 3), np.uint8)
    labels = np.repeat(np.arange(len(CLASSES), dtype=np.int64), per_class)

    def render_class(label: int) -> None:
        rng = np.random.default_rng([seed, int(shifted), label])
        for start in range(0, per_class, _CHUNK):
            n = min(_CHUNK, per_class - start)
            first = label * per_class + start
            images[first:first + n] = _render_chunk(label, n, size, rng, shifted)

    with ThreadPoolExecutor(min(len(CLASSES), os.cpu_count() or 1)) as pool:
        list(pool.map(render_class, range(len(CLASSES))))
    return images, labels


def _render_chunk(label: int, n: int, size: int, rng: np.random.Generator, shifted: bool) -> np.ndarray:
    axis = ((np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1)
    xs, ys = axis[None, None, :], axis[None, :, None]

    def draw(low: float, high: float) -> np.ndarray:
        return rng.uniform(low, high, (n, 1, 1)).astype(np.float32)

    image, base = background(n, xs, ys, rng)
    cx, cy, scale = draw(-0.35, 0.35), draw(-0.35, 0.35), draw(0.45, 0.8)
    name = CLASSES[label]
    # Oriented classes keep their orientation (within 12 degrees); the rest turn freely.
    angle = draw(-0.21, 0.21) if name in ("stripes-h", "stripes-v", "waves") else draw(0, 2 * np.pi)
    cos, sin = np.cos(angle), np.sin(angle)
    u = ((xs - cx) * cos + (ys - cy) * sin) / scale
    v = (-(xs - cx) * sin + (ys - cy) * cos) / scale
    mask, pattern = _shape(name, u, v, draw)
    first, second = _colours(base, rng)
    patch = pattern[..., None] * first + (1 - pattern[..., None]) * second
    image = np.where(mask[..., None] > 0, patch, image)
    if shifted:
        image = _sketch(image, rng)
        noise = 0.12
    else:
        noise = 0.04
    image = image + rng.normal(0, noise, image.shape).astype(np.float32)
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)


def _shape(name: str, u: np.ndarray, v: np.ndarray,
           draw: Callable[[float, float], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(mask, pattern): where the patch is, and its mix of the two colours (0..1), in patch coordinates."""
    freq = draw(2.5, 4.5)
    square = ((np.abs(u) < 1) & (np.abs(v) < 1)).astype(np.float32)
    radius = np.sqrt(u * u + v * v)
    solid = np.ones_like(u)
    if name == "stripes-h":
        return square, _sharp(np.sin(np.pi * freq * v))
    if name == "stripes-v":
        return square, _sharp(np.sin(np.pi * freq * u))
    if name == "checkers":
        return square, _sharp(np.sin(np.pi * freq * u) * np.sin(np.pi * freq * v))
    if name == "dots":
        fu, fv = (u * freq / 2) % 1 - 0.5, (v * freq / 2) % 1 - 0.5
        return square, (fu * fu + fv * fv < 0.07).astype(np.float32)
    if name == "rings":
        return (radius < 1).astype(np.float32), _sharp(np.sin(np.pi * freq * radius))
    if name == "waves":
        amplitude = draw(0.12, 0.25)
        return square, _sharp(np.sin(np.pi * freq * (v + amplitude * np.sin(np.pi * 1.5 * u))))
    if name == "gradient":
        return square, np.clip((u + 1) / 2, 0, 1)
    if name == "triangle":
        sides = [u * np.cos(a) + v * np.sin(a)
                 for a in (np.pi / 2, np.pi / 2 + 2 * np.pi / 3, np.pi / 2 + 4 * np.pi / 3)]
        return (np.maximum(np.maximum(sides[0], sides[1]), sides[2]) < 0.5).astype(np.float32), solid
    if name == "cross":
        bar_u, bar_v = np.abs(u) < 0.25, np.abs(v) < 0.25
        inside = (bar_u & (np.abs(v) < 0.95)) | (bar_v & (np.abs(u) < 0.95))
        return inside.astype(np.float32), solid
    if name == "blob":
        phi = np.arctan2(v, u)
        edge = 0.7 * (1 + 0.25 * np.sin(3 * phi + draw(0, 6.3)) + 0.15 * np.sin(5 * phi + draw(0, 6.3)))
        return (radius < edge).astype(np.float32), solid
    raise ValueError(name)


def _sharp(wave: np.ndarray) -> np.ndarray:
    """A wave in [-1, 1] turned into crisp bands with anti-aliased edges."""
    return np.clip(0.5 + 2.5 * wave, 0, 1)


def _colours(base: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two colours of random hue per image: the first differs from the background in brightness by
    0.3 to 0.5, the second from the first, so the patch and its pattern are always visible."""
    n = base.shape[0]

    def away_from(brightness: np.ndarray) -> np.ndarray:
        step = rng.uniform(0.3, 0.5, (n, 1, 1, 1)).astype(np.float32)
        return np.where(brightness < 0.5, brightness + step, brightness - step)

    first_luma = away_from(luma(base))
    second_luma = away_from(first_luma)
    hues = rng.uniform(0, 1, (2, n, 1, 1, 3)).astype(np.float32)
    return with_luma(hues[0], first_luma), with_luma(hues[1], second_luma)


def luma(colour: np.ndarray) -> np.ndarray:
    return colour @ np.array([[0.299], [0.587], [0.114]], np.float32)


def with_luma(colour: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``colour`` moved to brightness ``target``, its hue kept."""
    return np.clip(colour - luma(colour) + target, 0, 1)


def background(n: int, xs: np.ndarray, ys: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A base colour with a slow colour wave, and a few random rectangles as clutter; (image, base)."""
    size = xs.shape[-1]
    base = rng.uniform(0.1, 0.9, (n, 1, 1, 3)).astype(np.float32)
    kx, ky, phase = (rng.uniform(-3, 3, (n, 1, 1, 1)).astype(np.float32) for _ in range(3))
    wave = 0.12 * np.sin(kx * xs[..., None] + ky * ys[..., None] + phase) * rng.uniform(-1, 1, (n, 1, 1, 3))
    image = np.broadcast_to(base + wave.astype(np.float32), (n, size, size, 3)).copy()
    centre = rng.uniform(-1, 1, (2, n, _CLUTTER, 1, 1)).astype(np.float32)
    half = rng.uniform(0.03, 0.12, (2, n, _CLUTTER, 1, 1)).astype(np.float32)
    colour = rng.uniform(0, 1, (n, _CLUTTER, 3)).astype(np.float32)
    for k in range(_CLUTTER):
        inside = (np.abs(xs - centre[0, :, k]) < half[0, :, k]) & (np.abs(ys - centre[1, :, k]) < half[1, :, k])
        image = np.where(inside[..., None], colour[:, k, None, None, :], image)
    return image, base


def _sketch(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Grey pencil edges on tinted paper; a third of the images inverted (chalk on a board)."""
    n, size = image.shape[:2]
    padded = np.pad(image, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    blur = sum(padded[:, 1 + dy:size + 1 + dy, 1 + dx:size + 1 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)) / 9
    ink = np.clip(np.abs(image - blur).max(-1, keepdims=True) * 5, 0, 1)
    paper = (rng.uniform(0.8, 1.0, (n, 1, 1, 1)).astype(np.float32)
             * rng.uniform(0.9, 1.0, (n, 1, 1, 3)).astype(np.float32))
    pencil = rng.uniform(0.0, 0.3, (n, 1, 1, 1)).astype(np.float32)
    drawn = paper * (1 - ink) + pencil * ink
    invert = rng.uniform(0, 1, (n, 1, 1, 1)) < 1 / 3
    return np.where(invert, 1 - drawn, drawn).astype(np.float32)
