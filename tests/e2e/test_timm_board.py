"""The freeze board with the real worker: b reaches each timm model whose weights are in the Hugging Face cache
(weights this test writes, of timm's randomly initialised test models), and the board shows the six groups the
worker describes: what each holds, its parameters, and the costs that follow."""

from __future__ import annotations

import safetensors.torch
import timm

from tltui.core.client import local_worker_command
from tltui.core.formatting import si
from tltui.core.protocol.requests import DescribeBackbone
from tltui.engine import backbone_info
from tltui.ui.app import TutorApp
from tltui.ui.lesson.freeze_board import FreezeBoard
from tltui.ui.lessons import find_lesson, load_lessons

from conftest import shown_groups, until

MODELS = ("timm:test_convnext.r160_in1k", "timm:test_vit.r160_in1k")
"""A convolutional network and a ViT, in the order b reaches them (after the built-in two)."""


def cache_weights(hub_cache, model: str) -> None:
    """``model``'s weights (random) where ``huggingface-cli download`` leaves them."""
    name = model.removeprefix("timm:")
    repo = hub_cache / f"models--timm--{name}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0123abcd")
    (repo / "snapshots" / "0123abcd").mkdir(parents=True)
    state = timm.create_model(name.partition(".")[0]).state_dict()
    safetensors.torch.save_file(state, str(repo / "snapshots" / "0123abcd" / "model.safetensors"))


async def test_the_board_shows_the_groups_the_real_worker_describes(hub_cache):
    for model in MODELS:
        cache_weights(hub_cache, model)
    lessons = load_lessons()
    app = TutorApp(lessons, start=find_lesson(lessons, "playground"), worker_command=local_worker_command())
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: pilot.app.screen.query(FreezeBoard))
        board = pilot.app.screen.query_one(FreezeBoard)
        board.focus()
        await until(pilot, lambda: app.link.capabilities is not None, 60, "the real worker's hello")
        assert board.backbone == "tiny"
        for model in MODELS:
            await pilot.press("b")
            assert board.backbone == model
            await until(pilot, lambda: board.info is not None, 120, f"the worker to describe {model}")
            await pilot.pause()
            info = backbone_info.describe(DescribeBackbone(model=model))
            assert shown_groups(board) == {g.name: (si(g.params), g.holds) for g in info.groups}
            assert board.image_size == info.preprocessing.image_size == 160
            trains = si(info.groups[-1].params)  # the head alone, as the board starts
            assert str(board.query_one("#totals").render()).startswith(f"trains {trains} · per image")
