"""k-nearest neighbours on fixed features: the untrained reference beside a probe, in diagnose and in a probe run."""

from __future__ import annotations

import torch
import torch.nn.functional as F

K = 5


def predict(train_f: torch.Tensor, train_y: torch.Tensor, query: torch.Tensor, k: int = K) -> torch.Tensor:
    """Predicted labels: the ``k`` most cosine-similar training images vote, each with its similarity."""
    train_f, query = F.normalize(train_f.float(), dim=1), F.normalize(query.float(), dim=1)
    sims, nearest = (query @ train_f.T).topk(min(k, len(train_f)), dim=1)
    classes = int(train_y.max()) + 1
    votes = torch.zeros(len(query), classes, device=query.device)
    votes.scatter_add_(1, train_y[nearest], sims.clamp(min=0) + 1e-6)
    return votes.argmax(1)
