"""Lesson tables drawn by one widget: rows continued, columns fitted (tltui.ui.lesson.table)."""

from __future__ import annotations

import pytest
from textual.content import Content

from tltui.ui.lesson.table import GAP, column_widths, merge_continued, table_lines


def cells(*texts: str) -> list[Content]:
    return [Content(text) for text in texts]


def test_a_row_whose_first_cell_is_empty_continues_the_row_above():
    rows = [cells("tltui", "eval: stats and affine", "train mode"), cells("", "fixed", ""),
            cells("timm", "FrozenBatchNorm2d", "train mode"), cells("", "", "learns")]
    merged = merge_continued(rows)
    assert [[cell.plain for cell in row] for row in merged] == [
        ["tltui", "eval: stats and affine fixed", "train mode"], ["timm", "FrozenBatchNorm2d", "train mode learns"]]


def test_a_first_row_with_an_empty_first_cell_stays_a_row():
    assert [[c.plain for c in row] for row in merge_continued([cells("", "a"), cells("b", "c")])] == [["", "a"],
                                                                                                        ["b", "c"]]


@pytest.mark.parametrize(("natural", "minimum", "room"), [
    ([5, 10, 20], [5, 5, 5], 60), ([5, 10, 20], [5, 5, 5], 35), ([5, 10, 20], [3, 4, 6], 20),
    ([30, 30], [12, 12], 20), ([1, 1, 1], [1, 1, 1], 3)])
def test_columns_fill_the_room_and_give_it_up_above_their_longest_word_first(natural, minimum, room):
    widths = column_widths(natural, minimum, room)
    assert sum(widths) == room
    if sum(natural) <= room:
        assert all(w >= n for w, n in zip(widths, natural, strict=True))
    elif sum(minimum) <= room:
        assert all(w >= m for w, m in zip(widths, minimum, strict=True))


@pytest.mark.parametrize("width", [40, 60, 80, 118])
def test_every_line_is_the_width_and_every_word_is_drawn(width):
    """(Every word whole from 60 columns on: at 40 the longest are folded, as they were in the Markdown grid.)"""
    headers = cells("Convention", "Frozen groups' BN", "Unfrozen groups' BN")
    rows = [cells("tltui", "eval: stats and affine fixed (--bn freeze)", "train mode, learns"),
            cells("fastai", "train mode, affine learns (train_bn=True)", "train mode, learns")]
    lines = table_lines(headers, rows, width)
    assert {line.cell_length for line in lines} == {width}
    assert lines[0].plain.startswith("┌") and lines[-1].plain.endswith("┘")
    drawn = " ".join(line.plain for line in lines)
    for word in [] if width < 60 else " ".join(cell.plain for row in [headers, *rows] for cell in row).split():
        assert word in drawn
    assert sum(line.plain.startswith("├") for line in lines) == len(rows)  # a rule between rows, none within


def test_the_headers_are_styled_and_the_frame_is_drawn_as_in_markdown():
    lines = table_lines(cells("Group"), [cells("stem")], 20)
    assert any("$primary" in str(span.style) for span in lines[1].spans)
    assert GAP == 3 and lines[0].plain == "┌" + "─" * 18 + "┐"


def test_a_row_of_empty_cells_is_drawn_as_a_line():
    lines = table_lines(cells("a", "b"), [cells("", "")], 20)
    assert [line.plain[0] for line in lines] == ["┌", "│", "├", "│", "└"]
