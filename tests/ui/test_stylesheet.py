"""The tutor's stylesheet parses each CSS source once while the variables stay the same, and again when a
theme changes them."""

from __future__ import annotations

from collections import Counter

import pytest
from textual.css import stylesheet as textual_stylesheet
from textual.css.stylesheet import StylesheetParseError

from tltui.ui.app import TutorApp
from tltui.ui.lessons import load_lessons
from tltui.ui.stylesheet import KeptStylesheet

from conftest import lesson_mounted

CSS = "Screen { background: $accent; }"


@pytest.fixture
def parses(monkeypatch) -> Counter:
    """How often each CSS source has been tokenized and parsed, by where it was read from."""
    counted: Counter = Counter()
    parse = textual_stylesheet.parse

    def counting(scope, css, read_from, *args, **kwargs):
        counted[read_from[1]] += 1
        return parse(scope, css, read_from, *args, **kwargs)

    monkeypatch.setattr(textual_stylesheet, "parse", counting)
    return counted


def background(sheet: KeptStylesheet) -> str:
    (rule,) = sheet.rules
    return str(rule.styles.background)


def test_a_reparse_with_the_same_variables_parses_nothing_again_and_new_variables_do(parses):
    sheet = KeptStylesheet(variables={"accent": "red"})
    sheet.add_source(CSS, read_from=("test", "Test.CSS"))
    before = background(sheet)
    sheet.set_variables({"accent": "red"})
    sheet.reparse()
    assert parses["Test.CSS"] == 1
    assert background(sheet) == before
    sheet.set_variables({"accent": "blue"})
    sheet.reparse()
    assert parses["Test.CSS"] == 2
    assert background(sheet) != before


def test_a_source_with_errors_raises_and_leaves_the_rules_as_they_were():
    sheet = KeptStylesheet(variables={"accent": "red"})
    sheet.add_source(CSS, read_from=("test", "Test.CSS"))
    before = background(sheet)
    sheet.add_source("Screen { background: not-a-colour; }", read_from=("test", "Bad.CSS"))
    with pytest.raises(StylesheetParseError):
        sheet.reparse()
    assert background(sheet) == before


async def test_the_first_frame_parses_each_source_once_and_a_new_theme_recolours(parses):
    """Textual reparsed App's, Screen's and Widget's CSS three times before the tutor's first frame."""
    app = TutorApp(load_lessons())
    async with app.run_test(size=(80, 24)) as pilot:
        await lesson_mounted(pilot)
        assert parses["App.DEFAULT_CSS"] == parses["Screen.DEFAULT_CSS"] == 1, parses
        before = app.screen.styles.background
        app.theme = "nord" if app.theme != "nord" else "gruvbox"
        await pilot.pause()
        await pilot.pause()
        assert parses["App.DEFAULT_CSS"] == 2
        assert app.screen.styles.background != before
