"""Lesson 13's comparison by keys, against the scripted fake worker at 80x24: r starts each backbone the worker
has weights for as a probe and fine-tuned over three seeds, with exactly the configs it says; each arm's mean
and interval come from the runs' final validation accuracy; the weights not found are named with where the
worker looked."""

from __future__ import annotations

from tltui.core.diagnosis import over_folds
from tltui.ui.app import TutorApp
from tltui.ui.lesson.backbone_compare import BackboneCompare
from tltui.ui.lessons import find_lesson, load_lessons

from conftest import focus_by_tab, until

SIZE = (80, 24)
VIT = "timm:test_vit.r160_in1k"


def text(widget, selector: str) -> str:
    return str(widget.query_one(selector).render())


async def compare(pilot) -> BackboneCompare:
    """The lesson's widget with the keys, once the worker has said hello and been asked about timm's weights."""
    widget = await focus_by_tab(pilot, BackboneCompare)
    await until(pilot, lambda: len(widget.looked) == 2, what="the answer about the named timm models")
    await pilot.pause()
    return widget


async def test_r_compares_the_tiny_backbone_as_a_probe_and_fine_tuned_over_three_seeds():
    lessons = load_lessons()
    app = TutorApp(lessons, start=find_lesson(lessons, "choosing-a-backbone"))
    async with app.run_test(size=SIZE) as pilot:
        widget = await compare(pilot)
        assert widget.backbones() == ["tiny"]  # the fake worker has no ImageNet weights and no timm model
        assert text(widget, "#bc-status").startswith("r runs 6 runs on this worker: tiny, each as a probe")
        missing = text(widget, "#bc-missing").splitlines()
        assert missing == [
            "Not compared, weights not found:",
            "· No ImageNet weights for ResNet-50 on fake-host (looked in /fake/hub/checkpoints)",
            "· No pretrained weights for timm:convnext_tiny (looked in /fake/hf/hub/models--timm--convnext_tiny)",
            "· No pretrained weights for timm:vit_small_patch14_dinov2.lvd142m (looked in "
            "/fake/hf/hub/models--timm--vit_small_patch14_dinov2.lvd142m)",
        ]
        await pilot.press("r")
        await until(pilot, lambda: len(widget.runs) == 6 and all(not r.running for r in widget.owned_runs()),
                    what="the six runs to end")
        configs = [run.config for run in widget.owned_runs()]
        assert [(c.preset, c.seed) for c in configs] == [
            (preset, seed) for seed in (0, 1, 2) for preset in ("probe", "fine-tune-all")]
        assert all((c.model, c.weights, c.data, c.image_size, c.limit_per_class) == ("tiny", "pretrained", "builtin",
                                                                                        32, 20) for c in configs)
        assert [c.epochs for c in configs[:2]] == [1, 5] and configs[0].trainable_at(1) == ("head",)
        assert configs[1].optimizer == "adamw" and not configs[1].frozen  # fine-tune-all: every group trains
        table = text(widget, "#bc-table").splitlines()
        assert table[1] == "tiny"
        for line, arm in zip(table[2:4], ("probe", "fine-tune"), strict=True):
            runs = [app.link.runs[widget.runs[f"tiny|{arm}|{seed}"]] for seed in (0, 1, 2)]
            mean, low, high = over_folds([run.epochs[-1].val_acc for run in runs])
            assert line.startswith(f"  {arm:<10}3/3    {mean:4.0%} [{low:.0%}–{high:.0%}]  │")
        assert max(len(line) for line in table) <= widget.query_one("#bc-table").content_size.width
        assert text(widget, "#bc-status").startswith("Measured on fake-host: final validation accuracy")


async def test_every_backbone_with_weights_is_compared_and_a_cached_timm_model_is_not_said_missing(monkeypatch):
    monkeypatch.setenv("FAKE_WEIGHTS", "imagenet")
    monkeypatch.setenv("FAKE_TIMM_CACHED", f"{VIT},timm:convnext_tiny.in12k_ft_in1k")
    monkeypatch.setenv("FAKE_STOP_AFTER", "2")  # started and under way: the table says where each arm is
    lessons = load_lessons()
    app = TutorApp(lessons, start=find_lesson(lessons, "choosing-a-backbone"))
    async with app.run_test(size=SIZE) as pilot:
        widget = await compare(pilot)
        models = ["tiny", "resnet50", "timm:convnext_tiny.in12k_ft_in1k", VIT]
        assert widget.backbones() == models
        assert text(widget, "#bc-missing").splitlines() == [
            "Not compared, weights not found:",
            "· No pretrained weights for timm:vit_small_patch14_dinov2.lvd142m (looked in "
            "/fake/hf/hub/models--timm--vit_small_patch14_dinov2.lvd142m)"]
        await pilot.press("r")
        await until(pilot, lambda: len(widget.runs) == 24, what="the 24 runs")
        first = [(run.config.model, run.config.preset, run.config.seed) for run in widget.owned_runs()][:8]
        assert first == [(m, p, 0) for m in models for p in ("probe", "fine-tune-all")]  # seed 0 of every arm first
        assert {run.config.image_size for run in widget.owned_runs() if run.config.model != "tiny"} == {0}
        await until(pilot, lambda: "0 of 24 runs done" in text(widget, "#bc-status"))
        table = text(widget, "#bc-table").splitlines()
        assert [line for line in table if not line.startswith(" ")] == models
        assert all(line.endswith("0/3    running…") for line in table[1:] if line.startswith("  "))
        await pilot.press("r")  # a second r while it goes starts nothing
        await until(pilot, lambda: widget.note)
        assert widget.note == "The comparison is still going: c cancels it." and len(app.link.runs) == 24
