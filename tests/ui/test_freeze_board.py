"""The freeze board by keys: its state becomes exactly the run it starts; costs and predictions move."""

from __future__ import annotations

import json

from tltui.core.costs import GroupCost, model_costs, step_cost
from tltui.core.formatting import si
from tltui.core.groups import GROUPS
from tltui.core.prediction import predict
from tltui.ui.app import TutorApp
from tltui.ui.lesson.freeze_board import FreezeBoard
from tltui.ui.lessons import find_lesson, load_lessons

from conftest import shown_groups, until, workers_done

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
        assert board.backbone == "tiny"  # the fake worker has no ImageNet weights
        await pilot.press("up", "space", "up", "space")  # layer4 and layer3 train
        await pilot.press("right_square_bracket", "minus", "minus", "minus", "d", "d")
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
        progress = data_dir / "progress.json"
        await until(pilot, lambda: progress.exists() and board.measured[0][0] in progress.read_text(), what="the save")
        assert json.loads(progress.read_text())["board_runs"] == [[board.measured[0][0], "tiny"]]
        await until(pilot, lambda: str(board.query_one("#measured").render()).startswith(
            "measured for this setting: finished"), what="the board to show the finished measurement")
        await pilot.press("space")  # another setting: that measurement is not its own
        assert str(board.query_one("#measured").render()).startswith("not measured for this setting yet")
        await pilot.press("b", "enter")  # ResNet-50 without ImageNet weights: refused in the board
        await workers_done(pilot)  # enter's worker: it would have started the run
        line = board.query_one("#measured")
        assert line.refused and "No ImageNet weights for ResNet-50" in str(line.render())
        assert len(board.measured) == 1


async def test_head_only_train_all_and_costs():
    app = playground()
    async with app.run_test(size=SIZE) as pilot:
        board = await focused_board(pilot)
        await pilot.press("b", "a")
        assert board.backbone == "resnet50" and board.trainable == set(GROUPS)
        totals = str(board.query_one("#totals").render())
        costs = model_costs("resnet50", 224, 10)
        everything = step_cost(costs, set(GROUPS))
        assert f"trains {sum(c.params for c in costs.values()) / 1e6:.1f}M" in totals
        assert f"{si(everything.backward_gflops * 1e9, 'FLOP')} bwd" in totals and "8.17 GFLOP fwd" in totals
        await pilot.press("h")
        assert board.trainable == {"head"}
        assert "81.9 KFLOP bwd" in str(board.query_one("#totals").render())  # the head: 2 x 2 x 2048 x 10 MACs
        await pilot.press("b")
        tiny = str(board.query_one("#groups").render())
        assert "0.00" not in tiny and "442K" in tiny  # the tiny backbone's MACs in digits that mean something
        await pilot.press("escape")  # the keys go back to the lesson
        assert app.screen.focused is None
        await pilot.press("right")
        assert app.screen.lesson.number == find_lesson(app.lessons, "playground").number + 1


async def test_a_setting_that_cannot_run_says_so_and_starts_nothing():
    app = playground()
    async with app.run_test(size=SIZE) as pilot:
        board = await focused_board(pilot)
        await pilot.press("space")  # the head too: everything frozen
        await pilot.press("enter")
        await workers_done(pilot)  # enter's worker: it would have started the run
        assert not board.measured
        line = board.query_one("#measured")
        assert line.refused and "nothing would train" in str(line.render())
        await pilot.press("space")  # a setting that can run: the refusal was about the old one
        assert not line.refused


def test_the_prediction_follows_its_rule():
    small, large = 5, 1000
    head, everything = {"head"}, set(GROUPS)
    # with little data, unfreezing everything is predicted to do worse than the head alone
    assert predict(everything, small, "similar", 1e-2, trainable_share=1.0) < predict(head, small, "similar", 1e-2)
    # with plenty of data from a different domain, unfreezing is predicted to pay
    assert predict(everything, large, "different", 1e-2, trainable_share=1.0) > predict(head, large, "different", 1e-2)
    # a huge learning rate on pretrained groups is predicted to hurt
    assert (predict(everything, large, "similar", 1.0, trainable_share=1.0)
            < predict(everything, large, "similar", 1e-2, trainable_share=1.0))
    assert predict(set(), 100, "similar", 1e-2) == 0.1


async def test_the_code_view_uses_the_boards_width():
    app = playground()
    async with app.run_test(size=(120, 40)) as pilot:
        board = await focused_board(pilot)
        await pilot.press("v")
        await pilot.pause()
        from tltui.ui.widgets.code_view import CodeView

        view = board.query_one(CodeView)
        longest = max(len(line) for line in view.code.splitlines())
        assert view.size.width >= longest and not board.query_one("#groups").display


async def test_the_hidden_code_view_is_highlighted_only_once_shown(monkeypatch):
    """Each key of the board changes its code; while the chart shows, the code is not highlighted (it took
    about half of every freeze-board key); `v` shows the code of the setting as it is then."""
    from textual.widgets import Static

    from tltui.ui.widgets import code_view
    from tltui.ui.widgets.code_view import CodeView

    highlighted: list[str] = []
    real = code_view.highlight
    monkeypatch.setattr(code_view, "highlight", lambda code, **kw: highlighted.append(code) or real(code, **kw))
    app = playground()
    async with app.run_test(size=SIZE) as pilot:
        board = await focused_board(pilot)
        view = board.query_one(CodeView)
        await pilot.press("h", "space", "up", "space")
        assert highlighted == [] and view.code
        await pilot.press("v")
        await until(pilot, lambda: highlighted == [view.code], what="the code highlighted once, as it is now")
        assert str(view.query_one(Static).render()) == str(real(view.code, language="python"))
        await pilot.press("a")
        await until(pilot, lambda: highlighted[-1] == view.code and len(highlighted) == 2)


TIMM = "timm:test_vit.r160_in1k"



async def test_a_timm_model_whose_weights_the_worker_has_shows_its_six_groups(monkeypatch, tmp_path):
    """b offers the timm model the worker has weights for; the board asks the worker to describe it without
    holding up a key, then shows each group's parameters and modules, and costs from that description."""
    import fake_worker

    gate = tmp_path / "describe"
    monkeypatch.setenv("FAKE_TIMM_CACHED", TIMM)
    monkeypatch.setenv("FAKE_DESCRIBE_AFTER", str(gate))
    app = playground()
    async with app.run_test(size=SIZE) as pilot:
        board = await focused_board(pilot)
        await until(pilot, lambda: app.link.capabilities is not None, what="the hello")
        await pilot.press("b")  # tiny -> the timm model (then resnet50: the built-in two come first)
        assert board.backbone == TIMM
        assert str(board.query_one("#groups").render()) == f"asking the worker for {TIMM}'s six groups…"
        await pilot.press("up", "space")  # the keys work while the worker is asked
        assert board.trainable == {"layer4", "head"}
        await pilot.press("enter")  # not yet: the run's image size is the model's own, which the worker knows
        await until(pilot, lambda: "has not described" in str(board.query_one("#measured").render()))
        assert not board.measured
        gate.touch()
        await until(pilot, lambda: board.info is not None, what="the description")
        await pilot.pause()
        rows = [(g, *row) for g, row in zip(GROUPS, fake_worker.TEST_VIT, strict=True)]
        assert shown_groups(board) == {g: (si(p), h) for g, h, p, _ in rows}
        assert len(str(board.query_one("#groups").render()).splitlines()) <= 11  # the board's top shows them all
        costs = {g: GroupCost(p, m) for g, _, p, m in rows}
        step = step_cost(costs, {"layer4", "head"})
        assert str(board.query_one("#totals").render()).startswith(
            f"trains {si(step.trainable_params)} · per image {si(step.forward_gflops * 1e9, 'FLOP')} fwd")
        assert str(board.query_one("#controls").render()).startswith(f"{TIMM} · 160px · 20/class")
        await pilot.press("enter")
        await until(pilot, lambda: board.measured, what="the run")
        config = app.link.runs[board.measured[0][0]].config
        assert (config.model, config.image_size, config.weights) == (TIMM, 160, "pretrained")
        assert set(config.frozen) == {"stem", "layer1", "layer2", "layer3"}
        await pilot.press("b")
        assert board.backbone == "resnet50" and "MAC/img" in str(board.query_one("#groups").render())


async def test_a_long_timm_name_gives_way_on_the_controls_line_at_80_columns(monkeypatch):
    monkeypatch.setenv("FAKE_TIMM_CACHED", "timm:vit_small_patch14_dinov2.lvd142m")
    app = playground()
    async with app.run_test(size=SIZE) as pilot:
        board = await focused_board(pilot)
        await until(pilot, lambda: app.link.capabilities is not None, what="the hello")
        await pilot.press("b", "right_square_bracket", "right_square_bracket", "right_square_bracket", "d", "d")
        await until(pilot, lambda: board.info is not None, what="the description")
        await pilot.pause()
        controls = board.query_one("#controls")
        line = str(controls.render())
        assert line.startswith("timm:vit_small_patch14_") and "…" in line
        assert line.endswith(" · 160px · 1000/class · lr 1e-02 · different")
        assert len(line) <= controls.content_size.width
        await pilot.press("b")  # a short name is whole
        assert str(controls.render()) == "resnet50 · ImageNet · 224px · 1000/class · lr 1e-02 · different"
