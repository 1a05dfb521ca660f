"""The error analysis's math (tltui/core/analysis.py): Wilson's interval, balanced accuracy, the pairs and
top losses, from predictions made up here."""

from __future__ import annotations

import math
import random

import pytest

from tltui.core import analysis
from tltui.core.analysis import Z95, analyse, balanced_accuracy, wilson
from tltui.core.protocol import codec
from tltui.core.protocol.events import Finished


def score_test_bounds(correct: int, total: int) -> tuple[float, float]:
    """The interval by its definition: the p where the score statistic equals z, found by bisection."""

    def statistic(p: float) -> float:
        return (correct - total * p) / math.sqrt(total * p * (1 - p))

    def solve(low: float, high: float) -> float:  # statistic(low) > z >= statistic(high) or the mirror
        for _ in range(200):
            mid = (low + high) / 2
            if (abs(statistic(mid)) > Z95) == (abs(statistic(low)) > Z95):
                low = mid
            else:
                high = mid
        return (low + high) / 2

    p = correct / total
    lower = 0.0 if correct == 0 else solve(1e-15, p)
    upper = 1.0 if correct == total else solve(1 - 1e-15, p)
    return lower, upper


@pytest.mark.parametrize("correct,total", [(0, 10), (10, 10), (1, 10), (7, 10), (40, 50), (81, 263), (499, 1000)])
def test_wilson_matches_the_score_test_it_inverts(correct, total):
    low, high = wilson(correct, total)
    expected = score_test_bounds(correct, total)
    assert low == pytest.approx(expected[0], abs=1e-9) and high == pytest.approx(expected[1], abs=1e-9)
    assert 0 <= low <= correct / total <= high <= 1


def test_wilson_known_values():
    # 0 of n: the upper end is z^2 / (n + z^2); a published value (Newcombe 1998, table I: 81/263).
    assert wilson(0, 10) == (0.0, pytest.approx(Z95**2 / (10 + Z95**2)))
    assert wilson(10, 10) == (pytest.approx(10 / (10 + Z95**2)), 1.0)
    low, high = wilson(81, 263)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    assert wilson(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson(11, 10)


def test_wilson_narrows_as_the_set_grows():
    widths = [wilson(round(0.8 * n), n) for n in (10, 100, 1000)]
    spans = [high - low for low, high in widths]
    assert spans[0] > spans[1] > spans[2]


def test_balanced_accuracy_on_an_imbalanced_set():
    # 90 images of class 0, 10 of class 1; a model that always says 0 is 90% accurate and learns nothing.
    labels = [0] * 90 + [1] * 10
    always_zero = [0] * 100
    result = analyse(["common", "rare"], labels, always_zero, [0.9] * 90 + [0.1] * 10, [0.9] * 100,
                     [f"x/{i}.png" for i in range(100)])
    assert result.accuracy == 0.9
    assert result.balanced_accuracy == pytest.approx(0.5)  # (1.0 + 0.0) / 2
    assert [(c.name, c.recall, c.support) for c in result.per_class] == [("common", 1.0, 90), ("rare", 0.0, 10)]
    # Half of the rare class found costs 5 points of accuracy and gains 25 of balanced accuracy.
    half = [0] * 90 + [1] * 5 + [0] * 5
    assert balanced_accuracy(labels, half) == pytest.approx(0.75)


def test_a_balanced_set_gets_no_balanced_accuracy():
    labels = [0, 0, 1, 1, 2, 2]
    result = analyse(list("abc"), labels, [0, 1, 1, 1, 2, 0], [0.9] * 6, [0.9] * 6, [str(i) for i in range(6)])
    assert result.balanced_accuracy is None
    assert analysis.imbalanced([10, 14]) is False and analysis.imbalanced([10, 15]) is True


def test_pairs_and_top_losses_follow_the_predictions():
    rng = random.Random(3)
    classes = ["a", "b", "c", "d"]
    labels = [rng.randrange(4) for _ in range(200)]
    predicted = [t if rng.random() < 0.6 else rng.randrange(4) for t in labels]
    p_true = [rng.uniform(0.5, 1) if t == p else rng.uniform(0.001, 0.45)
              for t, p in zip(labels, predicted, strict=True)]
    p_pred = [q if t == p else rng.uniform(q, 0.99) for t, p, q in zip(labels, predicted, p_true, strict=True)]
    paths = [f"data/{classes[t]}/{i}.png" for i, t in enumerate(labels)]
    result = analyse(classes, labels, predicted, p_true, p_pred, paths, top=12, pairs=3)
    matrix = [[0] * 4 for _ in classes]
    for t, p in zip(labels, predicted, strict=True):
        matrix[t][p] += 1
    off = sorted((-matrix[t][p], t, p) for t in range(4) for p in range(4) if t != p)
    assert ([(c.true, c.predicted, c.count) for c in result.confused]
            == [(classes[t], classes[p], -k) for k, t, p in off[:3]])
    assert result.correct == sum(matrix[i][i] for i in range(4))
    losses = sorted((-math.log(q) for q in p_true), reverse=True)
    assert [t.loss for t in result.top_losses] == pytest.approx(losses[:12])
    for t in result.top_losses:
        assert t.path == paths[t.index] and t.true == classes[labels[t.index]]
        assert t.predicted == classes[predicted[t.index]] and t.probability == p_pred[t.index]
        assert t.true != t.predicted  # with these probabilities the worst twelve are all mistakes
    low, high = wilson(result.correct, 200)
    assert (result.low, result.high) == (low, high)


def test_the_analysis_survives_the_protocol_and_prints_as_text():
    result = analyse(["cat", "dog"], [0, 0, 0, 1], [0, 1, 1, 1], [0.8, 0.3, 0.1, 0.7], [0.8, 0.7, 0.9, 0.7],
                     ["p/cat/1.png", "p/cat/2.png", "p/cat/3.png", "p/dog/1.png"], top=2)
    line = codec.encode(Finished(best_val_acc=0.5, best_epoch=1, classes=["cat", "dog"],
                                             per_class_acc={}, confusion=[], run_dir="", elapsed=1.0, analysis=result))
    assert codec.decode_event(line).analysis == result
    text = "\n".join(analysis.lines(result))
    assert "95% interval" in text and "Wilson" in text
    assert "cat -> dog 2" in text
    assert "1. p/cat/3.png  cat -> dog  p 0.90" in text and "2. p/cat/2.png" in text
    assert "balanced accuracy 66.7%" in text  # supports 3 and 1: imbalanced


def test_an_oversized_finished_event_drops_the_analysis_before_the_class_names():
    classes = [f"class-{i}" for i in range(20)]
    labels = list(range(20)) * 5
    result = analyse(classes, labels, labels[::-1], [0.5] * 100, [0.5] * 100, ["x" * 2000] * 100, top=100)
    event = Finished(best_val_acc=0.5, best_epoch=1, classes=classes, per_class_acc={c: 0.5 for c in classes},
                              confusion=[[1] * 20] * 20, run_dir="", elapsed=1.0, analysis=result)
    size = len(codec.encode(event))
    fitted = codec.fit(event, limit=size - 10)
    assert fitted.confusion == [] and fitted.analysis == result  # the matrix goes first
    fitted = codec.fit(event, limit=len(codec.encode(codec.fit(event, limit=0))) + 1000)
    assert fitted.analysis is None and fitted.classes == classes
