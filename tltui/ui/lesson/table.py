"""A lesson's markdown tables, drawn by one widget each.

Textual's Markdown draws a table as a grid of widgets, one per cell, and keeps the parsed blocks of its
rows and cells too: the 24 tables of the lessons were 970 of their 2,250 widgets. Each widget is about 70
objects that the cyclic collector has to go through once the lesson's view is dropped (benchmarks/soak.py:
full collections of 400,000 to 600,000 objects, 0.9 to 1.4 s). Here a table is one widget that draws its
lines, with the cells' markup as Markdown parses it.

A row whose first cell is empty continues the row above it: the source wraps a long cell so, and each
such row was drawn as a row of its own, between rules.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Markdown
from textual.widgets._markdown import MarkdownTable

BORDER = "$foreground 30%"
HEADER = "bold $primary"
#: Columns around each cell: its padding (one each side) and the rule at its right.
GAP = 3


def merge_continued(rows: Sequence[Sequence[Content]]) -> list[list[Content]]:
    """``rows`` with each row whose first cell is empty joined to the row above it, cell by cell."""
    merged: list[list[Content]] = []
    for row in rows:
        if merged and row and not row[0].plain.strip():
            above = merged[-1]
            for index, cell in enumerate(row[:len(above)]):
                if cell.plain.strip():
                    above[index] = Content.assemble(above[index], " ", cell) if above[index].plain else cell
        else:
            merged.append(list(row))
    return merged


def column_widths(natural: Sequence[int], minimum: Sequence[int], room: int) -> list[int]:
    """Widths for columns that would take ``natural`` cells, within ``room`` in all: the extra room shared
    in proportion; short of room, the widest column above its ``minimum`` (its longest word) gives a cell
    at a time, then the widest of all."""
    widths = [max(1, width) for width in natural]
    extra = room - sum(widths)
    if extra > 0:
        total = sum(widths)
        shares = [extra * width // total for width in widths]
        shares[widths.index(max(widths))] += extra - sum(shares)
        return [width + share for width, share in zip(widths, shares, strict=True)]
    while sum(widths) > room:
        widest = max(range(len(widths)), key=lambda i: (widths[i] > minimum[i], widths[i]))
        if widths[widest] == 1:
            break
        widths[widest] -= 1
    return widths


def table_lines(headers: Sequence[Content], rows: Sequence[Sequence[Content]], width: int) -> list[Content]:
    """The table's lines, ``width`` cells wide at most: a frame, the headers, and a rule between rows."""
    columns = max([len(headers), *(len(row) for row in rows)])
    grid = [[*cells, *[Content()] * (columns - len(cells))] for cells in [headers, *rows]]
    natural = [max(cells[i].cell_length for cells in grid) for i in range(columns)]
    minimum = [max((len(word) for cells in grid for word in cells[i].plain.split()), default=1) for i in range(columns)]
    widths = column_widths(natural, minimum, width - 1 - GAP * columns)

    def rule(left: str, middle: str, right: str) -> Content:
        return Content.styled(left + middle.join("─" * (w + 2) for w in widths) + right, BORDER)

    bar = Content.styled("│", BORDER)
    lines = [rule("┌", "┬", "┐")]
    for number, cells in enumerate(grid):
        if number:
            lines.append(rule("├", "┼", "┤"))
        styled = [cell.stylize(HEADER) for cell in cells] if number == 0 else cells
        wrapped = [cell.wrap(w) for cell, w in zip(styled, widths, strict=True)]
        for y in range(max(len(cell) for cell in wrapped)):
            parts: list[Content | str] = [bar]
            for cell, w in zip(wrapped, widths, strict=True):
                text = cell[y] if y < len(cell) else Content()
                parts += [" ", text.pad_right(w - text.cell_length), " ", bar]
            lines.append(Content.assemble(*parts))
    lines.append(rule("└", "┴", "┘"))
    return lines


class TableLines(Widget):
    """Draws a table (the cells' markup is styled by its ``LessonTable``, which has Markdown's classes)."""

    DEFAULT_CSS = "TableLines { width: 1fr; height: auto; text-wrap: nowrap; text-overflow: clip; }"
    """(A line never folds: each is drawn to the width, and the height counts them.)"""

    def __init__(self, headers: list[Content], rows: list[list[Content]]) -> None:
        super().__init__()
        self.headers, self.rows = headers, rows
        self._lines: tuple[int, list[Content]] = (-1, [])

    def lines(self, width: int) -> list[Content]:
        if self._lines[0] != width:
            self._lines = width, table_lines(self.headers, self.rows, width)
        return self._lines[1]

    def get_content_height(self, container: object, viewport: object, width: int) -> int:
        return len(self.lines(width))

    def render(self) -> Content:
        return Content("\n").join(self.lines(self.size.width))


class LessonTable(MarkdownTable):
    """A markdown table as one ``TableLines``; the parsed rows and cells are let go once it is built."""

    def compose(self) -> ComposeResult:
        headers, rows = self._get_headers_and_rows()
        self._blocks.clear()
        yield TableLines(headers, merge_continued(rows))


class LessonMarkdown(Markdown):
    """Textual's Markdown, with tables drawn by ``LessonTable``."""

    BLOCKS = {**Markdown.BLOCKS, "table_open": LessonTable}
