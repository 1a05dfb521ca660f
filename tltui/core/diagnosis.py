"""What ``tltui diagnose`` decides, without torch: the folds, what a time budget lets it run, the 95%
intervals, the quadrant of the 2x2 and the recipe to start from.

The engine (engine/diagnose.py) measures; this module turns measurements into a decision, so every
rule here is unit-tested on numbers.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from tltui.core.formatting import bar, duration
from tltui.core.protocol import Diagnosis, Measured

STRATEGIES: tuple[str, ...] = ("knn", "probe", "lp-ft", "fine-tune", "scratch")
LABELS: dict[str, str] = {
    "knn": "k-NN on frozen features",
    "probe": "linear probe",
    "lp-ft": "head then unfreeze (LP-FT)",
    "fine-tune": "fine-tune everything",
    "scratch": "from scratch",
}
QUADRANTS: dict[int, str] = {1: "small data, similar domain", 2: "large data, similar domain",
                             3: "small data, different domain", 4: "large data, different domain"}
"""Lesson 5's numbering of the 2x2."""
PRESET_OF: dict[str, str] = {
    "probe": "feature-extraction",
    "lp-ft": "head-then-unfreeze",
    "fine-tune": "fine-tune-all",
}
"""The preset that trains as each trained strategy did, cheapest first (k-NN and scratch have none)."""

MAX_FOLDS = 5
MIN_FOLDS = 2
HOLDOUT_ABOVE = 2000
"""More images than this: repeated stratified holdout (``HOLDOUTS`` times ``HOLDOUT_SHARE``), not k-fold."""
HOLDOUTS = 3
HOLDOUT_SHARE = 0.2
MIN_EPOCHS = 3
LARGE_PER_CLASS = 1000
"""Images per class from which data counts as large: lesson 15's orders of magnitude (fine-tuning
everything wants thousands per class; head first works from a hundred)."""
KNN_SIMILAR = 0.65
"""k-NN lift (``knn_lift``) from which the frozen features count as grouping the classes well: a similar
domain. Measured here with the tiny backbone (5-fold, README's diagnose table): on ``builtin`` 0.68, 0.71
and 0.74 at 10, 20 and 50 per class, on ``builtin-shifted`` 0.53, 0.52 and 0.62."""
NEAR_CHANCE = 0.2
"""k-NN lift under this: the pretrained features say next to nothing more than random ones."""
Z95 = 1.959963984540054
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228)
"""Student's t, 97.5th percentile, 1 to 10 degrees of freedom."""


# ----------------------------------------------------------------------------------------------
# Splits


def splits(labels: Sequence[int], seed: int = 0, max_folds: int = MAX_FOLDS) -> list[tuple[list[int], list[int]]]:
    """(train, validation) index lists: stratified k-fold (k up to ``max_folds``, at most the smallest
    class's count) up to ``HOLDOUT_ABOVE`` images, else ``HOLDOUTS`` stratified holdouts. ValueError with
    one line if a class has fewer than two images."""
    by_class: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    if len(by_class) < 2:
        raise ValueError("the data has one class only: a classifier needs at least two")
    smallest = min(len(v) for v in by_class.values())
    if smallest < MIN_FOLDS:
        raise ValueError(f"a class has {smallest} image: diagnose needs at least {MIN_FOLDS} per class "
                         "(one to train on, one to test)")
    rng = random.Random(seed)
    if len(labels) > HOLDOUT_ABOVE:
        out = []
        for _ in range(HOLDOUTS):
            val = []
            for members in by_class.values():
                shuffled = rng.sample(members, len(members))
                val += shuffled[:max(1, round(len(members) * HOLDOUT_SHARE))]
            out.append(_complement(len(labels), val))
        return out
    k = min(max_folds, smallest)
    folds: list[list[int]] = [[] for _ in range(k)]
    dealt = 0
    for members in by_class.values():
        for i in rng.sample(members, len(members)):
            folds[dealt % k].append(i)
            dealt += 1
    return [_complement(len(labels), fold) for fold in folds]


def _complement(n: int, val: list[int]) -> tuple[list[int], list[int]]:
    held = set(val)
    return [i for i in range(n) if i not in held], sorted(val)


# ----------------------------------------------------------------------------------------------
# The budget


@dataclass(frozen=True)
class Plan:
    folds: int
    epochs: int
    scratch: bool
    estimate_s: float
    trimmed: tuple[str, ...] = ()
    """What the budget cut, one phrase each ("from scratch: skipped, ...", "epochs 30 -> 12")."""


def plan(budget_s: float, spent_s: float, folds: int, epochs: int, frozen_s: float, epoch_s: float) -> Plan:
    """How many folds and epochs, and whether from scratch, fit in ``budget_s``.

    ``spent_s``: already spent (loading, features); per fold, ``frozen_s`` for k-NN and the probe and
    ``epoch_s`` for one epoch of one strategy that trains the whole network (LP-FT, fine-tune and scratch
    each take ``epochs`` of them). Cut first from scratch, then epochs down to ``MIN_EPOCHS``, then folds
    down to ``MIN_FOLDS``; what still does not fit runs anyway, and says so.
    """
    def cost(f: int, e: int, scratch: bool) -> float:
        return spent_s + f * (frozen_s + epoch_s * e * (3 if scratch else 2))

    trimmed: list[str] = []
    f, e, scratch = folds, epochs, True
    if cost(f, e, True) > budget_s:
        scratch = False
        trimmed.append(f"from scratch skipped (it needs about {_s(cost(f, e, True) - cost(f, e, False))} more)")
    if cost(f, e, scratch) > budget_s:
        room = (budget_s - spent_s) / f - frozen_s
        e_fit = max(MIN_EPOCHS, min(e, int(room / (2 * epoch_s)) if epoch_s > 0 else e))
        if e_fit < e:
            trimmed.append(f"epochs {e} -> {e_fit}")
            e = e_fit
    if cost(f, e, scratch) > budget_s:
        per_fold = frozen_s + 2 * epoch_s * e
        f_fit = max(MIN_FOLDS, min(f, int((budget_s - spent_s) / per_fold) if per_fold > 0 else f))
        if f_fit < f:
            trimmed.append(f"folds {f} -> {f_fit}")
            f = f_fit
    if cost(f, e, scratch) > budget_s:
        trimmed.append(f"still about {_s(cost(f, e, scratch))} in all, over the budget: the least that "
                       "measures anything")
    return Plan(folds=f, epochs=e, scratch=scratch, estimate_s=cost(f, e, scratch), trimmed=tuple(trimmed))


def _s(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def parse_budget(text: str) -> float:
    """Seconds in ``90``, ``90s``, ``5m``, ``1.5m`` or ``1h``; ValueError with one line otherwise."""
    units = {"s": 1, "m": 60, "h": 3600}
    text = text.strip().lower()
    unit = units.get(text[-1:], 0)
    number = text[:-1] if unit else text
    try:
        seconds = float(number) * (unit or 1)
    except ValueError:
        raise ValueError(f"--budget {text!r}: give a time such as 90s, 5m or 1h") from None
    if not 10 <= seconds <= 24 * 3600:
        raise ValueError(f"--budget {text}: give between 10 s and 24 h")
    return seconds


# ----------------------------------------------------------------------------------------------
# Intervals


def wilson(correct: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of ``correct`` successes in ``n`` trials."""
    if n == 0:
        return 0.0, 1.0
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def over_folds(accs: Sequence[float]) -> tuple[float, float, float]:
    """(mean, low, high): the mean of the folds' accuracies with its Student-t 95% interval (one fold:
    no spread to measure, the interval is the mean)."""
    n = len(accs)
    mean = sum(accs) / n
    if n < 2:
        return mean, mean, mean
    sd = math.sqrt(sum((a - mean) ** 2 for a in accs) / (n - 1))
    half = (_T95[n - 2] if n - 1 <= len(_T95) else Z95) * sd / math.sqrt(n)
    return mean, max(0.0, mean - half), min(1.0, mean + half)


@dataclass(frozen=True)
class Result:
    """One strategy: the mean over folds, and the wider of the two 95% intervals at each end (``low``,
    ``high``), each also kept: over the folds, and Wilson's of the pooled predictions."""

    acc: float
    low: float
    high: float
    folds: int
    fold_interval: tuple[float, float]
    pooled_interval: tuple[float, float]
    correct: int
    total: int


def summarise(fold_accs: Sequence[float], correct: int, total: int) -> Result:
    mean, f_low, f_high = over_folds(fold_accs)
    p_low, p_high = wilson(correct, total)
    return Result(acc=mean, low=min(f_low, p_low), high=max(f_high, p_high), folds=len(fold_accs),
                  fold_interval=(f_low, f_high), pooled_interval=(p_low, p_high), correct=correct, total=total)


# ----------------------------------------------------------------------------------------------
# The decision


@dataclass(frozen=True)
class Decision:
    quadrant: int
    """1 small similar, 2 large similar, 3 small different, 4 large different (lesson 5)."""
    recommend: str
    because: str


def knn_lift(pretrained: float, random: float) -> float:
    """k-NN accuracy on the pretrained features, rescaled so that k-NN on the same network's random
    features is 0 and perfect is 1: what pretraining adds. Chance is the wrong zero: random convolutions
    already group images by colour and texture, more on some data than on other."""
    return (pretrained - random) / max(1e-9, 1 - random)


def decide(results: dict[str, Result], images: int, classes: int, knn_random: float) -> Decision:
    """The quadrant and the preset to start from, with the evidence in one sentence.

    Size is counted: large from ``LARGE_PER_CLASS`` images per class. Similarity is measured, as lesson 5
    asks: the domain is different when k-NN on the frozen features does poorly (its lift over random
    features, ``knn_random``, under ``KNN_SIMILAR``) and fine-tuning (the better of LP-FT and fine-tune everything) beats the probe
    beyond the probe's interval, or when k-NN is near chance whatever fine-tuning does. The recipe is the
    cheapest trained strategy whose interval reaches the best one's mean (a gain within the noise is
    not worth paying for)."""
    per_class = images / classes
    large = per_class >= LARGE_PER_CLASS
    probe, knn = results["probe"], results["knn"]
    tuned_name = max((s for s in ("lp-ft", "fine-tune") if s in results), key=lambda s: results[s].acc)
    tuned = results[tuned_name]
    gain = tuned.acc - probe.acc
    skill = knn_lift(knn.acc, knn_random)
    pays = tuned.acc > probe.high
    different = (skill < KNN_SIMILAR and pays) or skill < NEAR_CHANCE
    quadrant = (4 if large else 3) if different else (2 if large else 1)
    trained = [s for s in PRESET_OF if s in results]
    best = max((results[s] for s in trained), key=lambda r: r.acc)
    choice = next(s for s in trained if results[s].high >= best.acc)
    if skill < NEAR_CHANCE:
        verdict = "the frozen features say next to nothing about these classes, so the domain differs"
    elif different:
        verdict = "the frozen features group the classes poorly and training the backbone pays, so the domain differs"
    elif skill >= KNN_SIMILAR:
        verdict = "the frozen features already group the classes, so the domain is close"
    else:
        verdict = "training the backbone gains nothing beyond the noise, so the frozen features serve as well as this data can show"
    because = (f"{images} images in {classes} classes ({per_class:.0f} per class) is {'large' if large else 'small'} "
               f"data; k-NN reaches {knn.acc:.0%} ({knn_random:.0%} on random features) and {tuned_name} {tuned.acc:.0%} against "
               f"the probe's {probe.acc:.0%} ({gain * 100:+.0f} points, {'beyond' if pays else 'within'} the noise): "
               f"{verdict}; start from {PRESET_OF[choice]}.")
    return Decision(quadrant=quadrant, recommend=PRESET_OF[choice], because=because)


def lines(event: Measured | Diagnosis) -> list[str]:
    """A diagnose run's measurement, or its verdict, as text lines (``tltui diagnose``, ``tltui runs show``, the runs screen)."""
    if isinstance(event, Measured):
        return [f"fold {event.fold}/{event.folds} {bar(event.fold / event.folds, 10)} "
                f"{LABELS[event.strategy]:<27} {event.acc:6.1%}   "
                f"{duration(event.elapsed)} elapsed, ETA {duration(event.eta)}"]
    out = ["", f"{'strategy':<27} {'accuracy':>8}  95% interval   folds"]
    for name, r in event.results.items():
        out.append(f"{LABELS[name]:<27} {r.acc:8.1%}  {r.low:5.1%} - {r.high:5.1%}  {r.folds:>5}")
    return out + ["", f"quadrant {event.quadrant} ({QUADRANTS[event.quadrant]}); "
                      f"start from --preset {event.recommend}", event.because]
