"""The layout is the architecture: import contracts (pyproject.toml, import-linter) hold, and they
would catch a UI module that imports torch."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).parent / "lint-imports"


def lint(package_parent: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run([str(LINT), "--config", str(ROOT / "pyproject.toml"), "--no-cache"], cwd=package_parent,
                          capture_output=True, text=True, env=env, timeout=120)


def test_the_import_contracts_hold():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "5 kept, 0 broken" in result.stdout


def test_an_import_of_torch_in_a_ui_module_breaks_the_build(tmp_path):
    shutil.copytree(ROOT / "tltui", tmp_path / "tltui", ignore=shutil.ignore_patterns("__pycache__", "*.pt"))
    app = tmp_path / "tltui" / "ui" / "app.py"
    app.write_text("import torch  # a deliberate mistake\n" + app.read_text())
    result = lint(tmp_path)
    assert result.returncode != 0
    assert "The UI never imports the engine" in result.stdout and "BROKEN" in result.stdout
    assert "tltui.ui.app -> torch" in result.stdout
