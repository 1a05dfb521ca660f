"""What ``tltui diagnose`` decides, without torch: the folds (near-duplicates kept together), what a time
budget lets it run, the 95% intervals, the quadrant of the 2x2, the preset to start from and the
``tltui train`` command that trains it as it was measured.

The engine (engine/diagnose.py) measures; this module turns measurements into a decision, so every
rule here is unit-tested on numbers.
"""

from __future__ import annotations

import math
import random
import shlex
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tltui.core.codegen import command_words
from tltui.core.formatting import bar, duration
from tltui.core.protocol.config import RunConfig
from tltui.core.protocol.events import Diagnosis, Measured

TRAINED: tuple[str, ...] = ("feature-extraction", "fine-tune-all", "head-then-unfreeze")
"""The presets diagnose trains, simplest first, each exactly as ``tltui train --preset NAME`` trains it:
feature extraction trains the head alone; head-then-unfreeze is fine-tune-all with a fitted head first, so
it is recommended only where it beats fine-tune-all beyond the noise (over the benchmark's nine cells it
measured 84.9 % against 86.9 %: README, "Presets, measured")."""
PROBE = "probe"
"""The linear probe (``--preset probe``): fitted on each fold's frozen features, no run (engine/diagnose.py)."""
STRATEGIES: tuple[str, ...] = ("knn", PROBE, *TRAINED, "scratch")
LABELS: dict[str, str] = {
    "knn": "k-NN on frozen features",
    PROBE: "linear probe (L2 by CV)",
    "feature-extraction": "feature extraction",
    "head-then-unfreeze": "head then unfreeze",
    "fine-tune-all": "fine-tune everything",
    "scratch": "from scratch",
}
QUADRANTS: dict[int, str] = {1: "small data, similar domain", 2: "large data, similar domain",
                             3: "small data, different domain", 4: "large data, different domain"}
"""Lesson 5's numbering of the 2x2."""
GIVEN: tuple[str, ...] = ("data", "model", "weights", "image_size", "limit_per_class", "seed", "device", "max_files")
"""The RunConfig fields a learner gives ``tltui diagnose``: every strategy trains with them, and the
recommended command carries them."""

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
SIMILAR = 0.65
"""The probe's lift (``lift``) from which the frozen features count as separating the classes well: a similar
domain. The rule read k-NN's lift until measured here with the tiny backbone (``python benchmarks/similarity.py``:
diagnose's folds, features, k-NN and probe on ``builtin``, which the backbone's pretraining resembles, and
``builtin-shifted``, which it does not; 10, 20 and 50 per class, seeds 0-4). At 20 and 50 per class the probe's
lift was 0.68-0.80 on ``builtin`` and 0.41-0.62 on ``builtin-shifted``: any line from 0.62 to 0.68 places all 20
runs of each set, and 0.65 is its middle. k-NN's lift was 0.63-0.75 against 0.48-0.62, apart by 0.01 only, and
its line at 0.65 put 3 of the 10 ``builtin`` runs at 20 per class on the shifted side. At 10 per class neither
separates the sets (the probe 0.45-0.74 against 0.42-0.65, k-NN 0.49-0.68 against 0.30-0.59): there the folds
are too small to tell. Both lifts are shown; the UCI digits and Fashion-MNIST at 20 and 50 per class (README's
diagnose table) gave the probe -1.00 to -0.27 and k-NN -1.39 to -0.24, under ``NEAR_CHANCE`` either way."""
NEAR_CHANCE = 0.2
"""The probe's lift under this: the pretrained features say next to nothing more than random ones."""
Z95 = 1.959963984540054
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228)
"""Student's t, 97.5th percentile, 1 to 10 degrees of freedom."""


# ----------------------------------------------------------------------------------------------
# Splits


def splits(labels: Sequence[int], seed: int = 0, max_folds: int = MAX_FOLDS,
           groups: Sequence[int] | None = None) -> list[tuple[list[int], list[int]]]:
    """(train, validation) index lists: stratified k-fold (k up to ``max_folds``, at most the smallest
    class's count) up to ``HOLDOUT_ABOVE`` images, else ``HOLDOUTS`` stratified holdouts. ``groups``: a
    group per image (``join``'s): a group is never split, all its images on the same side of every fold,
    and a class counts its groups, not its images. ValueError with one line if a class has fewer than two.

    Each class's groups (a group belongs to its most frequent label) are shuffled with the seed, the
    classes in the order they first appear. k-fold places the groups largest first, each in the fold that
    holds the fewest images of its labels so far, then the fewest images, then the first: single images
    are dealt round the folds, class after class. A holdout takes each class's groups in their order until
    it holds its share of the class."""
    members: dict[int, list[int]] = {}
    for i, group in enumerate(groups if groups is not None else range(len(labels))):
        members.setdefault(group, []).append(i)
    by_class: dict[int, list[list[int]]] = {}
    per_class: Counter = Counter()
    for images in members.values():
        by_class.setdefault(Counter(labels[i] for i in images).most_common(1)[0][0], []).append(images)
        per_class.update({labels[i] for i in images})
    if len(per_class) < 2:
        raise ValueError("the data has one class only: a classifier needs at least two")
    smallest = min(per_class.values())
    if smallest < MIN_FOLDS:
        raise ValueError(f"a class has {smallest} image{'' if groups is None else ' (near-duplicates count once)'}: "
                         f"diagnose needs at least {MIN_FOLDS} per class (one to train on, one to test)")
    rng = random.Random(seed)
    if len(labels) > HOLDOUT_ABOVE:
        counts = Counter(labels)
        out = []
        for _ in range(HOLDOUTS):
            val: list[int] = []
            for label, mine in by_class.items():
                share, held = max(1, round(counts[label] * HOLDOUT_SHARE)), 0
                for images in rng.sample(mine, len(mine)):
                    if held < share:
                        val += images
                        held += sum(labels[i] == label for i in images)
            out.append(_complement(len(labels), val))
        return out
    k = min(max_folds, smallest)
    order = sorted((images for mine in by_class.values() for images in rng.sample(mine, len(mine))),
                   key=len, reverse=True)
    folds: list[list[int]] = [[] for _ in range(k)]
    held_by_fold: list[Counter[int]] = [Counter() for _ in range(k)]
    for images in order:
        f = min(range(k), key=lambda f: (sum(held_by_fold[f][labels[i]] for i in images), len(folds[f]), f))
        folds[f] += images
        held_by_fold[f].update(labels[i] for i in images)
    return [_complement(len(labels), fold) for fold in folds]


def _complement(n: int, val: list[int]) -> tuple[list[int], list[int]]:
    held = set(val)
    return [i for i in range(n) if i not in held], sorted(val)


def join(n: int, pairs: Iterable[tuple[int, int]]) -> list[int]:
    """A group per image of ``n``: images linked by ``pairs``, directly or through others, share one
    (union-find); a group is named by its first image."""
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in pairs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return [root(i) for i in range(n)]


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


def plan(budget_s: float, spent_s: float, folds: int, epochs: int, frozen_s: float, epoch_s: float,
         final: float = 0.0) -> Plan:
    """How many folds and epochs, and whether from scratch, fit in ``budget_s``.

    ``spent_s``: already spent (loading, features); per fold, ``frozen_s`` for k-NN and feature extraction
    and ``epoch_s`` for one epoch of one strategy that trains the whole network (head then unfreeze,
    fine-tune everything and scratch each take ``epochs`` of them); ``final``: the run on all of
    ``train/`` scored on ``val/`` at the end, in such epochs per epoch planned (0: none). Cut first from
    scratch, then epochs down to ``MIN_EPOCHS``, then folds down to ``MIN_FOLDS``; what still does not
    fit runs anyway, and says so.
    """
    def cost(f: int, e: int, scratch: bool) -> float:
        return spent_s + f * (frozen_s + epoch_s * e * (3 if scratch else 2)) + final * epoch_s * e

    trimmed: list[str] = []
    f, e, scratch = folds, epochs, True
    if cost(f, e, True) > budget_s:
        scratch = False
        trimmed.append(f"from scratch skipped (it needs about {_s(cost(f, e, True) - cost(f, e, False))} more)")
    if cost(f, e, scratch) > budget_s:
        room = budget_s - spent_s - f * frozen_s
        e_fit = max(MIN_EPOCHS, min(e, int(room / ((2 * f + final) * epoch_s)) if epoch_s > 0 else e))
        if e_fit < e:
            trimmed.append(f"epochs {e} -> {e_fit}")
            e = e_fit
    if cost(f, e, scratch) > budget_s:
        per_fold = frozen_s + 2 * epoch_s * e
        room = budget_s - spent_s - final * epoch_s * e
        f_fit = max(MIN_FOLDS, min(f, int(room / per_fold) if per_fold > 0 else f))
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
    fold_accs: tuple[float, ...]
    """The accuracy on each fold, in fold order: every strategy is scored on the same folds."""


def summarise(fold_accs: Sequence[float], correct: int, total: int) -> Result:
    mean, f_low, f_high = over_folds(fold_accs)
    p_low, p_high = wilson(correct, total)
    return Result(acc=mean, low=min(f_low, p_low), high=max(f_high, p_high), folds=len(fold_accs),
                  fold_interval=(f_low, f_high), pooled_interval=(p_low, p_high), correct=correct, total=total,
                  fold_accs=tuple(fold_accs))


def ahead(a: Result, b: Result) -> bool:
    """Whether ``a`` beats ``b`` beyond the noise: the 95% interval of their paired differences fold by
    fold lies above zero. Both were scored on the same folds, so what makes one fold harder than another
    (its images) cancels out; comparing the two strategies' own intervals would count it twice (on 200
    images in 3 folds, each interval spans about 50 points, and an 18-point gain looked like noise)."""
    return over_folds([x - y for x, y in zip(a.fold_accs, b.fold_accs, strict=True)])[1] > 0


# ----------------------------------------------------------------------------------------------
# The decision


@dataclass(frozen=True)
class Decision:
    quadrant: int
    """1 small similar, 2 large similar, 3 small different, 4 large different (lesson 5)."""
    recommend: str
    because: str


def lift(pretrained: float, random: float) -> float:
    """An accuracy on the pretrained features (k-NN's, the probe's), rescaled so that the same classifier on
    the same network's random features is 0 and perfect is 1: what pretraining adds. Chance is the wrong
    zero: random convolutions already group images by colour and texture, more on some data than on other."""
    return (pretrained - random) / max(1e-9, 1 - random)


def decide(results: dict[str, Result], images: int, classes: int, knn_random: float, probe_random: float) -> Decision:
    """The quadrant and the preset to start from, with the evidence in one sentence.

    Size is counted: large from ``LARGE_PER_CLASS`` images per class. Similarity is measured, as lesson 5
    asks: the domain is different when the probe on the frozen features does poorly (its lift over the same
    probe on random features, ``probe_random``, under ``SIMILAR``) and training the backbone (the better of head
    then unfreeze and fine-tune everything) beats the frozen features (the better of the probe and feature
    extraction) beyond the noise (``ahead``), or when the probe's lift is near chance whatever training does.
    k-NN (``knn_random`` on random features) is reported beside it. The recipe is the simplest trained
    preset (``TRAINED`` order) that the best one is not ``ahead`` of (a gain within the noise is not worth
    paying for), replaced by the probe only where the probe is ``ahead`` of it: one fit instead of epochs is
    not worth a loss the folds cannot rule out."""
    per_class = images / classes
    large = per_class >= LARGE_PER_CLASS
    knn, fitted = results["knn"], results[PROBE]
    frozen_name = max((PROBE, "feature-extraction"), key=lambda s: results[s].acc)
    frozen = results[frozen_name]
    tuned_name = max((s for s in TRAINED[1:] if s in results), key=lambda s: results[s].acc)
    tuned = results[tuned_name]
    gain = tuned.acc - frozen.acc
    skill = lift(fitted.acc, probe_random)
    pays = ahead(tuned, frozen)
    different = (skill < SIMILAR and pays) or skill < NEAR_CHANCE
    quadrant = (4 if large else 3) if different else (2 if large else 1)
    trained = [s for s in TRAINED if s in results]
    best = max((results[s] for s in trained), key=lambda r: r.acc)
    choice = next(s for s in trained if not ahead(best, results[s]))
    if ahead(fitted, results[choice]):
        choice = PROBE
    if skill < NEAR_CHANCE:
        verdict = "the frozen features say next to nothing about these classes, so the domain differs"
    elif different:
        verdict = ("the frozen features separate the classes poorly and training the backbone pays, so the domain "
                   "differs")
    elif skill >= SIMILAR:
        verdict = "the frozen features already separate the classes, so the domain is close"
    else:
        verdict = ("training the backbone gains nothing beyond the noise, so the frozen features serve as well as "
                   "this data can show")
    noise = "beyond the noise" if pays else "within the noise" if gain > 0 else "no gain"
    frozen_words = "the probe" if frozen_name == PROBE else "feature extraction"
    because = (f"{images} images in {classes} classes ({per_class:.0f} per class) is {'large' if large else 'small'} "
               f"data; the linear probe reaches {fitted.acc:.0%} ({probe_random:.0%} on random features), k-NN "
               f"{knn.acc:.0%} ({knn_random:.0%}), and {tuned_name} {tuned.acc:.0%} against {frozen_words}'s "
               f"{frozen.acc:.0%} ({round(gain * 100):+d} points, {noise}): {verdict}; start from {choice}.")
    return Decision(quadrant=quadrant, recommend=choice, because=because)


# ----------------------------------------------------------------------------------------------
# The command


def given(config: RunConfig) -> RunConfig:
    """The settings of ``config`` a learner gives ``tltui diagnose`` (``GIVEN``), on the defaults."""
    return RunConfig(**{name: getattr(config, name) for name in GIVEN})


def command(config: RunConfig, preset: str, epochs: int) -> list[str]:
    """The arguments of ``tltui train`` that train ``preset`` for ``epochs`` with the settings of ``config``
    the learner gave: ``DATA --preset NAME --epochs E`` (the probe: no ``--epochs``, its one epoch is the fit)
    and the flags ``codegen.command_words`` writes."""
    data, *flags = shlex.split(" ".join(command_words(given(config))))[2:]
    return [data, "--preset", preset, *([] if preset == PROBE else ["--epochs", str(epochs)]), *flags]


_FLAG_FIELDS = {"freeze": "frozen", "no-augment": "augment", "head-first": "head_first"}
_SWITCHES = {"no-augment": "none", "head-first": "yes", "shuffle-labels": "yes", "sync-bn": "yes"}


def settings(words: Sequence[str]) -> dict[str, str]:
    """The RunConfig fields a ``command`` sets, as text (the training form's): ``data``, ``preset``,
    ``epochs``, ``model``, ``image_size``... (``--freeze`` is ``frozen``; a switch such as ``--head-first``
    is ``yes``, ``--no-augment`` is ``augment: none``)."""
    data, *flags = words
    out = {"data": data}
    i = 0
    while i < len(flags):
        flag = flags[i].removeprefix("--")
        name = _FLAG_FIELDS.get(flag, flag.replace("-", "_"))
        if flag in _SWITCHES:
            out[name] = _SWITCHES[flag]
            i += 1
        else:
            out[name] = flags[i + 1]
            i += 2
    return out


def line(words: Sequence[str]) -> str:
    """``command`` as one line a shell takes."""
    return "tltui train " + shlex.join(words)


# ----------------------------------------------------------------------------------------------
# Text


def label(strategy: str) -> str:
    """A strategy's name for people (a run stored by an older tltui may name others: shown as they are)."""
    return LABELS.get(strategy, strategy)


def lines(event: Measured | Diagnosis) -> list[str]:
    """A diagnose run's measurement, or its verdict, as text lines (``tltui diagnose``, ``tltui runs show``, the
    runs screen)."""
    if isinstance(event, Measured):
        return [f"fold {event.fold}/{event.folds} {bar(event.fold / event.folds, 10)} "
                f"{label(event.strategy):<27} {event.acc:6.1%}   "
                f"{duration(event.elapsed)} elapsed, ETA {duration(event.eta)}"]
    out = ["", f"{'strategy':<27} {'accuracy':>8}  95% interval   folds"]
    for name, r in event.results.items():
        out.append(f"{label(name):<27} {r.acc:8.1%}  {r.low:5.1%} - {r.high:5.1%}  {r.folds:>5}")
    held = event.held_out
    if held is not None:
        out.append(f"{'val/: ' + label(held.strategy):<27} {held.acc:8.1%}  {held.low:5.1%} - {held.high:5.1%}  "
                   f"{held.images:>5} images, trained on all of train/")
    out += ["", f"quadrant {event.quadrant} ({QUADRANTS[event.quadrant]}); start from --preset {event.recommend}",
            event.because]
    if event.command:
        out += ["", "the recipe as measured:", f"  {line(event.command)}"]
    return out
