"""The picture widgets in their lessons at 80x24, driven by keys against the fake worker."""

from __future__ import annotations

import asyncio

import pytest
from textual.widgets import Input, Static

from tltui.core.client import WorkerClient
from tltui.core.protocol.requests import Activations, FeatureWalk as WalkRequest, Filters, Gallery
from tltui.ui.app import TutorApp
from tltui.ui.base.pictures import PicturePanel, PictureView
from tltui.ui.lesson.features import FeatureWalk, LayerFeatures
from tltui.ui.lesson.gallery import AugmentGallery
from tltui.ui.lessons import load_lessons
from tltui.ui.link import WorkerLink

from conftest import until, workers_done

SIZE = (80, 24)


@pytest.fixture
def sent(monkeypatch) -> list[tuple[type, dict]]:
    """Every request the UI sends to the worker: (request class, fields)."""
    requests: list[tuple[type, dict]] = []
    original = WorkerLink.request

    async def spy(self, request):
        requests.append((type(request), {f: getattr(request, f) for f in request.__struct_fields__ if f != "id"}))
        return await original(self, request)

    monkeypatch.setattr(WorkerLink, "request", spy)
    return requests


#: Lesson name -> the digits that open it.
NUMBER = {lesson.name: str(lesson.number) for lesson in load_lessons()}


async def open_widget(pilot, lesson: str, cls: type[PicturePanel]) -> PicturePanel:
    """Open a lesson, focus its widget and wait for its first pictures."""
    await pilot.press(lesson)
    await until(pilot, lambda: pilot.app.screen.query(cls))
    widget = pilot.app.screen.query_one(cls)
    widget.focus()
    await until(pilot, lambda: widget.loaded)
    return widget


async def settled(pilot, widget: PicturePanel) -> None:
    """Wait until what the last key asked of the worker is shown."""
    await workers_done(pilot)
    assert not widget.requesting


def status(widget: PicturePanel) -> str:
    return str(widget.query_one("#status", Static).render())


def last(sent: list, cls: type) -> dict:
    return [fields for request, fields in sent if request is cls][-1]


async def test_gallery_keys_switch_transforms_and_draw_new_variants(sent):
    app = TutorApp(load_lessons())
    async with app.run_test(size=SIZE) as pilot:
        gallery = await open_widget(pilot, NUMBER["augmentation"], AugmentGallery)
        assert last(sent, Gallery)["augment"] == ("crop", "flip", "color")
        pictures = gallery.query(PictureView)
        assert len(pictures) == 7 and all(p.picture is not None for p in pictures)
        first = [p.picture.rgb for p in pictures]
        await pilot.press("c")
        await settled(pilot, gallery)
        assert last(sent, Gallery)["augment"] == ("flip", "color")
        assert "crop ✗ flip ✓ colour ✓" in status(gallery)
        await pilot.press("o", "f")
        await settled(pilot, gallery)
        assert last(sent, Gallery)["augment"] == ()
        assert "crop ✗ flip ✗ colour ✗" in status(gallery)
        await pilot.press("c", "r")
        await settled(pilot, gallery)
        request = last(sent, Gallery)
        assert request["augment"] == ("crop",) and request["seed"] == 1
        assert "crop ✓ flip ✗ colour ✗" in status(gallery)
        assert [p.picture.rgb for p in pictures] != first
        await pilot.press("i", "i", "I")
        await settled(pilot, gallery)
        assert last(sent, Gallery)["index"] == 1 and "image 2/960" in status(gallery)
        assert "breaks" in gallery.query_one("#digit-flipped", PictureView).picture.label


async def test_gallery_takes_its_keys_while_the_worker_computes(monkeypatch):
    """A panel whose request is on its way keeps the focus and its keys (a property ``loading`` once hid
    Textual's reactive of that name: Textual takes both from a widget it thinks is loading)."""
    gate = asyncio.Event()
    original = WorkerLink.request

    async def held(self, request):
        await gate.wait()
        return await original(self, request)

    app = TutorApp(load_lessons())
    async with app.run_test(size=SIZE) as pilot:
        gallery = await open_widget(pilot, NUMBER["augmentation"], AugmentGallery)
        monkeypatch.setattr(WorkerLink, "request", held)
        await pilot.press("c")
        assert gallery.requesting  # the request waits at the gate
        assert app.focused is gallery
        await pilot.press("f")
        assert gallery.augment == ("color",)
        gate.set()
        await settled(pilot, gallery)
        assert "crop ✗ flip ✗ colour ✓" in status(gallery)


async def test_gallery_takes_a_folder_and_says_when_it_is_not_there(sent, tmp_path):
    app = TutorApp(load_lessons())
    async with app.run_test(size=SIZE) as pilot:
        gallery = await open_widget(pilot, NUMBER["augmentation"], AugmentGallery)
        await pilot.press("d")
        field = gallery.query_one("#data", Input)
        assert field.has_focus and gallery.has_class("-typing")
        field.value = ""
        await pilot.press(*"/no/such/docs", "enter")  # letters that are the gallery's keys go into the field
        await settled(pilot, gallery)
        assert last(sent, Gallery)["data"] == "/no/such/docs"
        assert "no such folder: /no/such/docs" in status(gallery)
        assert gallery.has_focus and not gallery.has_class("-typing")
        await pilot.press("d")
        field.value = str(tmp_path)
        await pilot.press("escape")
        assert gallery.has_focus and not gallery.has_class("-typing")
        assert last(sent, Gallery)["data"] == "/no/such/docs"


async def test_explorer_shows_filters_side_by_side_and_switches_the_maps_weights(sent):
    app = TutorApp(load_lessons())
    async with app.run_test(size=SIZE) as pilot:
        explorer = await open_widget(pilot, NUMBER["what-layers-learn"], LayerFeatures)
        asked = [(f["model"], f["weights"]) for cls, f in sent if cls is Filters]
        assert asked == [("tiny", "pretrained"), ("tiny", "none")]  # no ImageNet weights: the tiny backbone
        pretrained = explorer.query_one("#pretrained", PictureView)
        random = explorer.query_one("#random", PictureView)
        assert "fractals" in pretrained.caption and random.caption == "random (seed 0)"
        assert pretrained.image.size == random.image.size == (27, 27)  # 4x4 filters of 3x3 shown x2, 1 px apart
        assert "tiny ResNet conv1" in status(explorer) and "1-16 of 16" in status(explorer)
        await pilot.press("v")
        await settled(pilot, explorer)
        about = explorer.query_one("#about", Static)
        assert last(sent, Activations)["weights"] == "pretrained"
        assert "tiny ResNet · pretrained (generated fractals" in str(about.render())
        maps = explorer.query_one("#map-layer4-1", PictureView).picture
        assert maps is not None and maps.label.startswith("ch ")
        await pilot.press("w")
        await settled(pilot, explorer)
        assert last(sent, Activations)["weights"] == "none"
        assert "random (seed 0)" in str(about.render())
        await pilot.press("i")
        await settled(pilot, explorer)
        assert last(sent, Activations)["index"] == 1 and "image 2/240" in status(explorer)
        await pilot.press("v")
        await settled(pilot, explorer)
        assert not explorer.query_one("#maps").display and explorer.query_one("#filters").display


async def test_explorer_maps_take_your_own_folder(sent, tmp_path):
    app = TutorApp(load_lessons())
    async with app.run_test(size=SIZE) as pilot:
        explorer = await open_widget(pilot, NUMBER["what-layers-learn"], LayerFeatures)
        await pilot.press("d", "w", "i")  # keys of the maps view: nothing happens on the filters
        assert not explorer.has_class("-typing") and not any(cls is Activations for cls, _ in sent)
        await pilot.press("v")
        await settled(pilot, explorer)
        assert last(sent, Activations)["data"] == "builtin"
        await pilot.press("i")
        await settled(pilot, explorer)
        await pilot.press("d")
        field = explorer.query_one("#data", Input)
        assert field.has_focus
        field.value = str(tmp_path)
        await pilot.press("enter")
        await settled(pilot, explorer)
        request = last(sent, Activations)
        assert request["data"] == str(tmp_path) and request["index"] == 0
        assert f"{tmp_path} #1" in status(explorer) and explorer.has_focus
        await pilot.press("d")
        field.value = "/no/such/birds"
        await pilot.press("enter")
        await settled(pilot, explorer)
        assert "no such folder: /no/such/birds" in status(explorer)
        assert explorer.query_one("#map-layer4-0", PictureView).picture is not None  # the last maps stay


async def test_explorer_uses_imagenet_weights_when_the_worker_has_them(sent, monkeypatch):
    monkeypatch.setenv("FAKE_WEIGHTS", "imagenet")
    app = TutorApp(load_lessons())
    async with app.run_test(size=SIZE) as pilot:
        explorer = await open_widget(pilot, NUMBER["what-layers-learn"], LayerFeatures)
        assert [f["model"] for cls, f in sent if cls is Filters] == ["resnet50", "resnet50"]
        pretrained = explorer.query_one("#pretrained", PictureView)
        assert "IMAGENET1K_V2" in pretrained.caption and pretrained.image.size == (31, 31)
        assert "1-16 of 64" in status(explorer)
        await pilot.press("f")
        assert "17-32 of 64" in status(explorer)
        assert len([1 for cls, _ in sent if cls is Filters]) == 2  # paging asks nothing new


async def test_explorer_pages_filters_while_a_restarted_worker_starts(sent, monkeypatch):
    """With no pretrained weights, paging the filters while a restarted worker has not said hello yet (its
    capabilities not known) says so in the caption: it once ended the tutor (None has no weights_dir)."""
    monkeypatch.setenv("FAKE_NO_TINY", "1")
    gate = asyncio.Event()
    original = WorkerClient.start

    async def held(self):
        await gate.wait()
        return await original(self)

    app = TutorApp(load_lessons())
    async with app.run_test(size=SIZE) as pilot:
        explorer = await open_widget(pilot, NUMBER["what-layers-learn"], LayerFeatures)
        assert [(f["model"], f["weights"]) for cls, f in sent if cls is Filters] == [("resnet50", "none")]
        pretrained = explorer.query_one("#pretrained", PictureView)
        assert pretrained.caption.startswith("No pretrained weights on this worker (/fake/hub/checkpoints)")
        app.link.kill()
        await until(pilot, lambda: app.link.state == "gone")
        monkeypatch.setattr(WorkerClient, "start", held)
        await pilot.press("W")
        assert app.link.state == "starting" and app.link.capabilities is None
        explorer.focus()
        await pilot.press("f")
        assert "filters 17-32 of 64" in status(explorer)
        assert pretrained.caption.startswith("No pretrained weights on this worker:")
        gate.set()
        await until(pilot, lambda: explorer.loaded)


async def test_walk_steps_through_images(sent):
    app = TutorApp(load_lessons())
    async with app.run_test(size=SIZE) as pilot:
        walk = await open_widget(pilot, NUMBER["feature-extraction"], FeatureWalk)
        assert "validation image 1/240" in status(walk)
        features = str(walk.query_one("#features", Static).render())
        assert "128 numbers" in features and "fitted by the worker" in features
        assert "✓stripes-h" in str(walk.query_one("#scores", Static).render())
        await pilot.press("i")
        await settled(pilot, walk)
        assert last(sent, WalkRequest)["index"] == 1
        assert "validation image 2/240" in status(walk) and "stripes-v" in status(walk)
        await pilot.press("I", "I")
        await settled(pilot, walk)
        assert "validation image 240/240" in status(walk)
        assert walk.query_one("#image", PictureView).picture.label == "gradient"


def test_the_walks_mark_follows_what_the_head_predicts():
    """✓ next to the prediction only when it is the true class; a wrong one gets ✗, and the line above the
    scores names the prediction and the truth, each as what it is."""
    import msgspec

    from tltui.ui.lesson.features import score_table

    from fake_pictures import feature_walk

    reply = feature_walk(WalkRequest(id=1, model="tiny", weights="pretrained", index=0))
    assert reply.label == "stripes-h" and max(reply.scores) == reply.scores[0]
    right = score_table(reply).plain
    assert right.startswith("↓ the head predicts stripes-h (62%): right ✓")
    assert "✓stripes-h" in right and "✗" not in right
    scores = [0.38 if name == "checkers" else 0.3 if name == "stripes-h" else 0.04 for name in reply.classes]
    wrong = score_table(msgspec.structs.replace(reply, scores=scores)).plain
    assert wrong.startswith("↓ the head predicts checkers (38%): wrong ✗, the true class is stripes-h")
    assert "✗checkers" in wrong and " stripes-h" in wrong and "✓" not in wrong


async def test_a_dead_worker_is_said_and_pictures_come_back_after_restart():
    app = TutorApp(load_lessons())
    async with app.run_test(size=SIZE) as pilot:
        walk = await open_widget(pilot, NUMBER["feature-extraction"], FeatureWalk)
        app.link.kill()
        await until(pilot, lambda: "worker stopped" in status(walk))
        await pilot.press("W")
        await until(pilot, lambda: walk.loaded)
        assert "validation image 1/240" in status(walk)


async def test_explorer_says_why_a_key_does_nothing_and_its_caption_follows_the_view(sent):
    app = TutorApp(load_lessons())
    async with app.run_test(size=SIZE) as pilot:
        explorer = await open_widget(pilot, "2", LayerFeatures)
        assert explorer.border_subtitle.startswith("v the maps")
        await pilot.press("f")  # the tiny backbone's conv1 has 16 filters: one page
        assert "All 16 filters of this conv1 are shown" in status(explorer)
        for key in ("d", "w", "i"):
            await pilot.press(key)
            assert status(explorer) == f"{key} works on the activation maps: v shows them."
        assert not explorer.has_class("-typing")  # d did not open the folder field here
        await pilot.press("v")
        await settled(pilot, explorer)
        assert explorer.border_subtitle.startswith("v the filters") and "d folder" in explorer.border_subtitle
        await pilot.press("f")
        assert status(explorer) == "f pages conv1's filters: v shows them."
