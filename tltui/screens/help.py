"""The help overlay: every key, grouped."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.markup import escape
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

#: (section, [(keys as shown, what they do)])
KEYS: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "Lessons",
        [
            ("n  right", "next lesson"),
            ("p  left", "previous lesson"),
            ("0..9", "jump to a lesson (type 1 2 fast for 12; 0 is 10)"),
            ("t", "contents: enter opens a lesson, escape closes"),
        ],
    ),
    (
        "Reading",
        [
            ("up  down  j  k", "scroll a line"),
            ("space  b  pgdn  pgup", "scroll a page"),
            ("g  G  home  end", "top / bottom of the lesson"),
            ("tab  shift+tab", "move between the live widgets of a lesson"),
            ("escape", "leave a live widget: the lesson has the keys"),
        ],
    ),
    (
        "Training and runs",
        [
            ("T  R  L", "training screen, runs screen, back to the lessons"),
            ("s  enter", "start the run the form describes"),
            ("c", "cancel the run (its last checkpoint is kept)"),
            ("f  escape", "show or hide the form; leave an input"),
            ("l  m", "loss or accuracy; curves or results"),
            ("space  u", "mark runs to compare; update the list"),
            ("r", "start the race (in the first lesson)"),
            ("W", "restart the worker after it stopped"),
        ],
    ),
    (
        "Freeze board (playground lesson)",
        [
            ("up  down  space", "choose a group; freeze it or let it train"),
            ("h  a", "head only; train all"),
            ("[  ]  -  +", "less or more data per class; lower or higher LR"),
            ("d  b", "domain similarity; backbone (resnet50 or tiny)"),
            ("v  w", "the setting as PyTorch code; write it to a file"),
            ("enter", "run the setting for real: its measured point joins the chart"),
        ],
    ),
    (
        "LR cascade and unfreezing timeline (lesson 6)",
        [
            ("left  right", "cascade: lower or higher base LR (the head's)"),
            ("down  up", "cascade: smaller or larger factor per group"),
            ("f", "cascade: freeze one more group from the bottom"),
            ("up  down", "timeline: choose a group"),
            ("left  right", "timeline: choose an epoch"),
            ("enter  x", "timeline: join at that epoch; frozen all run"),
            ("-  +", "timeline: fewer or more epochs"),
            ("v", "chart, code or the run's curve"),
            ("r  c", "run the setting for real; cancel the run"),
            ("w", "save the code as tltui_<widget>.py in the data dir"),
        ],
    ),
    (
        "Quadrant quiz (lesson 5)",
        [
            ("arrow keys", "move on the grid or the list; scroll the reasoning"),
            ("1  2  3  4  5", "choose a quadrant (1-4) or a strategy (1-5)"),
            ("enter", "choose; then the next scenario"),
            ("e", "check it: run the real experiment and show its curves"),
            ("r", "a new round in a new order (after the last scenario)"),
        ],
    ),
    (
        "Pictures (lessons 2, 3 and 7)",
        [
            ("c  f  o", "gallery: crop, flip, colour jitter on or off"),
            ("r", "gallery: new random variants"),
            ("d", "gallery, explorer maps: a folder of your own (enter loads it)"),
            ("v", "explorer: conv1's filters or the activation maps"),
            ("f", "explorer: the next 16 filters"),
            ("w", "explorer: maps from pretrained or random weights"),
            ("i  I", "next / previous image"),
        ],
    ),
    (
        "Anywhere",
        [
            ("ctrl+p", "command palette: lessons, themes"),
            ("?", "this help"),
            ("escape", "close an overlay"),
            ("q  ctrl+q", "quit (your place is saved)"),
        ],
    ),
]


class HelpScreen(ModalScreen[None]):
    """Lists every key; any of escape, ? or q closes it."""

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
        #help {
            width: 78;
            max-width: 100%;
            height: auto;
            max-height: 100%;
            border: round $accent;
            border-title-color: $accent;
            background: $surface;
            padding: 0 1;
        }
    }
    """

    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("question_mark", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help") as scroll:
            scroll.border_title = "Keys"
            scroll.border_subtitle = "escape closes"
            yield Static(self._text())

    @staticmethod
    def _text() -> str:
        width = max(len(keys) for _, rows in KEYS for keys, _ in rows)
        lines: list[str] = []
        for section, rows in KEYS:
            lines.append(f"[b u]{section}[/]")
            lines.extend(f"  [b $accent]{escape(keys):<{width}}[/]  {escape(what)}" for keys, what in rows)
            lines.append("")
        return "\n".join(lines).rstrip()
