"""The torch-free half of ``tltui diagnose``: folds, the budget's plan, the intervals, the quadrant rule."""

from __future__ import annotations

import math

import pytest

from tltui.core import diagnosis
from tltui.core.diagnosis import Result, decide, over_folds, parse_budget, plan, splits, summarise, wilson


def test_k_fold_validates_every_image_once_and_keeps_classes_balanced():
    labels = [i % 4 for i in range(40)]  # 10 per class
    folds = splits(labels, seed=3)
    assert len(folds) == diagnosis.MAX_FOLDS
    held = sorted(i for _, val in folds for i in val)
    assert held == list(range(40))
    for train, val in folds:
        assert not set(train) & set(val) and len(train) + len(val) == 40
        assert sorted(labels[i] for i in val) == [0, 0, 1, 1, 2, 2, 3, 3]


def test_folds_are_as_many_as_the_smallest_class_allows():
    labels = [0] * 10 + [1] * 3
    folds = splits(labels)
    assert len(folds) == 3
    assert all(sum(labels[i] == 1 for i in val) == 1 for _, val in folds)


def test_many_images_get_repeated_stratified_holdouts():
    labels = [i % 10 for i in range(diagnosis.HOLDOUT_ABOVE + 10)]
    folds = splits(labels)
    assert len(folds) == diagnosis.HOLDOUTS
    for train, val in folds:
        assert len(val) == pytest.approx(len(labels) * diagnosis.HOLDOUT_SHARE, abs=10)
        assert not set(train) & set(val)
    assert folds[0][1] != folds[1][1]


@pytest.mark.parametrize("labels, words", [([0, 0, 0], "one class"), ([0, 0, 1], "at least 2 per class")])
def test_data_that_cannot_be_split_is_said_in_one_line(labels, words):
    with pytest.raises(ValueError, match=words):
        splits(labels)


def test_a_roomy_budget_trims_nothing():
    p = plan(budget_s=100, spent_s=5, folds=5, epochs=20, frozen_s=0.1, epoch_s=0.1)
    assert (p.folds, p.epochs, p.scratch, p.trimmed) == (5, 20, True, ())
    assert p.estimate_s == pytest.approx(5 + 5 * (0.1 + 0.1 * 20 * 3))


def test_the_budget_cuts_scratch_then_epochs_then_folds_and_says_so():
    no_scratch = plan(budget_s=30, spent_s=5, folds=5, epochs=20, frozen_s=0.0, epoch_s=0.1)
    assert not no_scratch.scratch and (no_scratch.folds, no_scratch.epochs) == (5, 20)
    assert len(no_scratch.trimmed) == 1
    p = plan(budget_s=20, spent_s=5, folds=5, epochs=20, frozen_s=0.0, epoch_s=0.1)
    assert not p.scratch and p.folds == 5 and p.epochs == 15 and p.estimate_s <= 20
    assert p.trimmed[0].startswith("from scratch skipped") and p.trimmed[1] == "epochs 20 -> 15"
    tight = plan(budget_s=7, spent_s=5, folds=5, epochs=20, frozen_s=0.0, epoch_s=0.1)
    assert tight.epochs == diagnosis.MIN_EPOCHS and tight.folds == 3
    assert "folds 5 -> 3" in tight.trimmed and tight.estimate_s <= 7
    hopeless = plan(budget_s=1, spent_s=5, folds=5, epochs=20, frozen_s=0.0, epoch_s=0.1)
    assert hopeless.folds == diagnosis.MIN_FOLDS and "over the budget" in hopeless.trimmed[-1]


@pytest.mark.parametrize("text, seconds", [("90", 90), ("90s", 90), ("5m", 300), ("1.5m", 90), ("1h", 3600)])
def test_budgets_read_as_times(text, seconds):
    assert parse_budget(text) == seconds


@pytest.mark.parametrize("text", ["soon", "5x", "1s", "30h"])
def test_bad_budgets_are_refused_in_one_line(text):
    with pytest.raises(ValueError, match="--budget"):
        parse_budget(text)


def test_wilson_matches_the_textbook_values():
    low, high = wilson(8, 10)  # Wilson 1927; e.g. Newcombe 1998 table: 0.490 to 0.943
    assert (round(low, 3), round(high, 3)) == (0.490, 0.943)
    assert wilson(0, 20)[0] == 0 and wilson(20, 20)[1] == 1


def test_the_interval_over_folds_is_students_t():
    mean, low, high = over_folds([0.8, 0.9, 0.7, 0.8, 0.8])
    half = 2.776 * math.sqrt(0.005) / math.sqrt(5)
    assert mean == pytest.approx(0.8) and (low, high) == pytest.approx((0.8 - half, 0.8 + half))
    assert over_folds([0.6]) == (0.6, 0.6, 0.6)


def test_a_result_reports_the_wider_interval_at_each_end():
    r = summarise([0.8, 0.9, 0.7, 0.8, 0.8], correct=40, total=50)
    assert r.low == min(r.fold_interval[0], r.pooled_interval[0])
    assert r.high == max(r.fold_interval[1], r.pooled_interval[1])
    assert r.folds == 5 and r.acc == pytest.approx(0.8)


def result(acc: float, half: float = 0.05) -> Result:
    return Result(acc=acc, low=acc - half, high=acc + half, folds=5, fold_interval=(acc - half, acc + half),
                  pooled_interval=(acc - half, acc + half), correct=0, total=0)


def test_features_that_already_fit_place_the_data_on_the_similar_side():
    d = decide({"knn": result(0.85), "feature-extraction": result(0.88), "head-then-unfreeze": result(0.90), "fine-tune-all": result(0.89)},
               images=200, classes=10, knn_random=0.1)
    assert d.quadrant == 1 and d.recommend == "feature-extraction"
    assert "200 images" in d.because and "within the noise" in d.because and d.because.count(".") <= 2


def test_weak_features_that_fine_tuning_beats_place_it_on_the_different_side():
    d = decide({"knn": result(0.50), "feature-extraction": result(0.55), "head-then-unfreeze": result(0.78), "fine-tune-all": result(0.70)},
               images=200, classes=10, knn_random=0.1)
    assert d.quadrant == 3 and d.recommend == "head-then-unfreeze"
    assert "beyond the noise" in d.because


def test_data_size_comes_from_the_count_per_class():
    results = {"knn": result(0.9), "feature-extraction": result(0.9), "head-then-unfreeze": result(0.91), "fine-tune-all": result(0.97, 0.01)}
    big = decide(results, images=10 * diagnosis.LARGE_PER_CLASS, classes=10, knn_random=0.1)
    assert big.quadrant == 2 and big.recommend == "fine-tune-all"
    assert decide(results, images=10 * diagnosis.LARGE_PER_CLASS - 10, classes=10, knn_random=0.1).quadrant == 1


def test_k_nn_is_judged_against_random_features_not_chance():
    results = {"knn": result(0.70), "feature-extraction": result(0.70), "head-then-unfreeze": result(0.85), "fine-tune-all": result(0.80)}
    assert decide(results, images=200, classes=10, knn_random=0.1).quadrant == 1  # lift 0.67
    shifted = decide(results, images=200, classes=10, knn_random=0.25)  # lift 0.6: random features group them too
    assert shifted.quadrant == 3 and "25% on random features" in shifted.because
    assert diagnosis.knn_lift(0.7, 0.25) == pytest.approx(0.6)


def test_near_random_features_mean_a_different_domain_even_without_a_gain():
    results = {"knn": result(0.15), "feature-extraction": result(0.30), "head-then-unfreeze": result(0.30), "fine-tune-all": result(0.28)}
    d = decide(results, images=200, classes=10, knn_random=0.12)
    assert d.quadrant == 3 and "next to nothing" in d.because
