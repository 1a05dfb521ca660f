"""The layout is the architecture: import contracts (pyproject.toml, import-linter) hold, and they
would catch a UI module that imports torch; and no module imports itself through others (an import
circle), counting the imports made for type checking alone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).parent / "lint-imports"
CIRCLES = """
import grimp

graph = grimp.build_graph("tltui")  # every import statement, those under TYPE_CHECKING and in functions too
index, low, stack, on_stack = {}, {}, [], set()


def visit(module):  # Tarjan's strongly connected components: each of more than one module holds a circle
    index[module] = low[module] = len(index)
    stack.append(module)
    on_stack.add(module)
    for imported in graph.find_modules_directly_imported_by(module):
        if imported not in index:
            visit(imported)
            low[module] = min(low[module], low[imported])
        elif imported in on_stack:
            low[module] = min(low[module], index[imported])
    if low[module] == index[module]:
        component = []
        while not component or component[-1] != module:
            component.append(stack.pop())
            on_stack.discard(component[-1])
        if len(component) > 1:
            first = min(component)
            back = next(m for m in sorted(graph.find_modules_directly_imported_by(first)) if m in component)
            print(" -> ".join([first, *graph.find_shortest_chain(importer=back, imported=first)]))


for module in sorted(graph.modules):
    if module not in index:
        visit(module)
"""


def lint(package_parent: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run([str(LINT), "--config", str(ROOT / "pyproject.toml"), "--no-cache"], cwd=package_parent,
                          capture_output=True, text=True, env=env, timeout=120)


def test_the_import_contracts_hold():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "5 kept, 0 broken" in result.stdout
    assert "allow_indirect_imports" not in (ROOT / "pyproject.toml").read_text()  # each holds as its name says


def test_an_import_of_torch_in_a_ui_module_breaks_the_build(tmp_path):
    shutil.copytree(ROOT / "tltui", tmp_path / "tltui", ignore=shutil.ignore_patterns("__pycache__", "*.pt"))
    app = tmp_path / "tltui" / "ui" / "app.py"
    app.write_text("import torch  # a deliberate mistake\n" + app.read_text())
    result = lint(tmp_path)
    assert result.returncode != 0
    assert "The UI never imports the engine" in result.stdout and "BROKEN" in result.stdout
    assert "tltui.ui.app -> torch" in result.stdout


def circles(package_parent: Path) -> list[str]:
    """Each import circle of the tltui package in ``package_parent``, as one chain that closes it."""
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    result = subprocess.run([sys.executable, "-c", CIRCLES], cwd=package_parent, capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.splitlines()


def test_no_module_imports_itself_through_others():
    assert circles(ROOT) == []


def test_an_import_for_type_checking_that_closes_a_circle_is_found(tmp_path):
    """The circle the widgets had when they typed ``self.app`` as the app class, which imports them."""
    shutil.copytree(ROOT / "tltui", tmp_path / "tltui", ignore=shutil.ignore_patterns("__pycache__", "*.pt"))
    frame = tmp_path / "tltui" / "ui" / "base" / "frame.py"
    frame.write_text(frame.read_text() + "\nif TYPE_CHECKING:\n    from tltui.ui.app import TutorApp\n")
    found = circles(tmp_path)
    assert len(found) == 1, found
    assert found[0].startswith("tltui.ui.app -> ") and "tltui.ui.base.frame -> tltui.ui.app" in found[0]
