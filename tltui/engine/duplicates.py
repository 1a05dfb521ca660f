"""Near-duplicate images: a perceptual hash finds the candidates, a thumbnail confirms them.

The hash is the DCT hash (pHash): the greyscale image at 32x32, its 2-D DCT, the 63 lowest frequencies
but the mean (the top-left 8x8), each bit whether its coefficient is above their median. Every hash has
as many ones, so a dark, flat background cannot make unrelated images alike, and brightness or contrast
move a bit only where they clip or round. Two images are near-duplicates when their hashes differ in at most
``NEAR_BITS`` bits and their 16x16 greyscale thumbnails (mean removed, unit length) correlate at
``NEAR_CORRELATION`` or more.

Measured here (``python benchmarks/duplicates.py``: 20 images each of ``builtin``, the UCI digits and
Fashion-MNIST, decoded at 37 px as the tiny backbone's 32 px runs store them): copies re-encoded as JPEG at
quality 75, resized to 90 % or 300 %, at contrast 0.8 or with noise of 6 grey levels moved the hash 0 to
4 bits, kept the correlation at 0.999 or more and were all joined; JPEG at quality 40 moved it up to 6
(18 of Fashion-MNIST's 20 joined), brightness 1.2, which clips, up to 8 (16 to 19 of 20). Crops are
mostly missed: 2 px off each side joined 1 to 11 of 20, 5 % off one side 0 to 11. Between distinct
images both tests together joined none of the 1,200 ``builtin`` images, 6 pairs of the 1,257 digits of
the training pool (the largest group 3) and 70 of 5,000 Fashion-MNIST images (the largest 10). The
difference hash (dHash) of the 9x8 image was tried first and refused: where backgrounds are flat it
gave 459 pairs of distinct digits the same hash (8 across classes), and 1,634 of Fashion-MNIST's (274).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

HASH_SIDE = 32
HASH_FREQUENCIES = 8
THUMB_SIDE = 16
NEAR_BITS = 4
NEAR_CORRELATION = 0.98
PAIRS_AT_ONCE = 2**24
"""Hash distances computed at once: bounds the memory the comparison takes (64 MiB)."""
_GREY = (0.299, 0.587, 0.114)


def near_pairs(images: torch.Tensor) -> list[tuple[int, int]]:
    """Index pairs ``(i, j)``, ``i < j``, of near-duplicates among uint8 images ``(N, 3, S, S)``."""
    if not len(images):
        return []
    hashes, thumbs = signatures(images)
    signs = hashes.float() * 2 - 1  # +-1: the dot product of two is their bits minus twice their distance
    n, bits = signs.shape
    rows = max(1, PAIRS_AT_ONCE // n)
    pairs: list[tuple[int, int]] = []
    for start in range(0, n, rows):
        distance = (bits - signs[start:start + rows] @ signs.T) / 2
        i, j = torch.nonzero(distance <= NEAR_BITS + 0.5, as_tuple=True)
        i = i + start
        keep = i < j
        i, j = i[keep], j[keep]
        close = (thumbs[i] * thumbs[j]).sum(1) >= NEAR_CORRELATION
        pairs += zip(i[close].tolist(), j[close].tolist(), strict=True)
    return pairs


def signatures(images: torch.Tensor, batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """``(N, 63)`` bool DCT hashes and ``(N, 256)`` thumbnails (mean removed, unit length) of uint8 images
    ``(N, 3, S, S)``: two images' thumbnails correlate as the dot product of theirs."""
    hashes, thumbs = [], []
    for start in range(0, len(images), batch):
        grey = _grey(images[start:start + batch])
        hashes.append(_hash(grey))
        thumb = F.avg_pool2d(grey.unsqueeze(1), HASH_SIDE // THUMB_SIDE).flatten(1)
        thumb = thumb - thumb.mean(1, keepdim=True)
        thumbs.append(thumb / thumb.norm(dim=1, keepdim=True).clamp_min(1e-6))
    return torch.cat(hashes), torch.cat(thumbs)


def _grey(images: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor(_GREY, device=images.device).view(1, 3, 1, 1)
    grey = (images.float() * weights).sum(1, keepdim=True)
    return F.interpolate(grey, size=(HASH_SIDE, HASH_SIDE), mode="bilinear", antialias=True,
                         align_corners=False).squeeze(1)


def _hash(grey: torch.Tensor) -> torch.Tensor:
    """``(N, 63)`` bool: the DCT hash of ``(N, 32, 32)`` greyscale images."""
    dct = _dct_matrix(HASH_SIDE, grey.device)
    coefficients = (dct @ grey @ dct.T)[:, :HASH_FREQUENCIES, :HASH_FREQUENCIES].flatten(1)[:, 1:]
    return coefficients > coefficients.median(1, keepdim=True).values


def _dct_matrix(n: int, device: torch.device) -> torch.Tensor:
    """The orthonormal DCT-II: row k is frequency k."""
    k = torch.arange(n, device=device, dtype=torch.float32).view(-1, 1)
    i = torch.arange(n, device=device, dtype=torch.float32).view(1, -1)
    m = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2 / n)
    m[0] /= math.sqrt(2)
    return m
