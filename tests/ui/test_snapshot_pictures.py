"""SVG snapshots of the picture widgets at 80x24, fed by the fake worker's made-up pictures (update with
--snapshot-update after a deliberate change)."""

from __future__ import annotations

from tltui.ui.app import TutorApp
from tltui.ui.lessons import load_lessons

from conftest import footer_shows, lesson_mounted, workers_done

SIZE = (80, 24)

#: Lesson name -> the digits that open it.
NUMBER = {lesson.name: str(lesson.number) for lesson in load_lessons()}


def widget_shown(lesson: str, name: str, keys: tuple[str, ...] = ()):
    """Open ``lesson``, bring its widget ``name`` to the top of the view with the focus, press ``keys``,
    and wait until its pictures are in."""

    async def run_before(pilot) -> None:
        await pilot.press(lesson)
        await lesson_mounted(pilot)
        widget = pilot.app.screen.query_one(name)
        widget.focus()
        widget.scroll_visible(top=True, animate=False)
        await pilot.press(*keys)
        await workers_done(pilot)
        assert widget.loaded
        await footer_shows(pilot, widget)  # (missed in CI, and on a loaded machine, without the wait)
        assert pilot.app.focused is widget

    return run_before


def test_augment_gallery(snap_compare):
    assert snap_compare(TutorApp(load_lessons()), terminal_size=SIZE,
                        run_before=widget_shown(NUMBER["augmentation"], "AugmentGallery", ("c",)))


def test_layer_features(snap_compare):
    assert snap_compare(TutorApp(load_lessons()), terminal_size=SIZE,
                        run_before=widget_shown(NUMBER["what-layers-learn"], "LayerFeatures"))


def test_feature_walk(snap_compare):
    assert snap_compare(TutorApp(load_lessons()), terminal_size=SIZE,
                        run_before=widget_shown(NUMBER["feature-extraction"], "FeatureWalk", ("i",)))
