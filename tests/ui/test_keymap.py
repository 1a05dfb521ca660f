"""keys.toml, the one home of every key binding: each table belongs to a class that binds it, binds a key
once, and names actions that exist."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil

import pytest
from textual.app import App

import tltui.ui
from tltui.ui.keys import PAGER, bindings, ids, pager_keys, tables


def _classes() -> dict[str, type]:
    """Every class of the UI package by name (the names are unique: a section names one class)."""
    found: dict[str, type] = {}
    for module in pkgutil.walk_packages(tltui.ui.__path__, "tltui.ui."):
        for name, cls in inspect.getmembers(importlib.import_module(module.name), inspect.isclass):
            if cls.__module__ == module.name:
                assert found.setdefault(name, cls) is cls, f"two UI classes are called {name}"
    return found


CLASSES = _classes()


OWNERS = [owner for owner in tables() if owner != PAGER]


@pytest.mark.parametrize("owner", OWNERS)
def test_each_table_is_the_bindings_of_the_class_it_names(owner):
    cls = CLASSES.get(owner)
    assert cls is not None, f"keys.toml has a [{owner}] table but no UI class is called {owner}"
    declared = cls.__dict__.get("BINDINGS", [])
    assert bindings(owner), f"[{owner}] binds no key"
    assert [b for b in declared if b in bindings(owner)] == bindings(owner), \
        f"{owner}.BINDINGS does not take its keys from keys.toml"


@pytest.mark.parametrize("owner", list(tables()))
def test_no_table_binds_a_key_twice(owner):
    found = bindings(owner) + (pager_keys("read") if owner in ("LessonScreen", "HelpScreen") else [])
    keys = [key.strip() for binding in found for key in binding.key.split(",")]
    assert len(keys) == len(set(keys)), f"[{owner}] binds {sorted(k for k in set(keys) if keys.count(k) > 1)} twice"


@pytest.mark.parametrize("owner", OWNERS)
def test_every_action_exists_and_every_key_is_explained(owner):
    cls = CLASSES[owner]
    for binding in bindings(owner):
        namespace, _, action = binding.action.rpartition(".")
        target = App if namespace == "app" else cls
        name = action.split("(")[0]
        assert callable(getattr(target, f"action_{name}", None)), f"[{owner}] {binding.key}: no action_{name}"
        assert binding.description and binding.tooltip, f"[{owner}] {binding.key}: no description or tooltip"


def test_a_class_with_keys_has_a_table():
    """Keys written in Python instead of keys.toml would be missed by the help and by these checks."""
    for name, cls in CLASSES.items():
        if cls.__dict__.get("BINDINGS") and not name.startswith("_"):
            assert name in tables(), f"{name} binds keys that keys.toml does not list"


def test_every_binding_has_one_id_of_its_table():
    entries = [(owner, fields.get("id")) for owner, table in tables().items() for fields in table.values()]
    assert all(entry_id for _, entry_id in entries), "a keys.toml entry has no id"
    assert len(ids()) == len(entries), "two entries of one table share an id"
    assert all(b.id and b.id.startswith(f"{owner}.") for owner in OWNERS for b in bindings(owner))


def test_the_pager_keys_scroll_both_pagers():
    for owner in ("LessonScreen", "HelpScreen"):
        assert [b.id for b in pager_keys("x")] == [f"{PAGER}.{f['id']}" for f in tables()[PAGER].values()]
        assert CLASSES[owner].BINDINGS[-len(tables()[PAGER]):] == pager_keys(
            "read" if owner == "LessonScreen" else "scroll")


def test_the_parsed_table_is_cached_and_a_changed_or_broken_cache_is_parsed_around(tmp_path, monkeypatch):
    import shutil

    import tomllib

    from tltui.ui import keys

    source = tmp_path / "pkg" / "keys.toml"
    source.parent.mkdir()
    shutil.copy(keys.__file__.replace("keys.py", "keys.toml"), source)
    monkeypatch.setattr(keys, "__file__", str(source.parent / "keys.py"))
    monkeypatch.setenv("TLTUI_DATA_DIR", str(tmp_path / "data"))
    fresh = tomllib.loads(source.read_text())

    def read() -> dict:
        keys.tables.cache_clear()
        try:
            return keys.tables()
        finally:
            keys.tables.cache_clear()

    assert read() == fresh
    (cached,) = (tmp_path / "data" / "cache").glob("keys-*.json")
    assert json.loads(cached.read_text()) == fresh
    cached.write_text('{"Contents": {}}')  # what the cache holds is what is read while keys.toml is unchanged
    assert read() == {"Contents": {}}
    cached.write_text("{not json")
    assert read() == fresh
    source.write_text(source.read_text().replace('"toggle"', '"switch"', 1) + "\n")  # a new keys.toml
    assert read() == tomllib.loads(source.read_text()) != fresh
    shutil.rmtree(tmp_path / "data" / "cache")
    (tmp_path / "data" / "cache").write_text("a file where the cache folder would be")
    assert read() == tomllib.loads(source.read_text())  # a cache that cannot be written: parsed, nothing fails
