"""The errors view of a finished run in the tutor, against the real worker: the top losses browsed by
keys, each with the picture the worker drew of it, on the training screen and on the runs screen."""

from __future__ import annotations

import io

from rich.console import Console
from textual.widgets import Input, Static

from tltui.core.client import local_worker_command
from tltui.core.protocol.requests import LossPictures
from tltui.ui.app import TutorApp
from tltui.ui.base.pictures import PictureView
from tltui.ui.lessons import load_lessons
from tltui.ui.screens.train import TrainScreen
from tltui.ui.widgets.errors_view import ErrorsView
from tltui.ui.widgets.run_form import RunForm
from tltui.ui.widgets.run_view import RunView

from conftest import until, workers_done

SIZE = (80, 24)
RUN = {"data": "builtin", "weights": "pretrained", "image_size": "32", "epochs": "1", "limit_per_class": "4",
       "augment": "none"}


def text(static: Static, width: int = 200) -> str:
    """What a Static shows, as plain text."""
    console = Console(width=width, file=io.StringIO(), color_system=None)
    with console.capture() as captured:
        console.print(static.content)
    return captured.get()


def shown(view: ErrorsView) -> tuple[str, bytes]:
    """The errors view's text and the pixels of its picture."""
    picture = view.query_one(PictureView).picture
    return text(view.query_one("#loss-text", Static)), picture.rgb if picture else b""


async def test_top_losses_are_browsed_by_keys_with_the_workers_pictures():
    app = TutorApp(load_lessons(), worker_command=local_worker_command())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("T")
        await until(pilot, lambda: isinstance(app.screen, TrainScreen) and app.link.state == "ready", 240)
        screen = app.screen
        screen.query_one(RunForm).model = "tiny"
        for name, value in RUN.items():
            screen.query_one(f"#{name}", Input).value = value
        await pilot.press("s")
        await until(pilot, lambda: screen.run is not None and screen.run.status == "finished", 240)
        await pilot.pause()
        run_view = screen.query_one(RunView)
        analysis = screen.run.end.analysis
        assert "95% interval" in text(run_view.query_one("#results", Static))

        await pilot.press("e")
        await workers_done(pilot)
        view = run_view.query_one(ErrorsView)
        assert run_view.has_class("-errors") and view.display
        expected = await app.link.request(LossPictures(run_id=screen.run.run_id, display=32))
        tops = analysis.top_losses
        seen = []
        for step in range(len(tops)):
            words, rgb = shown(view)
            top = tops[step]
            assert f"top loss {step + 1} of {len(tops)}" in words
            assert f"true {top.true}, predicted {top.predicted}" in words and top.path in words
            assert rgb == expected.pictures[step].rgb
            seen.append(rgb)
            await pilot.press("right")
        assert "top loss 1 of" in shown(view)[0]  # round again
        await pilot.press("left")
        assert shown(view)[0].startswith(f"top loss {len(tops)} of")
        assert len(set(seen)) > 1  # different images, not one picture shown again

        await pilot.press("m")  # back to the results; e again opens the errors where they were
        assert run_view.has_class("-results") and not run_view.has_class("-errors")
        await pilot.press("R")
        await workers_done(pilot)
        runs = app.screen
        await pilot.press("enter")
        await workers_done(pilot)
        detail = runs.query_one(RunView)
        assert detail.has_focus and detail.run.run_id == screen.run.run_id
        await pilot.press("e", "right")
        await workers_done(pilot)
        words, rgb = shown(detail.query_one(ErrorsView))
        assert "top loss 2 of" in words and rgb == expected.pictures[1].rgb
        region = detail.query_one(ErrorsView).region
        assert region.bottom <= SIZE[1] - 3  # the picture and its text fit above the status lines and footer
