"""Lessons: ordered markdown files, split into markdown sections and embedded live widgets.

A lesson is ``lessons/NN-name.md``; its first line is ``# Title``. A fenced block whose info
string is ``tltui NAME`` embeds the live widget NAME; the block's lines are ``key: value`` options.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

_FILE = re.compile(r"^(\d+)-([a-z0-9][a-z0-9-]*)\.md$")
_FENCE = re.compile(r"^(`{3,}|~{3,})\s*(.*)$")


@dataclass(frozen=True)
class MarkdownPart:
    """A run of plain markdown."""

    text: str


@dataclass(frozen=True)
class WidgetPart:
    """An embedded live widget: ```` ```tltui NAME ````."""

    name: str
    options: dict[str, str] = field(default_factory=dict)


Part = MarkdownPart | WidgetPart


@dataclass(frozen=True)
class Lesson:
    number: int
    name: str
    path: Path

    @cached_property
    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @cached_property
    def title(self) -> str:
        first = self.text.lstrip().splitlines()[0] if self.text.strip() else ""
        return first[2:].strip() if first.startswith("# ") else ""

    @cached_property
    def parts(self) -> list[Part]:
        return split_parts(self.text)

    @property
    def label(self) -> str:
        return f"{self.number}. {self.title}"


class LessonNotFound(LookupError):
    """No lesson matches; the message is one line for the user."""


def lessons_dir() -> Path:
    """The lessons shipped in the wheel (tltui/lessons), or lessons/ beside a source checkout."""
    packaged = Path(__file__).resolve().parents[1] / "lessons"  # (importlib.resources: 5 ms of start-up)
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "lessons"


def load_lessons(directory: Path | None = None) -> list[Lesson]:
    """Every ``NN-name.md`` in ``directory``, in order, numbered from 1."""
    directory = directory or lessons_dir()
    found = sorted(
        (int(m.group(1)), m.group(2), path)
        for path in directory.glob("*.md")
        if (m := _FILE.match(path.name))
    )
    return [Lesson(number=i, name=name, path=path) for i, (_, name, path) in enumerate(found, 1)]


def find_lesson(lessons: list[Lesson], key: str) -> Lesson:
    """The lesson numbered ``key`` (1-based) or named ``key`` (a unique prefix is enough)."""
    key = key.strip().lower()
    if key.isdigit():
        number = int(key)
        if 1 <= number <= len(lessons):
            return lessons[number - 1]
    else:
        exact = [lesson for lesson in lessons if lesson.name == key]
        matches = exact or [lesson for lesson in lessons if lesson.name.startswith(key)]
        if len(matches) == 1:
            return matches[0]
    names = ", ".join(lesson.name for lesson in lessons)
    raise LessonNotFound(f"no lesson {key!r}: give a number from 1 to {len(lessons)} or one of: {names}")


def _closes(line: str, fence: str) -> bool:
    stripped = line.strip()
    return len(stripped) >= len(fence) and stripped == fence[0] * len(stripped)


def split_parts(text: str) -> list[Part]:
    """Split a lesson into markdown sections (at each ``##`` heading) and widget blocks.

    Headings and widget fences inside ordinary code blocks are left alone.
    """
    parts: list[Part] = []
    lines: list[str] = []
    fence: str | None = None
    widget: WidgetPart | None = None

    def flush() -> None:
        chunk = "\n".join(lines).strip("\n")
        if chunk.strip():
            parts.append(MarkdownPart(chunk + "\n"))
        lines.clear()

    for line in text.splitlines():
        match = _FENCE.match(line)
        if fence is None and match:
            marker, info = match.groups()
            fence = marker
            if info.split()[:1] == ["tltui"]:
                flush()
                name = info.split()[1] if len(info.split()) > 1 else ""
                widget = WidgetPart(name)
                continue
        elif fence is not None and _closes(line, fence):
            fence = None
            if widget is not None:
                parts.append(widget)
                widget = None
                continue
        elif fence is None and line.startswith("## "):
            flush()
        if widget is not None:
            key, sep, value = line.partition(":")
            if sep and key.strip():
                widget.options[key.strip()] = value.strip()
        else:
            lines.append(line)
    if widget is not None:
        parts.append(widget)
    flush()
    return parts
