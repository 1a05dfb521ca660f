"""Lesson 13's comparison with the real worker (the tiny backbone's six runs: about 30 s on a CPU): each arm's
line is the mean and interval of its runs' final validation accuracy, and the weights not found are named
with the folders the worker looked in (an empty torch hub and Hugging Face cache of the test's own)."""

from __future__ import annotations

from tltui.core.client import local_worker_command
from tltui.core.diagnosis import over_folds
from tltui.ui.app import TutorApp
from tltui.ui.lesson.backbone_compare import BackboneCompare
from tltui.ui.lessons import find_lesson, load_lessons

from conftest import focus_by_tab, until


async def test_the_comparison_runs_for_real_and_names_where_the_worker_looked(hub_cache, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no ImageNet weights: the tiny backbone alone
    lessons = load_lessons()
    app = TutorApp(lessons, start=find_lesson(lessons, "choosing-a-backbone"), worker_command=local_worker_command())
    async with app.run_test(size=(80, 24)) as pilot:
        widget = await focus_by_tab(pilot, BackboneCompare)
        await until(pilot, lambda: len(widget.looked) == 2, 120, "the worker's answer about timm's weights")
        await pilot.pause()
        missing = " ".join(str(widget.query_one("#bc-missing").render()).split())
        assert f"(looked in {tmp_path / 'torch' / 'hub' / 'checkpoints'})" in missing
        assert f"timm:convnext_tiny (looked in {hub_cache / 'models--timm--convnext_tiny.in12k_ft_in1k'})" in missing
        assert f"(looked in {hub_cache / 'models--timm--vit_small_patch14_dinov2.lvd142m'})" in missing
        await pilot.press("r")
        await until(pilot, lambda: len(widget.runs) == 6 and all(not r.running for r in widget.owned_runs()), 300,
                    "the six runs to end")
        assert [run.status for run in widget.owned_runs()] == ["finished"] * 6
        table = str(widget.query_one("#bc-table").render()).splitlines()
        for line, arm in zip(table[2:4], ("probe", "fine-tune"), strict=True):
            runs = [app.link.runs[widget.runs[f"tiny|{arm}|{seed}"]] for seed in (0, 1, 2)]
            assert [len(run.epochs) for run in runs] == [1 if arm == "probe" else 5] * 3
            mean, low, high = over_folds([run.epochs[-1].val_acc for run in runs])
            assert line.startswith(f"  {arm:<10}3/3    {mean:4.0%} [{low:.0%}–{high:.0%}]")
