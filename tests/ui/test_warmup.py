"""Once the tutor has been idle a moment, the training and runs screens' modules are imported ahead (one
per refresh), so the first T or R does not import them; the collector is calmed again afterwards (and
turned on: the tutor starts with it off)."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = r'''
import asyncio, gc, json, sys
from tltui.ui.app import TutorApp
from tltui.ui.lessons import load_lessons
from tltui.ui.warmup import AHEAD

async def main():
    gc.disable()  # as `tltui` starts the tutor
    app = TutorApp(load_lessons())
    seen = {"before": [m for m in AHEAD if m in sys.modules], "frozen_before": gc.get_freeze_count()}
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(400):
            if all(m in sys.modules for m in AHEAD) and gc.get_freeze_count() > seen["frozen_before"]:
                break
            await pilot.pause(0.05)  # a poll of the condition above (a subprocess: no conftest until)
        seen["after"] = [m for m in AHEAD if m in sys.modules]
        seen["frozen_after"] = gc.get_freeze_count()
        seen["collecting"] = gc.isenabled()
        await pilot.press("T")
        for _ in range(200):
            if type(app.screen).__name__ == "TrainScreen":
                break
            await pilot.pause(0.05)  # a poll of the condition above (a subprocess: no conftest until)
        seen["screen"] = type(app.screen).__name__
    print(json.dumps(seen))

asyncio.run(main())
'''


def test_the_screens_not_opened_yet_are_imported_while_idle():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert "tltui.ui.screens.train" not in seen["before"], "the tutor's modules import the training screen"
    from tltui.ui.warmup import AHEAD

    assert seen["after"] == list(AHEAD)
    assert seen["frozen_after"] > seen["frozen_before"], "the modules imported ahead were left to the collector"
    assert seen["collecting"], "the collector, off while the tutor starts, was never turned on"
    assert seen["screen"] == "TrainScreen"


async def test_the_training_and_runs_screens_are_built_while_idle_and_ask_nothing_of_the_worker(tmp_path):
    from tltui.ui.app import TutorApp
    from tltui.ui.lessons import load_lessons
    from tltui.ui.screens.runs import RunsScreen
    from tltui.ui.screens.train import TrainScreen
    from tltui.ui.widgets.run_form import RunForm

    from conftest import until

    (tmp_path / "01-plain.md").write_text("# Plain\n\nA lesson with no live widget: nothing needs the worker.\n")
    app = TutorApp(load_lessons(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: {"train", "runs"} <= set(app._screen_stacks), what="the screens built ahead")
        train = app._screen_stacks["train"][0]
        await until(pilot, lambda: train.query(RunForm), what="the form composed off screen")
        assert isinstance(app.screen, type(app.lesson_screen)), "a screen built ahead was shown"
        assert app.started_link is None, "a screen built ahead started the worker"
        await pilot.press("T")
        await until(pilot, lambda: isinstance(app.screen, TrainScreen))
        assert app.screen is train  # the one built ahead, not another
        assert app.started_link is not None  # shown: it asks the worker for its backbones
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, RunsScreen))
        assert app.screen is app._screen_stacks["runs"][0]


async def test_a_screen_built_ahead_says_nothing_until_it_is_shown():
    """Lesson 1's race starts the worker; the training screen built ahead hears its hello but keeps its
    news (no ImageNet weights: the form starts from tiny) for when the learner opens it."""
    from tltui.ui.app import TutorApp
    from tltui.ui.lessons import load_lessons
    from tltui.ui.screens.train import TrainScreen
    from tltui.ui.widgets.run_form import RunForm

    from conftest import Toasts, until

    app = TutorApp(load_lessons())
    toasts = Toasts()
    async with app.run_test(size=(80, 24), message_hook=toasts) as pilot:
        await until(pilot, lambda: "train" in app._screen_stacks and app.started_link is not None
                    and app.started_link.state == "ready", what="the screen built ahead and the worker's hello")
        await pilot.pause()
        assert not toasts.said("No ImageNet weights"), "a screen nobody sees spoke"
        await pilot.press("T")
        await until(pilot, lambda: isinstance(app.screen, TrainScreen))
        await until(pilot, lambda: toasts.said("No ImageNet weights on fake-host"))
        assert app.screen.query_one(RunForm).model == "tiny"


async def test_each_screen_built_ahead_is_rendered_once_off_screen_and_a_shown_one_is_not(monkeypatch, tmp_path):
    """The training and runs screens are rendered once while hidden, so that their first showing draws from
    the lines their widgets keep; a screen the learner opened before its turn (T at once) is not rendered
    ahead, nor built twice."""
    from tltui.ui import warmup
    from tltui.ui.app import TutorApp
    from tltui.ui.lessons import load_lessons
    from tltui.ui.screens.train import TrainScreen

    from conftest import until

    rendered: list[str] = []
    real = warmup.render_ahead
    monkeypatch.setattr(warmup, "render_ahead", lambda screen: rendered.append(type(screen).__name__) or real(screen))
    (tmp_path / "01-plain.md").write_text("# Plain\n\nA lesson with no live widget.\n")
    app = TutorApp(load_lessons(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: len(rendered) == 2, what="both screens rendered ahead")
        assert rendered == ["TrainScreen", "RunsScreen"]
        for mode in ("train", "runs"):
            screen = app._screen_stacks[mode][0]
            assert not screen.is_current and not screen._compositor._dirty_regions  # drawn, to nothing

    rendered.clear()
    app = TutorApp(load_lessons(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("T")  # before the tutor has been idle: the training screen is built by the key
        await until(pilot, lambda: isinstance(app.screen, TrainScreen))
        train = app.screen
        await until(pilot, lambda: "RunsScreen" in rendered, what="the runs screen rendered ahead")
        assert rendered == ["RunsScreen"] and app._screen_stacks["train"] == [train]


async def test_the_contents_is_built_hidden_while_idle_and_t_shows_that_one(tmp_path):
    from tltui.ui.app import TutorApp
    from tltui.ui.lessons import load_lessons

    from conftest import until

    for name in ("01-one.md", "02-two.md"):
        (tmp_path / name).write_text(f"# {name[3:-3]}\n\nA lesson with no live widget.\n")
    app = TutorApp(load_lessons(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.lesson_screen
        await until(pilot, lambda: screen.contents is not None, what="the contents built ahead")
        built = screen.contents
        assert not built.display and built.option_count == 2 and app.screen is screen
        await pilot.press("t")
        assert screen.contents is built and built.display and built.has_focus


async def test_a_tutor_quitting_builds_no_contents_ahead(monkeypatch, tmp_path):
    """q while the tutor builds ahead: the contents' turn comes as the screens are taken down, and mounting
    into them ended the tutor with an internal error (exit 1, seen in CI); it builds nothing then."""
    from tltui.ui import collector
    from tltui.ui.app import TutorApp
    from tltui.ui.lessons import load_lessons

    from conftest import until

    calmed: list[bool] = []
    monkeypatch.setattr(collector, "calm", lambda: calmed.append(True))
    (tmp_path / "01-plain.md").write_text("# Plain\n\nA lesson with no live widget.\n")
    app = TutorApp(load_lessons(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        app.quitting = True  # as q sets it, without ending the test's app
        await until(pilot, lambda: len(calmed) == 2, what="the warm-up's last step (the first: after mounting)")
        assert {"train", "runs"} <= set(app._screen_stacks)
        assert app.lesson_screen.contents is None and app.crash is None


async def test_a_t_while_the_contents_is_built_ahead_waits_for_it_and_takes_the_keys():
    """t in the moment the tutor mounts the contents: it shows that one, once mounted and filled, with the
    keys (found in a pty: the contents showed but page and enter went nowhere)."""
    import asyncio

    from tltui.ui.app import TutorApp
    from tltui.ui.lessons import load_lessons

    from conftest import until

    lessons = load_lessons()
    app = TutorApp(lessons)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.lesson_screen
        building = asyncio.ensure_future(screen.build_contents())  # as the warm-up starts it
        await asyncio.sleep(0)
        assert screen.contents is None  # mounting, not shown yet
        await pilot.press("t", "pagedown", "enter")
        await until(pilot, lambda: screen.lesson is lessons[-1], what="the last lesson opened from the contents")
        assert await building is screen.contents and len(screen.query("Contents")) == 1


async def test_a_screen_built_ahead_has_its_footer_keys_drawn_and_laid_out_as_shown(tmp_path):
    """The keys a screen built ahead will show are drawn while it is hidden (L, not its own T or R) and laid
    out with it; its first show keeps those very keys (no rebuild: it took a third of the first T)."""
    from textual.widgets._footer import FooterKey

    from tltui.ui.app import TutorApp
    from tltui.ui.lessons import load_lessons
    from tltui.ui.widgets.footer import KeysFooter

    from conftest import until

    (tmp_path / "01-plain.md").write_text("# Plain\n\nA lesson with no live widget.\n")
    app = TutorApp(load_lessons(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.lesson_screen.contents is not None, what="the warm-up to end")
        lesson_keys = {key.key for key in app.lesson_screen.query(FooterKey)}
        assert {"T", "R"} <= lesson_keys and "L" not in lesson_keys
        ahead = {}
        for mode, key in (("train", "T"), ("runs", "R")):
            screen = app._screen_stacks[mode][0]
            ahead[key] = list(screen.query_one(KeysFooter).query(FooterKey))
            drawn = {footer_key.key for footer_key in ahead[key]}
            assert "L" in drawn and key not in drawn, (mode, drawn)
            assert not screen._layout_required, f"{mode}: its first show would lay out its footer keys"
        for mode, key in (("train", "T"), ("runs", "R")):
            screen = app._screen_stacks[mode][0]
            await pilot.press(key)
            await until(pilot, lambda s=screen: app.screen is s and s.shown)
            await pilot.pause()
            assert list(screen.query_one(KeysFooter).query(FooterKey)) == ahead[key], f"{key} rebuilt its footer"
            await pilot.press("L")
            await until(pilot, lambda: app.screen is app.lesson_screen)
        assert {key.key for key in app.lesson_screen.query(FooterKey)} == lesson_keys


async def test_the_first_frame_waits_for_the_lessons_first_words_only(monkeypatch):
    """Textual draws no frame until the app's own mount has run, and that mount waits for what the screen
    mounts meanwhile. The first frame must hold the lesson's composed prose, laid out, and nothing that
    could come later: no further part of the lesson, and not yet the footer's keys (they took 15 ms, the
    lesson's check 75 ms, of the time to the first words)."""
    from textual.widgets._footer import FooterKey

    from tltui.ui.app import TutorApp
    from tltui.ui.lesson.view import LessonView
    from tltui.ui.lessons import load_lessons

    from conftest import until

    frames: list[tuple[int, int, int]] = []

    display = TutorApp._display

    def watched(app, screen, renderable) -> None:
        if renderable is not None and not app._batch_count:  # (Textual draws it: not held in a batch)
            view = screen.query(LessonView).first()
            frames.append((len(view.children), view.children[0].region.height, len(screen.query(FooterKey))))
        display(app, screen, renderable)

    monkeypatch.setattr(TutorApp, "_display", watched)
    lessons = load_lessons()
    first = lessons[0]
    app = TutorApp(lessons, start=first)
    async with app.run_test(size=(80, 24)) as pilot:
        composed = len(list(LessonView(first).compose()))  # the prose it draws at once
        await until(pilot, lambda: frames and frames[-1][2] > 0, what="the footer's keys")
    parts, height, keys = frames[0]
    assert parts == composed and height > 0 and keys == 0, frames[:3]


def test_a_warm_up_step_does_nothing_once_the_app_has_stopped_running():
    """Textual's shutdown loops over the app's screen stacks while it closes them; a screen built ahead in
    between changed that dict under the loop (RuntimeError as a test's tutor closed, in CI)."""
    from tltui.ui.warmup import one_per_refresh

    class Closing:
        is_running = False
        scheduled: list = []

        def call_after_refresh(self, callback) -> None:
            self.scheduled.append(callback)

    done, ended = [], []
    step = one_per_refresh(Closing(), lambda: ["train"], done.append, lambda: ended.append(True))
    step()
    assert done == [] and ended == [] and Closing.scheduled == []
