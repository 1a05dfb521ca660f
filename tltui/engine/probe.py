"""A linear probe solved to convergence: multinomial logistic regression on fixed features.

The objective is the mean cross-entropy plus ``l2 / 2`` times the squared norm of the weights (the bias is
not penalised), on centred features divided by one common scale; the solution is folded back so that it applies to
the raw features, as a ``nn.Linear`` head does. It is convex, so L-BFGS (full batch, strong Wolfe line
search) reaches its minimum from zeros: the solver stops when an iteration changes the objective or the
weights by less than ``TOLERANCE`` (the loss has plateaued) or its gradient vanishes, or after
``MAX_ITER`` iterations. ``choose_l2`` picks the penalty by stratified cross-validation on the training
features alone.

LP-FT's first stage (Kumar et al. 2022) is this probe; so is the strongest cheap baseline on a frozen
backbone (Kornblith et al. 2019 tune an L2-regularised logistic regression the same way).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from tltui.core import diagnosis, linear_probe as settings

L2_GRID, CV_FOLDS, MAX_ITER, TOLERANCE = settings.L2_GRID, settings.CV_FOLDS, settings.MAX_ITER, settings.TOLERANCE
CV_MAX_IMAGES = 5000
"""Cross-validation reads at most this many training images (stratified): it stays seconds on big sets."""


class Stopped(Exception):
    """Raised out of a fit when ``should_stop`` says so."""


@dataclass(frozen=True)
class Probe:
    weight: torch.Tensor
    """``(classes, d)``: applies to the raw features, as ``nn.Linear.weight``."""
    bias: torch.Tensor
    l2: float
    iterations: int
    loss: float
    """The mean cross-entropy on the training features at the solution (the penalty not included)."""
    accuracy: float
    """On the training features."""

    def predict(self, features: torch.Tensor) -> torch.Tensor:
        return self.logits(features).argmax(1)

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return features.float() @ self.weight.T + self.bias


def fit(features: torch.Tensor, labels: torch.Tensor, classes: int, l2: float, *, max_iter: int = MAX_ITER,
        should_stop: Callable[[], bool] = lambda: False) -> Probe:
    """The probe minimising cross-entropy + ``l2 / 2 * |W|^2`` on the centred, scaled ``features``; Stopped if
    ``should_stop`` turns true."""
    x = features.float()
    mean, scale = _moments(x)
    w, b, iterations = _solve((x - mean) / scale, labels, classes, l2, max_iter, should_stop)
    with torch.no_grad():
        weight = w / scale
        bias = b - weight @ mean
        logits = x @ weight.T + bias
        loss = float(F.cross_entropy(logits, labels))
        accuracy = float((logits.argmax(1) == labels).float().mean())
    return Probe(weight, bias, l2, iterations, loss, accuracy)


def choose_l2(features: torch.Tensor, labels: torch.Tensor, classes: int, folds: Sequence[tuple[list[int], list[int]]],
              grid: Sequence[float] = L2_GRID, should_stop: Callable[[], bool] = lambda: False) -> float:
    """The penalty of ``grid`` with the best mean held-out accuracy over ``folds`` (ties: the larger
    penalty, the simpler model); the middle of the grid when there are no folds. Each fold solves the grid
    from the largest penalty down, each solution the next one's start (a regularisation path)."""
    if not folds:
        return grid[len(grid) // 2]
    path = sorted(grid, reverse=True)
    hits = dict.fromkeys(path, 0)
    x = features.float()
    for train, held in folds:
        tr, va = torch.tensor(train, device=labels.device), torch.tensor(held, device=labels.device)
        mean, scale = _moments(x[tr])
        z_tr, z_va = (x[tr] - mean) / scale, (x[va] - mean) / scale
        start = None
        for l2 in path:
            w, b, _ = _solve(z_tr, labels[tr], classes, l2, MAX_ITER, should_stop, start)
            start = (w, b)
            hits[l2] += int(((z_va @ w.T + b).argmax(1) == labels[va]).sum())
    best = max(hits.values())
    return next(l2 for l2 in path if hits[l2] == best)


def _moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each dimension's mean, and one scale for all: the root of the mean variance. Not a scale per dimension:
    a dimension that barely varies would get a huge weight, which fine-tuning (LP-FT) then blows up."""
    return x.mean(0), x.var(0, unbiased=False).mean().sqrt().clamp_min(1e-6).expand(x.shape[1])


def _solve(z: torch.Tensor, labels: torch.Tensor, classes: int, l2: float, max_iter: int,
           should_stop: Callable[[], bool], start: tuple[torch.Tensor, torch.Tensor] | None = None,
           ) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(weight, bias, iterations) minimising the objective on centred, scaled ``z``, from ``start`` or zeros."""
    w = start[0].clone() if start else torch.zeros(classes, z.shape[1], device=z.device)
    b = start[1].clone() if start else torch.zeros(classes, device=z.device)
    solver = torch.optim.LBFGS([w, b], lr=1, max_iter=max_iter, tolerance_grad=TOLERANCE,
                               tolerance_change=TOLERANCE, history_size=20, line_search_fn="strong_wolfe")
    onehot = F.one_hot(labels, classes).to(z.dtype)

    def objective() -> torch.Tensor:
        """The loss, its gradient written into ``.grad`` by hand (softmax minus one-hot): no autograd graph."""
        if should_stop():
            raise Stopped
        logp = torch.log_softmax(z @ w.T + b, dim=1)
        residual = (logp.exp() - onehot) / len(z)
        w.grad = residual.T @ z + l2 * w
        b.grad = residual.sum(0)
        return -(logp * onehot).sum() / len(z) + 0.5 * l2 * (w * w).sum()

    solver.step(objective)
    return w, b, int(solver.state[solver._params[0]].get("n_iter", 0))


def fit_cv(features: torch.Tensor, labels: torch.Tensor, classes: int, seed: int = 0,
           should_stop: Callable[[], bool] = lambda: False) -> Probe:
    """The probe on every training image, its penalty chosen by ``CV_FOLDS``-fold stratified cross-validation
    on at most ``CV_MAX_IMAGES`` of them (the middle of the grid when a class has fewer than two images)."""
    subset = _stratified_subset(labels, CV_MAX_IMAGES, seed)
    try:
        folds = diagnosis.splits(labels[subset].tolist(), seed, max_folds=CV_FOLDS)
    except ValueError:
        folds = []
    l2 = choose_l2(features[subset], labels[subset], classes, folds, should_stop=should_stop)
    return fit(features, labels, classes, l2, should_stop=should_stop)


def _stratified_subset(labels: torch.Tensor, most: int, seed: int) -> torch.Tensor:
    """Indices of at most ``most`` images, each class keeping its share (all of them when there are few)."""
    n = len(labels)
    if n <= most:
        return torch.arange(n, device=labels.device)
    generator = torch.Generator().manual_seed(seed)
    keep = [idx[torch.randperm(len(idx), generator=generator)[:max(1, len(idx) * most // n)]]
            for idx in (torch.nonzero(labels.cpu() == c).flatten() for c in labels.unique().cpu().tolist())]
    return torch.cat(keep).sort().values.to(labels.device)
