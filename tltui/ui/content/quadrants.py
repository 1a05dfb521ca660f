"""The quadrant quiz's content: strategies and scenarios, read from ``lessons/quiz/quadrants.md``.

The file's own header describes its format. Parsing is strict: a scenario that names an unknown
quadrant, strategy or field raises ``ValueError`` naming the scenario, so a typo fails the tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tltui.ui.lessons import lessons_dir

#: Quadrant number -> (data size, domain similarity), as lesson 5 numbers them.
QUADRANTS: dict[int, tuple[str, str]] = {
    1: ("small", "similar"),
    2: ("large", "similar"),
    3: ("small", "different"),
    4: ("large", "different"),
}
REASONS = ("quadrant", "strategy", "debatable", "check")
_FIELDS = {"title", "quadrant", "strategy", "check"}
_SECTION = re.compile(r"^## +(\S+) *$", re.M)


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    text: str
    quadrants: tuple[int, ...]
    """Quadrants counted as right, the best first."""
    strategies: tuple[str, ...]
    """Strategy ids counted as right, the best first."""
    reasons: dict[str, str]
    """``quadrant``, ``strategy``, ``debatable`` and, with a check, ``check``: one paragraph each."""
    check: str = ""
    """The name of the real experiment that tests this scenario's answer, if any."""


@dataclass(frozen=True)
class Strategy:
    id: str
    name: str
    short: str
    """A few words on what trains."""


@dataclass(frozen=True)
class QuizContent:
    strategies: dict[str, Strategy]
    """By id, in the order the quiz lists them."""
    scenarios: list[Scenario]


def quiz_path() -> Path:
    return lessons_dir() / "quiz" / "quadrants.md"


def load_quiz(path: Path | None = None) -> QuizContent:
    """Parse the quiz file (the shipped one by default)."""
    text = (path or quiz_path()).read_text(encoding="utf-8")
    pieces = _SECTION.split(text)[1:]
    ids, bodies = pieces[::2], pieces[1::2]
    if len(set(ids)) != len(ids):
        raise ValueError(f"two sections share an id: {sorted(i for i in ids if ids.count(i) > 1)[0]}")
    sections = dict(zip(ids, bodies, strict=True))
    if "strategies" not in sections:
        raise ValueError("the quiz file has no '## strategies' section")
    strategies = _strategies(sections.pop("strategies"))
    return QuizContent(strategies, [_scenario(sid, body, strategies) for sid, body in sections.items()])


def _strategies(table: str) -> dict[str, Strategy]:
    """The rows of the strategies table (its header and rule skipped)."""
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in table.strip().splitlines()[2:]]
    if not rows or any(len(row) != 3 or not all(row) for row in rows):
        raise ValueError("strategies: a table of id | strategy | in short, every cell filled")
    return {sid: Strategy(sid, name, short) for sid, name, short in rows}


def _pairs(lines: list[str], where: str) -> list[tuple[str, str]]:
    pairs = []
    for line in lines:
        key, sep, value = line.partition(":")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"{where}: expected 'key: value', got {line!r}")
        pairs.append((key.strip(), value.strip()))
    return pairs


def _scenario(sid: str, body: str, strategies: dict[str, Strategy]) -> Scenario:
    raw = [p for p in re.split(r"\n\s*\n", body.strip()) if p.strip()]
    if len(raw) < 2:
        raise ValueError(f"{sid}: needs a paragraph of fields, then the scenario")
    fields = dict(_pairs(raw[0].splitlines(), sid))
    if unknown := set(fields) - _FIELDS:
        raise ValueError(f"{sid}: unknown field {sorted(unknown)[0]!r}")
    listed = _items(fields.get("quadrant", ""))
    if not listed or not all(q in ("1", "2", "3", "4") for q in listed):
        raise ValueError(f"{sid}: quadrant must list numbers from 1 to 4")
    chosen = tuple(_items(fields.get("strategy", "")))
    if not chosen or set(chosen) - set(strategies):
        raise ValueError(f"{sid}: strategy must list ids from: {', '.join(strategies)}")
    paragraphs = [" ".join(p.split()) for p in raw[1:]]
    reasons = {}
    for paragraph in paragraphs[1:]:
        label, sep, reason = paragraph.partition(":")
        if not sep or label.lower() not in REASONS:
            raise ValueError(f"{sid}: reasoning paragraphs start with one of {', '.join(REASONS)}: {paragraph[:40]!r}")
        reasons[label.lower()] = reason.strip()
    check = fields.get("check", "")
    if missing := [r for r in REASONS if r not in reasons and (r != "check" or check)]:
        raise ValueError(f"{sid}: missing the {missing[0]!r} paragraph")
    return Scenario(sid, fields.get("title", sid), paragraphs[0], tuple(int(q) for q in listed), chosen, reasons,
                    check)


def _items(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]
