"""Error analysis of a classifier from its validation predictions: torch-free, so the worker computes it
and the UI and CLI format it.

- The accuracy's 95% interval is Wilson's score interval (Wilson 1927; recommended over the normal
  approximation by Brown, Cai and DasGupta 2001, "Interval Estimation for a Binomial Proportion"): it
  stays inside [0, 1] and keeps its coverage at 0 or all right and on small validation sets.
- Per class: recall (the share of its images predicted right) and support (how many it has).
- The most confused pairs: the largest off-diagonal cells of the confusion matrix.
- The top losses: the images with the highest cross-entropy, ``-ln p(true class)``, as fastai's
  ``ClassificationInterpretation.top_losses`` ranks them.
- Balanced accuracy (the mean recall over the classes present) when the supports are imbalanced: the
  largest class has at least ``IMBALANCE`` times the images of the smallest.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from tltui.core.protocol.events import ClassRecall, ConfusedPair, ErrorAnalysis, TopLoss

Z95 = 1.959963984540054
"""The standard normal quantile of 0.975: a two-sided 95% interval."""
TOP_LOSSES = 9
CONFUSED_PAIRS = 5
IMBALANCE = 1.5
"""Supports this far apart (largest / smallest) make a set imbalanced: balanced accuracy is given."""
MIN_PROBABILITY = 1e-12
"""A probability is at least this when its loss is taken (``-ln 0`` is infinite)."""


def wilson(correct: int, total: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for ``correct`` successes in ``total`` trials: the proportions ``p`` whose
    score test ``|correct - total p| / sqrt(total p (1 - p)) <= z`` does not reject. (0, 1) for no trials."""
    if total <= 0:
        return 0.0, 1.0
    if not 0 <= correct <= total:
        raise ValueError(f"{correct} correct of {total}")
    p = correct / total
    z2 = z * z
    centre = (p + z2 / (2 * total)) / (1 + z2 / total)
    half = z / (1 + z2 / total) * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total))
    # At 0 or all right one end is exactly 0 or 1; rounding must not leave it a hair inside.
    low = 0.0 if correct == 0 else max(0.0, centre - half)
    high = 1.0 if correct == total else min(1.0, centre + half)
    return low, high


def balanced_accuracy(labels: Sequence[int], predicted: Sequence[int]) -> float:
    """The mean over the classes present in ``labels`` of each one's recall."""
    support = Counter(labels)
    right = Counter(t for t, p in zip(labels, predicted, strict=False) if t == p)
    return sum(right[c] / n for c, n in support.items()) / len(support) if support else 0.0


def imbalanced(supports: Sequence[int]) -> bool:
    """Whether the largest class has at least ``IMBALANCE`` times the images of the smallest (present) one."""
    present = [n for n in supports if n > 0]
    return bool(present) and max(present) >= IMBALANCE * min(present)


def analyse(classes: Sequence[str], labels: Sequence[int], predicted: Sequence[int],
            true_probability: Sequence[float], predicted_probability: Sequence[float], paths: Sequence[str], *,
            top: int = TOP_LOSSES, pairs: int = CONFUSED_PAIRS) -> ErrorAnalysis:
    """The analysis of validation predictions: per image its label, predicted class, the softmax
    probability of its true and of its predicted class, and its path."""
    n = len(labels)
    if not n == len(predicted) == len(true_probability) == len(predicted_probability) == len(paths):
        raise ValueError("labels, predictions, probabilities and paths differ in length")
    correct = sum(t == p for t, p in zip(labels, predicted, strict=True))
    low, high = wilson(correct, n)
    support = Counter(labels)
    right = Counter(t for t, p in zip(labels, predicted, strict=True) if t == p)
    per_class = [ClassRecall(name=name, recall=right[c] / support[c] if support[c] else 0.0, support=support[c])
                 for c, name in enumerate(classes)]
    wrong = Counter((t, p) for t, p in zip(labels, predicted, strict=True) if t != p)
    confused = [ConfusedPair(true=classes[t], predicted=classes[p], count=k)
                for (t, p), k in sorted(wrong.items(), key=lambda item: (-item[1], item[0]))[:pairs]]
    losses = [-math.log(max(q, MIN_PROBABILITY)) for q in true_probability]
    order = sorted(range(n), key=lambda i: (-losses[i], i))[:top]
    top_losses = [TopLoss(index=i, path=paths[i], true=classes[labels[i]], predicted=classes[predicted[i]],
                          probability=predicted_probability[i], true_probability=true_probability[i], loss=losses[i])
                  for i in order]
    balanced = balanced_accuracy(labels, predicted) if imbalanced([support[c] for c in range(len(classes))]) else None
    return ErrorAnalysis(correct=correct, total=n, low=low, high=high, per_class=per_class, confused=confused,
                         top_losses=top_losses, balanced_accuracy=balanced)


def short_path(path: str, width: int) -> str:
    """``path`` in at most ``width`` characters, its start cut off (the file name and class stay)."""
    return path if len(path) <= width else "…" + path[len(path) - width + 1:]


def lines(analysis: ErrorAnalysis, path_width: int = 48) -> list[str]:
    """The analysis as text, a line each: the interval, balanced accuracy, per-class recall and support,
    the most confused pairs and the top losses."""
    a = analysis
    out = [f"val accuracy {a.accuracy:.1%} ({a.correct}/{a.total}), 95% interval {a.low:.1%} to {a.high:.1%} "
           "(Wilson score)"]
    if a.balanced_accuracy is not None:
        out.append(f"balanced accuracy {a.balanced_accuracy:.1%} (mean recall per class: the classes are imbalanced)")
    width = min(max((len(c.name) for c in a.per_class), default=5), 20)
    out.append("per class: recall (support)")
    out += [f"  {c.name[:width]:<{width}}  {c.recall:6.1%}  ({c.support})" for c in a.per_class]
    if a.confused:
        out.append("most confused (true -> predicted): "
                   + ", ".join(f"{c.true} -> {c.predicted} {c.count}" for c in a.confused))
    else:
        out.append("most confused: none, every validation image was predicted right")
    out.append("top losses (true -> predicted, p(predicted), loss):")
    out += [f"  {i}. {short_path(t.path, path_width)}  {t.true} -> {t.predicted}  p {t.probability:.2f}  "
            f"loss {t.loss:.2f}" for i, t in enumerate(a.top_losses, 1)]
    return out
