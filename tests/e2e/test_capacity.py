"""The capacity sweep through the real worker (`tltui worker --stdio`) with the tiny backbone: every n of
the grid around d + 1 = 129, Working messages fit by fit, nothing stored; bad input refused in one line."""

from __future__ import annotations

import asyncio

import pytest

from tltui.core.client import WorkerError
from tltui.core.protocol.messages import Working
from tltui.core.protocol.requests import Capacity, ListRuns

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_the_tiny_backbones_features_memorise_up_to_d_plus_one_and_less_than_gaussian_ones(worker):
    told: list[Working] = []
    reply = await asyncio.wait_for(worker.request(Capacity(), told.append), 300)
    assert reply.dim == 128 and reply.classes == 10 and reply.model == "tiny ResNet"
    assert [p.n for p in reply.points] == [32, 64, 129, 258, 387, 516, 774, 1032]  # 1/4 to 8 times d + 1
    by_n = {p.n: p for p in reply.points}
    assert all(p.gaussian == 1.0 and p.real >= 0.99 for p in reply.points if p.n <= reply.dim + 1)
    assert by_n[1032].gaussian < 0.6 and by_n[1032].real < 0.6
    assert by_n[516].real < 0.95 <= by_n[516].gaussian  # the real features stop earlier
    assert reply.effective_rank < reply.gaussian_rank <= reply.dim
    assert "99%" in reply.rank_rule and 0.1 <= reply.chance < 0.15 and not reply.notes
    assert [m.done for m in told] == list(range(18)) and {m.total for m in told} == {17}
    assert told[-1].text.startswith("n = 1032: Gaussian features")
    assert await worker.request(ListRuns()) == []  # a short job: nothing in the run store


async def test_bad_input_is_refused_in_one_line(worker):
    for fields, words in (({"sizes": (1, 64)}, "each size must be 2 to 1200"), ({"model": "vgg16"}, "unknown model"),
                          ({"data": "/no/such/birds"}, "no such folder"), ({"seed": -1}, "the seed must be")):
        with pytest.raises(WorkerError) as caught:
            await worker.request(Capacity(**fields))
        assert words in str(caught.value) and "\n" not in str(caught.value)
    small = await worker.request(Capacity(sizes=(129, 32)))
    assert [p.n for p in small.points] == [32, 129]
