"""The freeze board by keys: its state becomes exactly the run it starts; costs and predictions move."""

from __future__ import annotations

import json

from conftest import until
from tltui.app import TutorApp
from tltui.costs import model_costs, step_cost
from tltui.groups import GROUPS
from tltui.lessons import find_lesson, load_lessons
from tltui.prediction import predict
from tltui.widgets.freeze_board import FreezeBoard

SIZE = (80, 24)


def playground() -> TutorApp:
    lessons = load_lessons()
    return TutorApp(lessons, start=find_lesson(lessons, "playground"))


async def focused_board(pilot) -> FreezeBoard:
    await until(pilot, lambda: pilot.app.screen.query(FreezeBoard))
    board = pilot.app.screen.query_one(FreezeBoard)
    board.focus()
    await pilot.pause()
    return board


async def test_keys_set_exactly_the_run_the_board_starts(data_dir):
    app = playground()
    async with app.run_test(size=SIZE) as pilot:
        board = await focused_board(pilot)
        assert board.trainable == {"head"}
        await pilot.press("up", "space", "up", "space")  # layer4 and layer3 train
        await pilot.press("right_square_bracket", "minus", "minus", "minus", "d", "d", "b")
        config = board.config()
        assert set(config.frozen) == {"stem", "layer1", "layer2"}
        assert config.trainable_at(1) == ("layer3", "layer4", "head")
        assert config.limit_per_class == 50 and config.lr == 1e-3
        assert config.data == "builtin-shifted" and board.similarity == "different"
        assert config.model == "tiny" and config.weights == "pretrained" and config.image_size == 32
        assert config.augment == () and config.lr_decay == 1.0
        await pilot.press("enter")
        await until(pilot, lambda: board.measured and app.link.runs[board.measured[0][0]].end is not None)
        sent = app.link.runs[board.measured[0][0]].config
        assert sent == config
        saved = json.loads((data_dir / "progress.json").read_text())
        assert saved["board_runs"] == [[board.measured[0][0], "tiny"]]
        await pilot.pause(0.2)
        assert "measured:" in str(board.query_one("#measured").render())


async def test_head_only_train_all_and_costs():
    app = playground()
    async with app.run_test(size=SIZE) as pilot:
        board = await focused_board(pilot)
        await pilot.press("a")
        assert board.trainable == set(GROUPS)
        totals = str(board.query_one("#totals").render())
        costs = model_costs("resnet50", 224, 10)
        everything = step_cost(costs, set(GROUPS))
        assert f"trains {sum(c.params for c in costs.values()) / 1e6:.1f}M" in totals
        assert f"bwd {everything.backward_gflops:.2f}" in totals and "fwd 8.17" in totals
        await pilot.press("h")
        assert board.trainable == {"head"}
        assert "bwd 0.00" in str(board.query_one("#totals").render())
        await pilot.press("escape")  # the keys go back to the lesson
        assert app.screen.view.has_focus
        await pilot.press("right")
        assert app.screen.lesson.number == find_lesson(app.lessons, "playground").number + 1


async def test_a_setting_that_cannot_run_says_so_and_starts_nothing():
    app = playground()
    async with app.run_test(size=SIZE) as pilot:
        board = await focused_board(pilot)
        await pilot.press("space")  # the head too: everything frozen
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert not board.measured
        assert any("nothing would train" in n.message for n in app._notifications)


def test_the_prediction_follows_its_rule():
    small, large = 5, 1000
    head, everything = {"head"}, set(GROUPS)
    # with little data, unfreezing everything is predicted to do worse than the head alone
    assert predict(everything, small, "similar", 1e-2, trainable_share=1.0) < predict(head, small, "similar", 1e-2)
    # with plenty of data from a different domain, unfreezing is predicted to pay
    assert predict(everything, large, "different", 1e-2, trainable_share=1.0) > predict(head, large, "different", 1e-2)
    # a huge learning rate on pretrained groups is predicted to hurt
    assert predict(everything, large, "similar", 1.0, trainable_share=1.0) < predict(everything, large, "similar", 1e-2, trainable_share=1.0)
    assert predict(set(), 100, "similar", 1e-2) == 0.1
