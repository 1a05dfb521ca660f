"""The torch-free half of ``tltui diagnose``: folds, the budget's plan, the intervals, the quadrant rule."""

from __future__ import annotations

import math

import pytest

from tltui.core import diagnosis
from tltui.core.diagnosis import Result, decide, over_folds, parse_budget, plan, splits, summarise, wilson
from tltui.core.protocol.config import RunConfig
from tltui.core.protocol.events import Diagnosis


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


WOBBLES = [(1, -1, 0, 1, -1), (-1, 1, 1, -1, 0), (0, 1, -1, -1, 1), (1, 0, -1, 0, 0), (-1, -1, 1, 0, 1),
           (0, -1, 1, 1, -1)]
"""Zero-mean fold-by-fold noise, a different pattern for each strategy of a test."""


def result(acc: float, half: float = 0.05, wobble: int = 0) -> Result:
    folds = tuple(acc + half * w for w in WOBBLES[wobble])
    return Result(acc=acc, low=acc - half, high=acc + half, folds=5, fold_interval=(acc - half, acc + half),
                  pooled_interval=(acc - half, acc + half), correct=0, total=0, fold_accs=folds)


def results(**accs: float | tuple[float, float]) -> dict[str, Result]:
    """Strategy -> result, each with its own fold noise: ``knn=0.5`` or ``fine_tune_all=(0.97, 0.01)``."""
    return {name.replace("_", "-"): result(*(acc if isinstance(acc, tuple) else (acc,)), wobble=i)
            for i, (name, acc) in enumerate(accs.items())}


def test_a_gain_the_folds_agree_on_is_beyond_the_noise_though_each_interval_is_wide():
    """fashion-MNIST at 20 per class, 3 folds: head then unfreeze 70 % and fine-tune-all 67.5 % against
    feature extraction's 51.7 %, each interval about 50 points wide; the old rule (an interval reaching
    the best's mean) recommended feature extraction, 56.9 % on val/ against the default's 72.4 %."""
    fe = summarise([0.30, 0.60, 0.65], 103, 200)
    ft = summarise([0.50, 0.75, 0.775], 135, 200)
    lpft = summarise([0.55, 0.78, 0.77], 140, 200)
    assert fe.high > lpft.acc  # the unpaired intervals overlap
    assert diagnosis.ahead(lpft, fe) and diagnosis.ahead(ft, fe) and not diagnosis.ahead(lpft, ft)
    knn = summarise([0.30, 0.55, 0.575], 95, 200)
    fitted = summarise([0.32, 0.60, 0.63], 103, 200)
    d = decide({"knn": knn, "probe": fitted, "feature-extraction": fe, "fine-tune-all": ft, "head-then-unfreeze": lpft},
               images=200, classes=10, knn_random=0.57, probe_random=0.6)
    assert d.recommend == "fine-tune-all" and "beyond the noise" in d.because


def test_features_that_already_fit_place_the_data_on_the_similar_side():
    d = decide(results(knn=0.85, feature_extraction=0.88, head_then_unfreeze=0.90, fine_tune_all=0.89, probe=0.88),
               images=200, classes=10, knn_random=0.1, probe_random=0.1)
    assert d.quadrant == 1 and d.recommend == "feature-extraction"
    assert "200 images" in d.because and "within the noise" in d.because and d.because.count(".") <= 2


def test_weak_features_that_fine_tuning_beats_place_it_on_the_different_side():
    d = decide(results(knn=0.50, feature_extraction=0.55, head_then_unfreeze=0.78, fine_tune_all=0.70, probe=0.55),
               images=200, classes=10, knn_random=0.1, probe_random=0.1)
    assert d.quadrant == 3 and d.recommend == "head-then-unfreeze"
    assert "beyond the noise" in d.because


def test_head_then_unfreeze_is_recommended_only_where_it_beats_fine_tuning_beyond_the_noise():
    # LP-FT is fine-tune-all with a fitted head first: a gain within the noise is not worth the extra step.
    tie = decide(results(knn=0.50, feature_extraction=0.55, head_then_unfreeze=0.72, fine_tune_all=0.70, probe=0.55),
                 images=200, classes=10, knn_random=0.1, probe_random=0.1)
    assert tie.recommend == "fine-tune-all"


def test_data_size_comes_from_the_count_per_class():
    found = results(knn=0.9, feature_extraction=0.9, head_then_unfreeze=0.91, fine_tune_all=(0.97, 0.01), probe=0.9)
    big = decide(found, images=10 * diagnosis.LARGE_PER_CLASS, classes=10, knn_random=0.1, probe_random=0.1)
    assert big.quadrant == 2 and big.recommend == "fine-tune-all"
    smaller = decide(found, images=10 * diagnosis.LARGE_PER_CLASS - 10, classes=10, knn_random=0.1, probe_random=0.1)
    assert smaller.quadrant == 1


def test_the_probe_is_judged_against_the_probe_on_random_features_not_chance():
    found = results(knn=0.70, feature_extraction=0.70, head_then_unfreeze=0.85, fine_tune_all=0.80, probe=0.70)
    assert decide(found, images=200, classes=10, knn_random=0.1, probe_random=0.1).quadrant == 1  # lift 0.67
    shifted = decide(found, images=200, classes=10, knn_random=0.1, probe_random=0.25)  # lift 0.6
    assert shifted.quadrant == 3 and "70% (25% on random features)" in shifted.because
    assert diagnosis.lift(0.7, 0.25) == pytest.approx(0.6)


def test_the_quadrant_reads_the_probes_lift_and_shows_k_nns_beside_it():
    """The rule change measured in ``SIMILAR``'s docstring: where the two lifts fall either side of the line,
    the probe's decides (training pays in both cases, so only the lift separates quadrant 1 from 3)."""
    found = results(knn=0.70, feature_extraction=0.80, head_then_unfreeze=0.95, fine_tune_all=0.93, probe=0.80)
    assert diagnosis.lift(0.70, 0.20) < diagnosis.SIMILAR <= diagnosis.lift(0.80, 0.20)
    probe_says_close = decide(found, images=200, classes=10, knn_random=0.20, probe_random=0.20)
    assert probe_says_close.quadrant == 1
    assert "k-NN 70% (20%)" in probe_says_close.because and "80% (20% on random features)" in probe_says_close.because
    assert diagnosis.lift(0.70, 0.05) >= diagnosis.SIMILAR > diagnosis.lift(0.80, 0.50)
    assert decide(found, images=200, classes=10, knn_random=0.05, probe_random=0.50).quadrant == 3


def test_the_probe_is_recommended_only_where_the_paired_test_puts_it_ahead():
    # builtin, 20 per class, seed 0, 3 folds (measured here): the probe tied feature extraction fold by fold and
    # trailed fine-tuning by 10 points within the noise: the trained preset the rule picks stays the advice.
    measured = {name: summarise(folds, round(sum(folds) * 40), 120) for name, folds in {
        "knn": [0.75, 0.725, 0.85], "probe": [0.85, 0.75, 0.875], "feature-extraction": [0.85, 0.75, 0.875],
        "fine-tune-all": [0.925, 0.925, 0.925], "head-then-unfreeze": [0.9, 0.925, 0.85]}.items()}
    tied = decide(measured, images=200, classes=10, knn_random=0.09, probe_random=0.13)
    assert tied.recommend == "feature-extraction"
    # Strong frozen features that fine-tuning 200 images hurts (a backbone built to be used frozen): the probe is
    # ahead of every trained preset, beyond the noise, and is the advice.
    found = results(knn=0.85, feature_extraction=0.84, head_then_unfreeze=0.85, fine_tune_all=0.86, probe=(0.95, 0.01))
    ahead = decide(found, images=200, classes=10, knn_random=0.1, probe_random=0.1)
    assert ahead.recommend == "probe" and ahead.quadrant == 1 and "start from probe." in ahead.because
    # Ahead of the trained choice within the noise only: not named.
    close = results(knn=0.85, feature_extraction=0.84, head_then_unfreeze=0.85, fine_tune_all=0.86, probe=0.88)
    assert decide(close, images=200, classes=10, knn_random=0.1, probe_random=0.1).recommend == "feature-extraction"


def test_training_must_beat_the_better_frozen_classifier_to_pay():
    """Feature extraction weak, the probe as good as fine-tuning: the backbone's training gains nothing over the
    frozen features, so a low lift alone does not make the domain different."""
    found = results(knn=0.50, feature_extraction=0.55, head_then_unfreeze=0.78, fine_tune_all=0.76, probe=0.78)
    d = decide(found, images=200, classes=10, knn_random=0.1, probe_random=0.5)  # the probe's lift 0.56
    assert d.quadrant == 1 and "against the probe's 78%" in d.because and "no gain" in d.because


def test_near_random_features_mean_a_different_domain_even_without_a_gain():
    found = results(knn=0.15, feature_extraction=0.30, head_then_unfreeze=0.30, fine_tune_all=0.28, probe=0.30)
    d = decide(found, images=200, classes=10, knn_random=0.12, probe_random=0.28)
    assert d.quadrant == 3 and "next to nothing" in d.because and "+0 points, no gain" in d.because


# -- near-duplicates kept together -------------------------------------------------------------


def test_join_links_images_through_others():
    groups = diagnosis.join(7, [(0, 3), (3, 5), (2, 6)])
    assert groups == [0, 1, 2, 0, 4, 0, 2]
    assert len(set(groups)) == 4


def test_grouped_folds_never_split_a_group_and_stay_stratified():
    labels = [i % 4 for i in range(60)]
    groups = diagnosis.join(60, [(0, 4), (4, 8), (1, 5), (10, 30), (31, 35), (2, 58)])
    folds = splits(labels, seed=1, groups=groups)
    assert len(folds) == diagnosis.MAX_FOLDS
    assert sorted(i for _, val in folds for i in val) == list(range(60))
    for train, val in folds:
        assert not {groups[i] for i in train} & {groups[i] for i in val}
        per_class = [sum(labels[i] == c for i in val) for c in range(4)]
        assert max(per_class) - min(per_class) <= 2


def test_near_duplicates_count_once_towards_a_class():
    labels = [0, 0, 0, 1, 1, 1]
    with pytest.raises(ValueError, match="near-duplicates count once"):
        splits(labels, groups=diagnosis.join(6, [(0, 1), (1, 2)]))


def test_grouped_holdouts_never_split_a_group():
    n = diagnosis.HOLDOUT_ABOVE + 100
    labels = [i % 10 for i in range(n)]
    groups = diagnosis.join(n, [(i, i + 10) for i in range(0, 600, 20)])
    for train, val in splits(labels, seed=2, groups=groups):
        assert not {groups[i] for i in train} & {groups[i] for i in val}
        assert len(val) == pytest.approx(n * diagnosis.HOLDOUT_SHARE, abs=20)


def test_the_plan_keeps_room_for_the_run_scored_on_val():
    p = plan(budget_s=100, spent_s=5, folds=5, epochs=20, frozen_s=0.0, epoch_s=0.1, final=1.25)
    assert p.estimate_s == pytest.approx(5 + 5 * 0.1 * 20 * 3 + 1.25 * 0.1 * 20)
    tight = plan(budget_s=30, spent_s=5, folds=5, epochs=20, frozen_s=0.0, epoch_s=0.1, final=2.5)
    assert not tight.scratch and tight.epochs == 20  # 5 + 20 + 5 fits once scratch is cut
    tighter = plan(budget_s=25, spent_s=5, folds=5, epochs=20, frozen_s=0.0, epoch_s=0.1, final=2.5)
    assert tighter.epochs == 16 and tighter.estimate_s <= 25  # (25 - 5) / ((2 * 5 + 2.5) * 0.1)


# -- the command -------------------------------------------------------------------------------


def test_the_command_is_the_preset_the_epochs_and_the_learners_settings_and_tltui_train_takes_it(tmp_path):
    from tltui.cli.flags import config_from_args
    from tltui.cli.main import build_parser
    from tltui.core.presets import configure

    folder = tmp_path / "my birds"
    folder.mkdir()
    learner = RunConfig(data=str(folder), model="tiny", weights="none", image_size=48, limit_per_class=20, seed=3,
                        augment=(), preset="diagnose")
    words = diagnosis.command(learner, "head-then-unfreeze", 12)
    assert words[:5] == [str(folder), "--preset", "head-then-unfreeze", "--epochs", "12"]
    assert diagnosis.line(words).startswith(f"tltui train '{folder}' --preset head-then-unfreeze --epochs 12 ")
    parsed = config_from_args(build_parser().parse_args(["train", *words]))
    assert parsed == configure("head-then-unfreeze", data=str(folder), model="tiny", weights="none", image_size=48,
                               limit_per_class=20, seed=3, epochs=12)


def test_the_probes_command_has_no_epochs_and_tltui_train_takes_it():
    from tltui.cli.flags import config_from_args
    from tltui.cli.main import build_parser
    from tltui.core.presets import configure

    learner = RunConfig(data="/data/birds", model="tiny", limit_per_class=20, preset="diagnose")
    words = diagnosis.command(learner, "probe", 12)
    assert words[:3] == ["/data/birds", "--preset", "probe"] and "--epochs" not in words
    parsed = config_from_args(build_parser().parse_args(["train", *words]))
    assert parsed == configure("probe", data="/data/birds", model="tiny", limit_per_class=20)
    assert diagnosis.settings(words) == {"data": "/data/birds", "preset": "probe", "model": "tiny",
                                         "limit_per_class": "20"}


def test_settings_read_a_command_back_as_the_forms_fields():
    words = ["/data/birds", "--preset", "fine-tune-all", "--epochs", "9", "--model", "tiny", "--image-size", "32",
             "--freeze", "stem", "--no-augment", "--head-first"]
    assert diagnosis.settings(words) == {
        "data": "/data/birds", "preset": "fine-tune-all", "epochs": "9", "model": "tiny", "image_size": "32",
        "frozen": "stem", "augment": "none", "head_first": "yes"}


def test_the_verdict_prints_the_held_out_score_and_the_command():
    from tltui.core.protocol.events import HeldOut, StrategyResult

    r = StrategyResult(acc=0.9, low=0.8, high=0.95, folds=5)
    event = Diagnosis(results={"knn": r, "feature-extraction": r}, quadrant=1, recommend="feature-extraction",
                      because="because.", command=["/d", "--preset", "feature-extraction", "--epochs", "9"],
                      held_out=HeldOut(strategy="feature-extraction", acc=0.87, low=0.8, high=0.92, images=200))
    text = "\n".join(diagnosis.lines(event))
    assert "val/: feature extraction" in text and "87.0%" in text and "200 images" in text
    assert "tltui train /d --preset feature-extraction --epochs 9" in text


def test_a_diagnosis_stored_before_the_presets_still_prints():
    """An older run's strategies (probe, lp-ft) and no command: shown as they are."""
    from tltui.core.protocol.events import StrategyResult

    r = StrategyResult(acc=0.5, low=0.4, high=0.6, folds=3)
    text = "\n".join(diagnosis.lines(Diagnosis(results={"probe": r, "lp-ft": r}, quadrant=3, recommend="fine-tune-all",
                                               because="old.")))
    assert "probe" in text and "lp-ft" in text and "tltui train" not in text
