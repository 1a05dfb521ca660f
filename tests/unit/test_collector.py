"""The tutor's collector settings: calmed at start, and a full collection due soon run on request."""

from __future__ import annotations

import gc

import pytest

from tltui.ui import collector


@pytest.fixture(autouse=True)
def collector_restored():
    thresholds, enabled = gc.get_threshold(), gc.isenabled()
    yield
    gc.set_threshold(*thresholds)
    (gc.enable if enabled else gc.disable)()


def middle_collections(count: int) -> None:
    """``count`` collections of the middle generation, each counted towards the next full one."""
    gc.collect()
    for _ in range(count):
        gc.collect(1)


def test_calm_collects_freezes_and_turns_the_collector_on_with_its_thresholds():
    gc.disable()
    frozen = gc.get_freeze_count()
    collector.calm()
    assert gc.isenabled() and gc.get_threshold() == collector.THRESHOLDS
    assert gc.get_freeze_count() > frozen
    assert gc.get_count()[2] == 0  # a full collection ran


def test_a_full_collection_runs_once_due_and_not_before():
    collector.calm()
    middle_collections(collector.DUE - 1)
    assert not collector.collect_if_due()
    assert gc.get_count()[2] == collector.DUE - 1
    gc.collect(1)
    assert collector.collect_if_due()
    assert gc.get_count()[2] == 0


def test_nothing_is_collected_while_the_collector_is_off():
    collector.calm()
    middle_collections(collector.DUE)
    gc.disable()
    assert not collector.collect_if_due()
