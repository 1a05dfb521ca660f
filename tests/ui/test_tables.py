"""Every table of the lessons, as the tutor draws it: one widget each, fitted to the width, rows continued."""

from __future__ import annotations

import re

import pytest
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.widgets._markdown import MarkdownTableCellContents, MarkdownTD

from tltui.ui.lesson.table import LessonMarkdown, TableLines
from tltui.ui.lessons import MarkdownPart, load_lessons

TABLE = re.compile(r"(?:^\|.*\n)+", re.MULTILINE)
TABLES = [table for lesson in load_lessons() for part in lesson.parts if isinstance(part, MarkdownPart)
          for table in TABLE.findall(part.text)]


class Tables(App):
    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield LessonMarkdown("\n".join(TABLES))


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_each_table_is_one_widget_drawn_to_its_width(size):
    assert len(TABLES) >= 20  # (the lessons' tables: a change to how they are found fails here, not silently)
    app = Tables()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        drawn = list(app.query(TableLines))
        assert len(drawn) == len(TABLES)
        assert not app.query(MarkdownTableCellContents) and not app.query(MarkdownTD)
        for table in drawn:
            lines = table.lines(table.size.width)
            assert table.size.height == len(lines)
            assert {line.cell_length for line in lines} == {table.size.width}, table.headers


async def test_a_cell_wrapped_in_the_source_reads_as_one_cell():
    """Lesson 9's BatchNorm table wraps its cells onto rows that start with an empty cell: one row each."""
    source = next(table for table in TABLES if "Frozen groups' BN" in table)
    app = Tables()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = next(t for t in app.query(TableLines) if t.headers[1].plain == "Frozen groups' BN")
        assert [row[0].plain for row in table.rows] == [line.split("|")[1].strip() for line in source.splitlines()[2:]
                                                        if line.split("|")[1].strip()]
        tltui = next(row for row in table.rows if row[0].plain == "tltui")
        assert tltui[1].plain == "eval: stats and affine fixed (--bn freeze)"
