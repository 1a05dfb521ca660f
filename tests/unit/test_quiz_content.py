"""The quadrant quiz as content: enough scenarios, every quadrant, reasoning, and a strict parser."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from tltui.core.groups import BACKBONE
from tltui.core.protocol.replies import Capabilities
from tltui.ui.content.check_runs import EXPERIMENTS, check_backbone, check_runs
from tltui.ui.content.quadrants import QUADRANTS, REASONS, load_quiz, quiz_path

QUIZ = load_quiz()


def test_at_least_twelve_scenarios_with_unique_ids():
    ids = re.findall(r"^## +(\S+)", quiz_path().read_text(encoding="utf-8"), re.M)
    assert len(ids) == len(set(ids)) == len(QUIZ.scenarios) + 1  # + the strategies table
    assert len(QUIZ.scenarios) >= 12


def test_every_quadrant_is_the_answer_at_least_twice():
    counts = Counter(s.quadrants[0] for s in QUIZ.scenarios)
    assert set(counts) == set(QUADRANTS)
    assert min(counts.values()) >= 2


def test_every_scenario_has_its_reasoning_and_valid_answers():
    for s in QUIZ.scenarios:
        assert s.title and len(s.text) > 40, s.id
        for reason in REASONS[:3]:
            assert len(s.reasons[reason]) > 40, (s.id, reason)
        assert set(s.strategies) <= set(QUIZ.strategies), s.id
        assert s.check == "" or s.check in EXPERIMENTS, s.id


def test_borderline_cases_accept_more_than_one_quadrant():
    assert sum(len(s.quadrants) > 1 for s in QUIZ.scenarios) >= 2


def test_the_checked_scenario_runs_on_a_builtin_set():
    checked = [s for s in QUIZ.scenarios if s.check]
    assert checked and all("check" in s.reasons for s in checked)
    for s in checked:
        data, _, _ = EXPERIMENTS[s.check]
        assert data.startswith("builtin")


def test_strategies_are_six_with_names_and_head_first_is_among_them():
    assert list(QUIZ.strategies) == ["feature-extraction", "head-then-unfreeze", "fine-tune-late", "fine-tune-all",
                                     "earlier-features", "from-scratch"]
    assert all(s.name and s.short for s in QUIZ.strategies.values())


@pytest.mark.parametrize("broken, message", [
    ("title: X\nquadrant: 5\nstrategy: from-scratch", "quadrant must list numbers"),
    ("title: X\nquadrant: 1\nstrategy: magic", "strategy must list ids"),
    ("title: X\nquadrant: 1\nstrategy: from-scratch\ncolour: red", "unknown field 'colour'"),
])
def test_a_broken_scenario_names_itself(tmp_path, broken, message):
    path = tmp_path / "quiz.md"
    path.write_text(
        "# Quiz\n\n## strategies\n\n| id | strategy | in short |\n|---|---|---|\n"
        "| from-scratch | From scratch | random weights |\n\n"
        f"## odd-one\n\n{broken}\n\nA scenario.\n\nQuadrant: a.\n\nStrategy: b.\n\nDebatable: c.\n"
    )
    with pytest.raises(ValueError, match=f"odd-one: {message}"):
        load_quiz(path)


def test_a_missing_reason_and_a_duplicate_id_are_refused(tmp_path):
    head = "# Quiz\n\n## strategies\n\n| id | strategy | in short |\n|---|---|---|\n| a | A | b |\n\n"
    scenario = "## one\n\nquadrant: 1\nstrategy: a\n\nA scenario.\n\nQuadrant: x.\n\nStrategy: y.\n\n"
    path = tmp_path / "quiz.md"
    path.write_text(head + scenario)
    with pytest.raises(ValueError, match="one: missing the 'debatable' paragraph"):
        load_quiz(path)
    path.write_text(head + (scenario + "Debatable: z.\n\n") * 2)
    with pytest.raises(ValueError, match="share an id: one"):
        load_quiz(path)


def caps(**fields) -> Capabilities:
    return Capabilities(host="h", tltui_version="0", torch_version="0", devices=["cpu"], **fields)


def test_the_check_uses_tiny_when_the_worker_has_it_else_imagenet_else_nothing():
    assert check_backbone(caps(models={"tiny": ["pretrained", "none"], "resnet50": ["none"]})) == "tiny"
    assert check_backbone(caps(cached_weights=["imagenet"], models={"tiny": ["none"]})) == "resnet50"
    assert check_backbone(caps(models={"tiny": ["none"], "resnet50": ["none"]})) == ""
    assert check_backbone(None) == ""


@pytest.mark.parametrize("backbone", ["tiny", "resnet50"])
def test_the_sketch_check_differs_only_in_what_trains(backbone):
    (fe_label, fe), (ft_label, ft) = check_runs("sketches", backbone)
    assert (fe_label, ft_label) == ("feature extraction", "fine-tune all")
    for config in (fe, ft):
        config.check()
        assert (config.data, config.limit_per_class, config.model) == ("builtin-shifted", 20, backbone)
    assert fe.frozen == BACKBONE and fe.augment == ()
    assert ft.frozen == () and ft.augment
    assert (fe.seed, fe.epochs, fe.lr, fe.weights) == (ft.seed, ft.epochs, ft.lr, ft.weights)
    if backbone == "resnet50":
        assert fe.image_size == 64 and fe.weights == "imagenet"
