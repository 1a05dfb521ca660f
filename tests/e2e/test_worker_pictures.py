"""Picture requests through the real worker (`tltui worker --stdio`): answered while a run trains,
bad parameters refused in one line, the worker serving on."""

from __future__ import annotations

import asyncio

import pytest

from tltui.core.client import WorkerError
from tltui.core.protocol.config import RunConfig
from tltui.core.protocol.events import TERMINAL_EVENTS, Epoch, Progress
from tltui.core.protocol.replies import ActivationsReply
from tltui.core.protocol.requests import (
    Activations,
    CancelRun,
    FeatureWalk,
    Filters,
    Gallery,
    GetCapabilities,
    StartRun,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

LONG_RUN = RunConfig(data="builtin", weights="none", image_size=32, limit_per_class=20, epochs=50, batch_size=16)
"""ResNet-50 from random weights, long enough to be still training when the pictures come (then cancelled)."""


async def test_pictures_come_while_a_run_trains(worker):
    run_id = (await worker.request(StartRun(config=LONG_RUN))).run_id
    events = []
    while not any(isinstance(e, (Progress, Epoch)) for e in events):
        events.append(await asyncio.wait_for(worker.events.get(), 120))
    replies = await asyncio.wait_for(asyncio.gather(
        worker.request(Gallery(augment=["flip"], image_size=32, count=2)),
        worker.request(Filters(model="tiny", weights="pretrained")),
        worker.request(Activations(model="tiny", weights="pretrained", index=3)),
        worker.request(FeatureWalk(model="tiny", weights="pretrained", index=3)),
    ), 180)
    while not worker.events.empty():
        events.append(worker.events.get_nowait())
    assert not any(isinstance(e, TERMINAL_EVENTS) for e in events), "the run ended before the pictures came"
    gallery, filters, maps, walk = replies  # each typed as its request declares
    assert len(gallery.variants) == 2 and gallery.augment == ["flip"]
    assert len(filters.filters) == 16 and "fractals" in filters.weights
    assert [g.group for g in maps.groups] == ["stem", "layer1", "layer2", "layer3", "layer4"]
    assert len(walk.features) == 128 and len(walk.scores) == 10
    await worker.request(CancelRun(run_id=run_id))
    while not isinstance(event := await asyncio.wait_for(worker.events.get(), 120), TERMINAL_EVENTS):
        assert event is not None


async def test_activation_maps_of_your_own_photos(worker, tmp_path):
    from PIL import Image

    for name, colour in (("robin", (200, 60, 40)), ("wren", (90, 70, 40))):
        (tmp_path / name).mkdir()
        for i in range(3):
            Image.new("RGB", (48 + 8 * i, 40), colour).save(tmp_path / name / f"{i}.jpg")
    (tmp_path / "robin" / "notes.txt").write_text("not a picture")
    reply = await worker.request(Activations(model="tiny", weights="pretrained", data=str(tmp_path), index=1,
                                                      channels=1))
    assert isinstance(reply, ActivationsReply)
    assert reply.label in ("robin", "wren") and reply.source.endswith(".jpg (2/4)")
    assert (reply.image.width, reply.image.height) == (reply.image_size, reply.image_size)
    assert [len(g.maps) for g in reply.groups] == [1] * 5
    with pytest.raises(WorkerError, match="no such folder: /no/such/birds"):
        await worker.request(Activations(model="tiny", data="/no/such/birds"))


async def test_bad_parameters_are_refused_in_one_line_and_the_worker_serves_on(worker):
    for request, fields, message in (
        (Gallery, {"augment": ["rotate"]}, "unknown augmentation 'rotate'"),
        (Gallery, {"data": "/no/such/folder"}, "no such folder"),
        (Filters, {"model": "vgg16"}, "unknown model 'vgg16'"),
        (Activations, {"model": "tiny", "channels": 0}, "channels must be between"),
    ):
        with pytest.raises(WorkerError) as caught:
            await worker.request(request(**fields))
        assert message in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(WorkerError, match="bad request"):
        await worker.request(Gallery(count="many"))
    assert (await worker.request(GetCapabilities())).torch_version
    assert (await worker.request(Filters(model="tiny", weights="none"))).kernel == 3
