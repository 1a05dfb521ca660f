"""SVG snapshots of the picture widgets at 80x24, fed by the fake worker's made-up pictures (update with
--snapshot-update after a deliberate change)."""

from __future__ import annotations

from textual.widgets._footer import FooterKey

from tltui.ui.app import TutorApp
from tltui.ui.lessons import load_lessons
from tltui.ui.widgets.footer import KeysFooter

from conftest import until, workers_done

SIZE = (80, 24)

#: Lesson name -> the digits that open it.
NUMBER = {lesson.name: str(lesson.number) for lesson in load_lessons()}


def widget_shown(lesson: str, name: str, keys: tuple[str, ...] = ()):
    """Open ``lesson``, bring its widget ``name`` to the top of the view with the focus, press ``keys``,
    and wait until its pictures are in."""

    async def run_before(pilot) -> None:
        await pilot.press(lesson)
        while not pilot.app.screen.view.complete:
            await pilot.pause(0.01)
        widget = pilot.app.screen.query_one(name)
        widget.focus()
        widget.scroll_visible(top=True, animate=False)
        await pilot.press(*keys)
        await workers_done(pilot)
        assert widget.loaded
        # the footer recomposes for the focused widget after a refresh (missed in CI, and on a loaded machine)
        own = {key for binding in widget.BINDINGS if binding.show for key in binding.key.split(",")}
        footer = pilot.app.screen.query_one(KeysFooter)
        await until(pilot, lambda: own & {key.key for key in footer.query(FooterKey)}, what="the footer")
        await pilot.pause()
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
