"""A rule of thumb for the accuracy a freeze setting will reach: a prediction, never a measurement.

accuracy ~ fit of the frozen features to your domain (better the closer it is to the source data,
and with more images per class)
  + what unfreezing buys: the rest of the way, more the farther the domain and the more data you have,
    with diminishing returns per unfrozen group
  - overfitting: a share of the network trains on too few images
  - forgetting: a learning rate too large for pretrained groups (and too small to learn at all).
"""

from __future__ import annotations

import math

from tltui.core.groups import GROUPS

#: Domain similarity settings: name -> how well source features fit (0 far .. 1 close).
SIMILARITY = {"similar": 1.0, "moderate": 0.5, "different": 0.0}
RULE = "prediction = a rule of thumb, not measured: domain fit + unfreezing gain with data - overfit - forgetting"


def predict(trainable: set[str], per_class: int, similarity: str, lr: float, classes: int = 10,
            trainable_share: float = 0.0) -> float:
    """Predicted validation accuracy for training ``trainable`` groups on ``per_class`` images per class.

    ``trainable_share``: the share of the network's parameters that train (for the overfitting term).
    """
    chance = 1 / classes
    if not trainable:
        return chance
    close = SIMILARITY[similarity]
    data = min(1.0, math.log10(max(per_class, 1)) / 3)  # 1 image: 0, 1000 images: 1
    adapt_data = min(1.0, max(0.0, (math.log10(max(per_class, 1)) - 1) / 2))  # 10 -> 0, 1000 -> 1
    fit = 0.55 + 0.35 * close
    head_only = fit * (0.6 + 0.4 * data)
    lowest = min(GROUPS.index(g) for g in trainable)
    unfrozen = len(GROUPS) - 1 - lowest  # backbone groups that train
    gain = (1 - head_only) * (1 - 0.5**unfrozen) * adapt_data * (0.4 + 0.6 * (1 - close))
    overfit = 0.3 * trainable_share * (1 - adapt_data)
    forget = 0.0
    if unfrozen and lr > 0.03:
        forget = 0.12 * math.log10(lr / 0.03)
    if lr < 1e-4:
        forget += 0.08 * math.log10(1e-4 / lr)
    return max(chance, min(0.99, head_only + gain - overfit - forget))
