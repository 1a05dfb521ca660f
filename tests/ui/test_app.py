"""The tutor driven by keys alone at 80x24, as a learner would."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from textual import events

from tltui.ui.app import TutorApp
from tltui.ui.lesson.registry import UnknownWidget
from tltui.ui.lessons import load_lessons
from tltui.ui.screens.help import HelpScreen, key_text, own_bindings, sections
from tltui.ui.screens.lesson import DIGIT_WINDOW, LessonScreen

from conftest import Toasts, lesson_mounted, until, workers_done

LESSONS = load_lessons()
SIZE = (80, 24)


def current(app: TutorApp) -> int:
    screen = app.screen
    assert isinstance(screen, LessonScreen)
    return screen.lesson.number


def showing(app: TutorApp, number: int) -> bool:
    """Whether the lesson screen is on top with lesson ``number`` open."""
    return app.screen is app.lesson_screen and app.lesson_screen.lesson.number == number


@pytest.mark.slow
async def test_every_lesson_reachable_forward_and_back():
    app = TutorApp(LESSONS)
    async with app.run_test(size=SIZE) as pilot:
        assert current(app) == 1
        for number in range(2, len(LESSONS) + 1):
            await pilot.press("n")
            assert current(app) == number
            await until(pilot, lambda: app.screen.sub_title.startswith(f"{number}/{len(LESSONS)}"),  # noqa: B023
                        what=f"lesson {number}'s title")  # set once the lesson is mounted: after the key
            assert app.screen.focused is None
        await pilot.press("right")
        assert current(app) == len(LESSONS)
        for number in range(len(LESSONS) - 1, 0, -1):
            await pilot.press("p" if number % 2 else "left")
            assert current(app) == number
        await pilot.press("p")
        assert current(app) == 1


async def test_digits_jump_and_two_digits_make_one_number():
    app = TutorApp(LESSONS)
    async with app.run_test(size=SIZE) as pilot:

        typed_at = 0.0

        async def typed(*keys: str, lesson: int, later: float = 0.0) -> None:
            """Keys that arrive together, as a terminal delivers quick typing (however slow the app), the
            first ``later`` seconds after the last key typed (by the keys' time stamps, which the app
            reads); wait until lesson ``lesson`` is open."""
            nonlocal typed_at
            for key in keys:
                event = events.Key(key, key)
                if later:
                    event.time = typed_at + later
                    later = 0.0
                typed_at = event.time
                app.screen.post_message(event)
            await until(pilot, lambda: current(app) == lesson, what=f"{'+'.join(keys)} to open lesson {lesson}")

        await typed("3", lesson=3)
        await typed("1", "1", lesson=11)
        await typed("0", lesson=10)
        await typed("9", lesson=9)
        await typed("1", lesson=1)
        await typed("2", lesson=2, later=DIGIT_WINDOW + 0.1)  # too slow for one number: two jumps


async def test_scroll_keys_move_the_lesson():
    app = TutorApp(LESSONS)
    async with app.run_test(size=SIZE) as pilot:
        await lesson_mounted(pilot)
        view = app.screen.view
        await pilot.press("j", "j", "down")
        assert view.scroll_y == 3
        await pilot.press("k")
        assert view.scroll_y == 2
        await pilot.press("G")
        await pilot.pause()
        assert view.scroll_y == view.max_scroll_y > 0
        await pilot.press("g")
        await pilot.pause()
        assert view.scroll_y == 0
        await pilot.press("space")
        await pilot.pause()
        assert view.scroll_y > 10


async def test_help_opens_scrolls_with_the_lesson_keys_and_closes():
    app = TutorApp(LESSONS)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        scroll = app.screen.query_one("#help")
        await pilot.press("G")
        assert scroll.scroll_y == scroll.max_scroll_y > 0
        await pilot.press("g")
        assert scroll.scroll_y == 0
        await pilot.press("space")
        assert scroll.scroll_y > 10
        await pilot.press("escape")
        assert isinstance(app.screen, LessonScreen)
        await pilot.press("question_mark")
        await pilot.press("question_mark")
        assert isinstance(app.screen, LessonScreen)


async def test_contents_lists_lessons_and_opens_one():
    app = TutorApp(LESSONS)
    async with app.run_test(size=SIZE) as pilot:
        assert app.screen.contents is None
        await pilot.press("t")
        contents = app.screen.contents
        assert contents.display and contents.has_focus
        assert contents.option_count == len(LESSONS)
        assert str(contents.get_option_at_index(0).prompt).startswith(">")
        await pilot.press("down", "down", "enter")
        assert current(app) == 3
        assert not contents.display
        await pilot.press("t")
        assert str(contents.get_option_at_index(0).prompt).startswith("✓")
        assert str(contents.get_option_at_index(3).prompt).startswith(" ")
        await pilot.press("escape")
        assert not contents.display and app.screen.focused is None


async def test_contents_shown_beside_the_lesson_when_wide():
    app = TutorApp(LESSONS)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        assert app.screen.contents.display
        assert app.screen.focused is None
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert not app.screen.contents.display
        await pilot.resize_terminal(120, 30)
        await pilot.pause()
        assert app.screen.contents.display


async def test_palette_goes_to_a_lesson():
    app = TutorApp(LESSONS)
    target = LESSONS[4]
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.press(*f"go to lesson {target.number}. {target.title[:8]}")
        await workers_done(pilot)  # the palette's search
        await pilot.press("enter")
        await until(pilot, lambda: showing(app, target.number), what=f"lesson {target.number}")


async def test_resume_where_the_learner_left_off(data_dir):
    app = TutorApp(LESSONS)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n", "n", "n")
        app.theme = "nord"
        await pilot.press("q")
    saved = json.loads((data_dir / "progress.json").read_text())
    assert saved["last_lesson"] == LESSONS[3].name
    assert saved["visited"] == [lesson.name for lesson in LESSONS[:4]]
    again = TutorApp(LESSONS)
    async with again.run_test(size=SIZE):
        assert current(again) == 4
        assert again.theme == "nord"


async def test_corrupt_progress_starts_fresh_with_a_notice(data_dir):
    (data_dir / "progress.json").write_bytes(b"\x00\xffnot json")
    app = TutorApp(LESSONS)
    toasts = Toasts()
    async with app.run_test(size=SIZE, message_hook=toasts) as pilot:
        await pilot.pause()
        assert current(app) == 1
        assert toasts.said("unreadable")
        await pilot.press("n")
    assert json.loads((data_dir / "progress.json").read_text())["last_lesson"] == LESSONS[1].name
    assert any(p.name.startswith("progress.json.corrupt-") for p in data_dir.iterdir())


@pytest.fixture
def odd_lessons(tmp_path):
    (tmp_path / "01-odd.md").write_text("# Odd widgets\n\nText.\n\n```tltui warp-drive\n```\n")
    (tmp_path / "02-plain.md").write_text("# Plain\n\nNothing live here.\n")
    return load_lessons(tmp_path)


async def test_an_unknown_widget_is_a_visible_box(odd_lessons):
    app = TutorApp(odd_lessons)
    async with app.run_test(size=SIZE) as pilot:
        await lesson_mounted(pilot)
        unknown = app.screen.query_one(UnknownWidget)
        assert "warp-drive" in str(unknown.render())
        assert unknown.border_title == "Unknown widget"


def help_keys() -> set[str]:
    """Every key the help lists, as printed."""
    return {key for _, rows in sections() for keys, _ in rows for key in keys.split()}


def test_the_help_lists_every_binding_of_every_screen_and_widget():
    from textual.widget import Widget

    owners = {TutorApp, *(cls for cls in _subclasses(Widget) if cls.__module__.startswith("tltui."))}
    listed = help_keys()
    for owner in owners:
        for binding in own_bindings(owner):
            for key in binding.key.split(","):
                assert key_text(key) in listed, (owner.__name__, key)


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    return found.union(*(_subclasses(c) for c in found))


def test_the_readme_keys_agree_with_the_bindings():
    """Every key in the README's table is one the help lists (so, bound), and every key of the app and
    its screens is in the table."""
    from tltui.ui.screens.runs import RunsScreen
    from tltui.ui.screens.train import TrainScreen
    from tltui.ui.widgets.run_view import RunView

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    table = readme.split("## Keys", 1)[1].split("\n\n", 2)[1]
    in_readme = {k for k in re.findall(r"`([^`]+)`", table) if not k.isdigit()}  # digits: typed lesson numbers
    listed = help_keys()
    assert in_readme <= listed, in_readme - listed
    for owner in (TutorApp, LessonScreen, TrainScreen, RunsScreen, RunView):
        for binding in own_bindings(owner):
            for key in binding.key.split(","):
                assert key_text(key) in in_readme, (owner.__name__, key)


async def test_L_and_escape_lead_back_to_the_lesson_from_the_training_and_runs_screens():
    from textual.widgets import Input

    from tltui.ui.screens.runs import RunsScreen
    from tltui.ui.screens.train import TrainScreen

    app = TutorApp(LESSONS)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await pilot.press("T")
        assert isinstance(app.screen, TrainScreen)
        footer = {b.binding.description for b in app.screen.active_bindings.values() if b.binding.show}
        assert "Lessons" in footer and "Train" not in footer
        await pilot.press("L")
        assert app.screen is app.lesson_screen and current(app) == 3
        await pilot.press("R")
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("escape")
        assert app.screen is app.lesson_screen and current(app) == 3
        await pilot.press("T")
        app.screen.query_one("#epochs", Input).focus()
        await pilot.press("escape")  # leaves the field first
        assert isinstance(app.screen, TrainScreen) and not isinstance(app.screen.focused, Input)
        await pilot.press("escape")
        assert app.screen is app.lesson_screen and current(app) == 3
        assert app.is_running and app.crash is None


async def test_the_palette_offers_the_screens_and_the_lessons_on_every_screen():
    from tltui.ui.screens.runs import RunsScreen
    from tltui.ui.screens.train import TrainScreen

    app = TutorApp(LESSONS)
    async with app.run_test(size=SIZE) as pilot:
        for key, screen in (("T", TrainScreen), ("R", RunsScreen)):
            await pilot.press(key)
            assert isinstance(app.screen, screen)
            names = [command.title for command in app.get_system_commands(app.screen)]
            assert {"Lessons", "Training", "Runs", "Restart worker"} <= set(names)
        await pilot.press("ctrl+p")
        await pilot.press(*"training")
        await workers_done(pilot)  # the palette's search
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TrainScreen), what="the training screen")
        await pilot.press("ctrl+p")
        await pilot.press(*f"go to lesson {LESSONS[6].number}. {LESSONS[6].title[:8]}")
        await workers_done(pilot)
        await pilot.press("enter")
        await until(pilot, lambda: showing(app, 7), what="lesson 7")


async def test_the_scroll_position_and_the_training_form_survive_a_restart():
    from textual.widgets import Input

    app = TutorApp(LESSONS)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await lesson_mounted(pilot)
        await pilot.press("space", "space", "j")
        where = app.screen.view.scroll_y
        assert where > 10
        await pilot.press("T")
        app.screen.query_one("#epochs", Input).value = "7"
        app.screen.query_one("#data", Input).value = "/photos/birds"
        await pilot.press("L")  # the form is saved when the screen is left
        await pilot.press("q")
    again = TutorApp(LESSONS)
    async with again.run_test(size=SIZE) as pilot:
        assert current(again) == 4
        await lesson_mounted(pilot)
        await until(pilot, lambda: again.screen.view.scroll_y == where, what=f"the lesson scrolled back to {where}")
        await pilot.press("T")
        assert again.screen.query_one("#epochs", Input).value == "7"
        assert again.screen.query_one("#data", Input).value == "/photos/birds"


async def test_a_widget_removed_before_its_mount_ran_ends_nothing():
    """Quit, or any removal, can take a widget away in the turn it was mounted in: Textual then mounts none of
    its children and still runs its mount. Each live widget must take that quietly (the check's mount looked
    for its experiment and ended the tutor with NoMatches)."""
    from textual.containers import Vertical

    from tltui.ui.lesson.registry import REGISTRY, build_widget
    from tltui.ui.lessons import WidgetPart

    failed = {}
    for name in REGISTRY:
        app = TutorApp(LESSONS)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            box = Vertical()
            await app.lesson_screen.view.mount(box)
            box.mount(build_widget(WidgetPart(name)))
            box.remove()
            await workers_done(pilot)
            if not app.is_running or app.crash is not None:
                failed[name] = repr(app.crash)
                app._exception = None  # (run_test would raise it)
    assert not failed, "\n".join(f"{name}: {error}" for name, error in failed.items())


async def maximize_focused(pilot) -> None:
    await lesson_mounted(pilot)
    await pilot.press("tab")
    assert pilot.app.screen.focused is not None
    await pilot.app.screen.run_action("maximize")  # as the palette's Maximize does
    assert pilot.app.screen.maximized is pilot.app.screen.focused


async def test_a_widget_maximized_from_the_palette_does_not_hide_the_next_lesson():
    """Found by the keyboard monkey: Textual keeps a maximized widget maximized after its lesson is left,
    so the next lesson was never shown nor mounted past its first words."""
    app = TutorApp(LESSONS)
    async with app.run_test(size=SIZE) as pilot:
        await maximize_focused(pilot)
        await pilot.press("n")
        await until(pilot, lambda: showing(app, 2))
        await lesson_mounted(pilot)
        assert app.screen.maximized is None
        assert app.lesson_screen.view.region.height > 0


@pytest.mark.parametrize("width", [80, 120], ids=["over", "docked"])
async def test_the_contents_shows_over_a_maximized_widget(width):
    app = TutorApp(LESSONS)
    async with app.run_test(size=(width, 24)) as pilot:
        await maximize_focused(pilot)
        await pilot.press("t")
        await until(pilot, lambda: app.lesson_screen.contents is not None and app.lesson_screen.contents.has_focus)
        await pilot.pause()
        assert app.lesson_screen.contents.region.height > 0
        await pilot.press("end", "enter")
        await until(pilot, lambda: showing(app, len(LESSONS)))


async def test_a_lesson_out_of_sight_mounts_nothing_until_it_is_shown_again():
    """A half-mounted lesson took the CPU from the screen or the lesson shown instead."""
    app = TutorApp(LESSONS)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.started)
        first = app.lesson_screen.view
        assert not first.complete
        await pilot.press("T")
        await until(pilot, lambda: type(app.screen).__name__ == "TrainScreen")
        parts = len(first.children)
        await pilot.pause(0.5)
        assert len(first.children) == parts and not first.complete
        await pilot.press("L")
        await lesson_mounted(pilot)
        assert app.lesson_screen.view is first
        await app.lesson_screen.show_lesson(LESSONS[1])
        second = app.lesson_screen.view
        await app.lesson_screen.show_lesson(LESSONS[0])  # lesson 2 left as soon as it is shown
        parts = len(second.children)
        await pilot.pause(0.5)
        assert len(second.children) == parts and not second.complete, "the lesson left went on mounting"
        await pilot.press("n")
        await lesson_mounted(pilot)
        assert app.lesson_screen.view is second


async def test_a_full_collection_due_soon_runs_while_the_learner_reads_not_as_keys_come(monkeypatch):
    """A full collection took 0.9 to 1.4 s after a few rounds of lessons, in the middle of a key: the tutor
    runs one that is due soon once no key has come for collector.QUIET_S (shortened here)."""
    import gc

    from tltui.ui import collector

    monkeypatch.setattr(collector, "QUIET_S", 2.0)
    app = TutorApp(LESSONS)
    async with app.run_test(size=SIZE) as pilot:
        await lesson_mounted(pilot)
        # Calmed twice, the second time once the contents are built ahead (a loaded CI built them after the
        # collections below and that calm's collection took the count to 0); then a key, as a typist's.
        await until(pilot, lambda: app.lesson_screen.contents is not None and gc.isenabled(), 60)
        assert gc.get_threshold() == collector.THRESHOLDS
        await pilot.press("j")
        for _ in range(collector.DUE):
            gc.collect(1)
        await pilot.press("j")
        assert not app._collect_while_idle(), "a full collection ran as keys came"
        assert gc.get_count()[2] >= collector.DUE
        await until(pilot, lambda: gc.get_count()[2] < collector.DUE, 10, "the idle tutor to collect")


async def test_a_mode_switch_holds_the_frames_only_until_the_screen_shown_has_resumed(monkeypatch):
    """Textual's switch_mode held every frame for 50 ms (most of T, R and L): the tutor holds them until the
    screen shown has handled its resume, and paints it then."""
    from textual.app import App

    from tltui.ui.screens.runs import RunsScreen
    from tltui.ui.screens.train import TrainScreen

    timed_holds = []
    delay_update = App.delay_update
    monkeypatch.setattr(App, "delay_update", lambda self, delay=0.05: (timed_holds.append(delay),
                                                                        delay_update(self, delay)))
    app = TutorApp(LESSONS)
    async with app.run_test(size=SIZE) as pilot:
        await lesson_mounted(pilot)
        for key, screen in (("T", TrainScreen), ("L", LessonScreen), ("R", RunsScreen), ("T", TrainScreen)):
            await pilot.press(key)
            assert isinstance(app.screen, screen)
            await pilot.pause(0)
            assert app._batch_count == 0, f"frames still held after {key}"
        assert timed_holds == [], "a mode switch held the frames for a time"
