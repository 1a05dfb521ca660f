"""Every key table: the bindings of each screen and widget, read from keys.toml, the learner's keymap over
them, and the pager keys.

Each binding has an id, ``Class.name`` (``LessonScreen.next``). A ``keymap.toml`` in the config directory
(``tltui keys`` prints its path and every id) gives an id other keys: ``"TrainScreen.start" = "ctrl+r"``.
The keymap is applied where the classes take their bindings, so the footers, the help and the keys
themselves all follow it. A line it cannot use (an unknown id, a key Textual has no name for, a key the
same class binds already) is left out and reported by :func:`problems`; the defaults stay.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
from functools import cache
from pathlib import Path
from typing import Any, cast

from textual.binding import Binding, BindingType
from textual.keys import Keys, _character_to_key, key_to_character

from tltui.core.files import UnsafePath, write_atomic
from tltui.core.paths import config_dir, data_dir, private_data_dir

PAGER = "Pager"
"""keys.toml's table of the pager keys, which no one class owns: these classes bind them beside their own."""
PAGED = ("LessonScreen", "HelpScreen")
KEYMAP_FILE = "keymap.toml"
MODIFIERS = frozenset({"ctrl", "shift", "alt", "meta", "super", "hyper"})
KEY_NAMES = {
    "question_mark": "?", "left_square_bracket": "[", "right_square_bracket": "]", "minus": "-", "plus": "+",
    "equals_sign": "=", "pageup": "pgup", "pagedown": "pgdn", "escape": "esc",
}
"""How keys are shown where their binding name is not what is printed on the key."""
ARROWS = {"up": "↑", "down": "↓", "left": "←", "right": "→"}
"""The arrows as a widget's border draws them."""
PLACE = re.compile(r"\{([A-Z][a-z]\w*\.[a-z]\w*)\}")
"""A binding's place in a :func:`hint`: ``{FreezeBoard.run_it}``."""
NAMED_KEYS = frozenset({k.value.rpartition("+")[2] for k in Keys} | {"space", "enter", "tab", "backspace"})


@cache
def tables() -> dict[str, dict[str, dict[str, Any]]]:
    """keys.toml: for each class that binds keys, its keys and what each does.

    Read at start-up (the classes' bindings come from it), where tomllib took about 10 ms of an idle
    start (its import and a pure-Python parse): the table is kept parsed, as JSON, in the data dir's
    cache, under a name made of keys.toml's size and time, and read from there while that file is
    unchanged. A cache that cannot be read or written is parsed around, as if absent."""
    source = Path(__file__).with_name("keys.toml")
    text = source.read_bytes()
    name = f"keys-{source.stat().st_mtime_ns}-{len(text)}.json"
    with contextlib.suppress(OSError, ValueError, UnsafePath):
        return cast(dict[str, dict[str, dict[str, Any]]], json.loads((data_dir() / "cache" / name).read_bytes()))
    table = toml().loads(text.decode("utf-8"))
    with contextlib.suppress(OSError, UnsafePath):
        cache_dir = private_data_dir() / "cache"
        cache_dir.mkdir(mode=0o700, exist_ok=True)
        write_atomic(cache_dir / name, json.dumps(table).encode())
    return table


def toml() -> Any:
    """tomllib (tomli before Python 3.11), imported when a TOML file is read."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    return tomllib


def keymap_path() -> Path:
    """The learner's keymap file."""
    return config_dir() / KEYMAP_FILE


def ids() -> dict[str, tuple[str, dict[str, Any]]]:
    """Every binding id, with its default keys and fields, in keys.toml's order."""
    return {f"{owner}.{fields['id']}": (keys, fields) for owner, table in tables().items()
            for keys, fields in table.items()}


def normal_key(key: str) -> str | None:
    """A key as Textual names it (``?`` -> ``question_mark``, ``ctrl+R`` kept), or None if it names none."""
    key = key.strip()
    if key == "+":
        return "plus"
    *mods, name = key.split("+")
    if not name or any(m.lower() not in MODIFIERS for m in mods):
        return None
    if len(name) == 1:
        name = _character_to_key(name)
    elif name not in NAMED_KEYS and key_to_character(name) is None:
        return None
    return "+".join([*(m.lower() for m in mods), name])


@cache
def _keymap() -> tuple[dict[str, str], tuple[str, ...]]:
    """The learner's keymap (id -> keys, as Textual names them) and a line for each entry left out."""
    path = keymap_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, ()
    except (OSError, UnicodeDecodeError) as exc:
        return {}, (f"cannot read it ({exc.__class__.__name__}); the default keys stay",)
    try:
        raw = toml().loads(text)
    except toml().TOMLDecodeError as exc:
        return {}, (f"not TOML ({exc}); the default keys stay",)
    known, chosen, problems = ids(), {}, []
    for binding_id, keys in raw.items():
        if binding_id not in known:
            problems.append(f"no key is called {binding_id!r} (tltui keys lists them)")
            continue
        names = [normal_key(k) for k in keys.split(",")] if isinstance(keys, str) else [None]
        if None in names:
            problems.append(f"{binding_id} = {keys!r} is not a key list like \"ctrl+r\" or \"n,right\"")
            continue
        chosen[binding_id] = ",".join(n for n in names if n)
    for binding_id, keys in list(chosen.items()):
        owner = binding_id.partition(".")[0]
        near = _together(owner)
        taken = {k: other for other, (default, _) in known.items() if other.partition(".")[0] in near
                 and other != binding_id for k in chosen.get(other, default).split(",")}
        if clash := [f"{k} is {taken[k]}'s" for k in keys.split(",") if k in taken]:
            problems.append(f"{binding_id} = {keys!r}: {'; '.join(clash)}; its default keys stay")
            del chosen[binding_id]
    return chosen, tuple(problems)


def _together(owner: str) -> set[str]:
    """The tables bound on one class with ``owner``'s (the pager's and those of the classes that page)."""
    if owner == PAGER:
        return {PAGER, *PAGED}
    return {owner, PAGER} if owner in PAGED else {owner}


def problems() -> tuple[str, ...]:
    """A line for each keymap entry that was left out (none without a keymap file), without the file's
    path (:func:`keymap_path`)."""
    return _keymap()[1]


def keys_of(binding_id: str) -> str:
    """The keys that run ``binding_id`` now: the keymap's, else keys.toml's."""
    return _keymap()[0].get(binding_id) or ids()[binding_id][0]


def bindings(owner: str) -> list[BindingType]:
    """The keys the class named ``owner`` binds, in the order keys.toml lists them, as the keymap sets them."""
    found: list[BindingType] = []
    for fields in tables()[owner].values():
        binding_id = f"{owner}.{fields['id']}"
        found.append(Binding(keys_of(binding_id), **{k: v for k, v in fields.items() if k != "id"}, id=binding_id))
    return found


def pager_keys(action: str) -> list[BindingType]:
    """A pager's keys (keys.toml's ``[Pager]``, as in ``less``: j/k a line, space/b a page, g/G the ends, each
    with its arrow or page key); each calls ``action(motion)``, the motion one of scroll_down, scroll_up,
    page_down, page_up, scroll_home and scroll_end."""
    return [Binding(keys_of(f"{PAGER}.{fields['id']}"), f"{action}('{fields['action']}')", fields["description"],
                    show=False, tooltip=fields["tooltip"], id=f"{PAGER}.{fields['id']}")
            for fields in tables()[PAGER].values()]


def describe() -> tuple[list[str], tuple[str, ...]]:
    """``tltui keys``: the keymap file's path, then a line per binding (id, keys now, what it does), and the
    keymap's problems."""
    path = keymap_path()
    rows = [(binding_id, keys_of(binding_id), fields["tooltip"]) for binding_id, (_, fields) in ids().items()]
    width = [max(len(row[i]) for row in rows) for i in (0, 1)]
    state = "read" if path.exists() else 'none yet: write lines like "TrainScreen.start" = "ctrl+r" there'
    head = f"keymap: {path} ({state})"
    return [head, *(f"{i:<{width[0]}}  {k:<{width[1]}}  {what}" for i, k, what in rows)], problems()


def key_text(keys: str) -> str:
    """``"n,right"`` -> ``"n right"``, with symbols as printed on the keyboard."""
    return " ".join(KEY_NAMES.get(k.strip(), k.strip()) for k in keys.split(","))


def hint(template: str) -> str:
    """A widget's key hint with each ``{Class.id}`` replaced by the first key that binding has now (the
    keymap's, else keys.toml's): ``"{Race.race} race"`` -> ``"r race"``."""
    def first(match: re.Match[str]) -> str:
        if match.group(1) not in ids():  # (text of the learner's or the worker's in the hint, left as it is)
            return match.group(0)
        key = keys_of(match.group(1)).split(",")[0]
        return ARROWS.get(key) or key_text(key)

    return PLACE.sub(first, template)


def field_key(binding_id: str) -> str | None:
    """The first key of ``binding_id`` that a focused text field does not type (``ctrl+s``, not ``s``), as a
    hint shows it; None when each of its keys types a character."""
    for key in (k.strip() for k in keys_of(binding_id).split(",")):
        character = key_to_character(key)
        if character is None or not character.isprintable():
            return ARROWS.get(key) or key_text(key)
    return None
