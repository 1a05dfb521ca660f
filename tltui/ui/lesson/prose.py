"""Plain prose (headings, paragraphs, emphasis, inline code) drawn without Textual's Markdown.

Importing and laying out the Markdown widget costs more than the rest of the first frame, so a
lesson opens with its leading prose drawn here, styled like Markdown, and Markdown takes over for
everything after it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from textual.markup import escape
from textual.widgets import Static

_HEADING = re.compile(r"^(#{1,3}) (.+)$")
_NOT_PROSE = re.compile(r"^(\s|[-*+>|<]|\d+[.)]\s|```|~~~|={3,}|-{3,})")
_INLINE = (
    (re.compile(r"\*\*(.+?)\*\*"), r"[b]\1[/b]"),
    (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])"), r"[i]\1[/i]"),
    (re.compile(r"(?<!\w)_(?!\s)(.+?)(?<!\s)_(?!\w)"), r"[i]\1[/i]"),
)
_CODE = re.compile(r"`([^`]+)`")
#: Inline code as the Markdown widget draws it (Textual markup).
CODE_STYLE = "$text-warning 95% on $warning 10%"


def is_prose(markdown: str) -> bool:
    """True if every line is blank, a heading or paragraph text without links or markup."""
    return all(
        not line or _HEADING.match(line) or not (_NOT_PROSE.match(line) or "[" in line or "\\" in line)
        for line in markdown.splitlines()
    )


def inline(text: str, code: str = CODE_STYLE) -> str:
    """Markdown emphasis and code spans as markup (Textual's, or Rich's where ``code`` is a Rich style)."""
    pieces = _CODE.split(text)
    for i, piece in enumerate(pieces):
        if i % 2:
            pieces[i] = f"[{code}]{escape(piece)}[/]"
        else:
            piece = escape(piece)
            for pattern, markup in _INLINE:
                piece = pattern.sub(markup, piece)
            pieces[i] = piece
    return "".join(pieces)


#: Styles for prose blocks, like the Markdown widget's; the container that holds them includes it.
PROSE_CSS = """
    Static.prose-h1 {
        margin: 1 1;
        width: 1fr;
        content-align: center middle;
        color: $markdown-h1-color;
        background: $markdown-h1-background;
        text-style: $markdown-h1-text-style;
    }
    Static.prose-h2 {
        margin: 1 1;
        color: $markdown-h2-color;
        background: $markdown-h2-background;
        text-style: $markdown-h2-text-style;
    }
    Static.prose-h3 {
        margin: 1 1;
        color: $markdown-h3-color;
        background: $markdown-h3-background;
        text-style: $markdown-h3-text-style;
    }
    Static.prose-p { margin: 0 1 1 1; }
"""


def prose_blocks(markdown: str) -> Iterator[Static]:
    """One Static per heading and paragraph of ``markdown`` (which must pass ``is_prose``)."""
    paragraph: list[str] = []
    for line in [*markdown.splitlines(), ""]:
        heading = _HEADING.match(line)
        if paragraph and (heading or not line):
            yield Static(inline(" ".join(paragraph)), classes="prose-p")
            paragraph = []
        if heading:
            yield Static(inline(heading.group(2)), classes=f"prose-h{len(heading.group(1))}")
        elif line:
            paragraph.append(line.strip())
