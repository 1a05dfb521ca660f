"""The tutor's collector settings."""

from __future__ import annotations

import gc

from tltui.ui import collector


def test_calm_collects_freezes_and_turns_the_collector_on_with_its_thresholds():
    thresholds, enabled = gc.get_threshold(), gc.isenabled()
    try:
        gc.disable()
        frozen = gc.get_freeze_count()
        collector.calm()
        assert gc.isenabled() and gc.get_threshold() == collector.THRESHOLDS
        assert gc.get_freeze_count() > frozen
        assert gc.get_count()[2] == 0  # a full collection ran
    finally:
        gc.set_threshold(*thresholds)
        (gc.enable if enabled else gc.disable)()
