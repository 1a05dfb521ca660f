"""Rendered lines that refcounting frees (tltui.ui.strips)."""

from __future__ import annotations

import gc

import pytest
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from tltui.ui.strips import keep_strips_acyclic

keep_strips_acyclic()
WORDS = [Segment("transfer "), Segment("learning", Style(bold=True)), Segment(" at 80x24")]
WIDTH = sum(segment.cell_length for segment in WORDS)


def strip() -> Strip:
    return Strip(WORDS, WIDTH)


def test_a_line_returned_as_itself_and_then_dropped_is_not_left_to_the_cyclic_collector():
    enabled = gc.isenabled()
    gc.disable()
    try:
        gc.collect()
        line = strip()
        assert list(line.divide([WIDTH])) == [line] and line.divide([WIDTH])[0] is line
        assert line.divide([WIDTH, WIDTH + 4])[0] is line  # (a cut past the end is none)
        assert line.crop_extend(0, WIDTH, None) is line and line.crop_extend(-2, WIDTH, None) is line
        line.crop(2, 9), line.apply_style(Style(italic=True))  # the caches that never hold the line itself
        del line
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        assert not [found for found in gc.garbage if isinstance(found, Strip)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        (gc.enable if enabled else gc.disable)()


@pytest.mark.parametrize("cuts", [[WIDTH], [WIDTH, WIDTH + 3], [4, WIDTH], [4, 10], [0, WIDTH], [WIDTH + 2], []])
def test_divide_gives_what_textuals_gives(cuts):
    assert [piece.text for piece in strip().divide(cuts)] == \
        [piece.text for piece in Strip.divide.__wrapped__(strip(), cuts)]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("start", "end"),
                         [(0, WIDTH), (-2, WIDTH), (0, WIDTH + 4), (3, WIDTH), (2, 8), (0, 5), (-1, 4)])
def test_crop_extend_gives_what_textuals_gives(start, end):
    ours, theirs = strip().crop_extend(start, end, None), \
        Strip.crop_extend.__wrapped__(strip(), start, end, None)  # type: ignore[attr-defined]
    assert ours == theirs and ours.cell_length == theirs.cell_length


def test_patched_once():
    patched = Strip.divide
    keep_strips_acyclic()
    assert Strip.divide is patched
