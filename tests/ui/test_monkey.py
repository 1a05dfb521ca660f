"""A keyboard monkey: thousands of keys at random, in bursts, on every screen at three terminal sizes; the
tutor stays up and quits with status 0.

Keys come as a terminal sends them to a fast typist or a held key: one at a time, 30 ms apart in runs, or
two in one read, never waiting for the app to catch up. Each is drawn (with a fixed seed) from what is
bound where the walk stands, the keys every screen reads itself (digits, tab, arrows, enter, escape) and
printable characters for the text fields; only quitting is left out (q and ctrl+q, and the palette's Quit
and Screenshot commands) until the end: ctrl+q, in one burst with more keys. The walk starts in turn from each
screen (the lessons, the training and runs screens, the help, the command palette, the LR finder and the
diagnosis dialog) and goes wherever its keys lead. Each size reads five of the lessons, so the fifteen are
all read once (renumbered 1 to 5, as the app numbers any set of lessons). Runs against the scripted fake
worker (tests/fake_worker.py): runs and pictures answer at once and the same way every time.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace

import pytest
from textual.command import CommandPalette

from tltui.ui.app import TutorApp
from tltui.ui.dialogs.diagnose import DiagnoseScreen
from tltui.ui.dialogs.lr_finder import LrFinderScreen
from tltui.ui.lessons import load_lessons
from tltui.ui.screens.help import HelpScreen
from tltui.ui.screens.lesson import LessonScreen
from tltui.ui.screens.runs import RunsScreen
from tltui.ui.screens.train import TrainScreen
from tltui.ui.widgets.run_form import RunForm, texts

from conftest import until, until_over
from keyboard import bound_keys, handled, idle, send

LESSONS = load_lessons()
SIZES = ((80, 24), (100, 32), (120, 40))
#: Keys pressed from each starting point: 11 starting points at each size, 3,003 keys in all.
KEYS_PER_START = 91
#: Seconds between the keys of a run (a fast typist; a held key repeats at about this rate).
GAP = 0.03
#: Keys a learner presses that no binding lists, and characters for the text fields.
UNLISTED = (*"0123456789", "tab", "shift+tab", "escape", "enter", "space", "backspace", "up", "down", "left",
            "right", "pageup", "pagedown", "home", "end", *"asxG", "question_mark", "full_stop", "minus", "plus")
#: Where the walk starts, besides each lesson: the mode, then what opens the screen (None: the mode itself).
STARTS = (("train", None), ("runs", None), ("lessons", "help"), ("lessons", "palette"), ("train", "find_lr"),
          ("train", "diagnose"))


def monkey_app(lessons: list) -> TutorApp:
    """The tutor, but for two commands of Textual's palette the walk must not choose: Quit (it would end the
    walk) and Screenshot (it would write a file)."""
    app = TutorApp(lessons)
    commands = app.get_system_commands
    app.get_system_commands = lambda screen: (  # type: ignore[method-assign]
        command for command in commands(screen) if command.title not in ("Quit", "Screenshot"))
    return app


def lessons_for(size_index: int) -> list:
    """Every third lesson from ``size_index``, numbered from 1."""
    return [replace(lesson, number=i) for i, lesson in enumerate(LESSONS[size_index::len(SIZES)], 1)]


async def close_overlays(app: TutorApp) -> None:
    """Close what is over the mode's screen by escape, as a learner closes it (a palette popped from outside
    has its search running on into widgets gone), one escape at a time."""
    for _ in range(10):
        if len(app.screen_stack) == 1:
            break
        depth = len(app.screen_stack)
        await send(app, ["escape"])
        for _ in range(50):  # one escape at a time: a second one would close what opens next
            await idle(app)
            if len(app.screen_stack) < depth:
                break
    assert len(app.screen_stack) == 1, f"escape does not close {app.screen!r}"


async def go_to(app: TutorApp, mode: str, opener: str | None = None, lesson=None) -> None:
    """The walk's starting point: overlays closed, ``mode`` shown (``lesson`` open), then ``opener``. Each
    mode keeps its own stack of screens (an LR finder opened on the training screen is there again when T
    brings that screen back), so the overlays of the mode left and of the mode shown are closed."""
    await handled(app)  # the walk's last keys first: a T still waiting would switch away after the lesson opens
    await close_overlays(app)
    await app.action_mode(mode)
    await close_overlays(app)
    if lesson is not None:
        await app.lesson_screen.show_lesson(lesson)
        await until(app, lambda: app.lesson_screen.view.complete, 120, f"{lesson.name} to mount every part")
    app.screen.set_focus(None)
    if opener == "help":
        app.action_help()
    elif opener == "palette":
        app.action_command_palette()
    elif opener is not None:  # the form as it started: the walk may have typed anything into it
        form = app.screen.query_one(RunForm)
        for name, value in texts(form.initial).items():
            form.set_value(name, value)
        getattr(app.screen, f"action_{opener}")()
    await idle(app)
    assert opener is None or len(app.screen_stack) == 2, f"{opener} opened nothing"


async def monkey(app: TutorApp, rng: random.Random, count: int, trail: list[str]) -> set[type]:
    """Press ``count`` random keys in singles, pairs and runs; the screens the walk saw."""
    seen: set[type] = set()
    pressed = 0
    while pressed < count:
        shape = rng.random()
        size = 1 if shape < 0.3 else 2 if shape < 0.7 else rng.randint(3, 8)
        keys = [rng.choice(bound_keys(app) + list(UNLISTED)) for _ in range(min(size, count - pressed))]
        together = size == 2
        trail.append(f"{type(app.screen).__name__}/{type(app.screen.focused).__name__}: "
                     f"{'+'.join(keys) if together else ' '.join(keys)}")
        await send(app, keys, 0 if together else GAP)
        await asyncio.sleep(GAP)  # the typist's pace between runs of keys: what the walk is made of, not a wait
        pressed += len(keys)
        seen.add(type(app.screen))
        assert app.is_running and app.crash is None, \
            f"the tutor stopped ({app.crash!r}) after: " + " | ".join(trail[-6:])
    return seen


@pytest.mark.slow
@pytest.mark.parametrize("size_index", range(len(SIZES)), ids=[f"{w}x{h}" for w, h in SIZES])
async def test_a_keyboard_monkey_never_stops_the_tutor(size_index):
    lessons = lessons_for(size_index)
    app = monkey_app(lessons)
    rng = random.Random(21 + size_index)
    trail: list[str] = []
    seen: set[type] = set()
    pressed = 0
    async with app.run_test(size=SIZES[size_index]):
        starts = [("lessons", None, lesson) for lesson in lessons] + [(*start, None) for start in STARTS]
        for mode, opener, lesson in starts:
            await go_to(app, mode, opener, lesson)
            seen.add(type(app.screen))
            seen |= await monkey(app, rng, KEYS_PER_START, trail)
            pressed += KEYS_PER_START
        await idle(app)
        assert app.is_running and app.crash is None, app.crash
        await send(app, ["ctrl+q", *(rng.choice(UNLISTED) for _ in range(5))])  # what follows is dropped
        await until_over(app, what="ctrl+q to quit the tutor")
    assert app.crash is None and app.return_code == 0, (app.crash, app.return_code)
    assert pressed >= 1_000
    every = (LessonScreen, TrainScreen, RunsScreen, HelpScreen, CommandPalette, LrFinderScreen, DiagnoseScreen)
    missed = [kind.__name__ for kind in every if not any(issubclass(screen, kind) for screen in seen)]
    assert not missed, f"never reached {missed}"
