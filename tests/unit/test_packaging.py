"""`pip install .` ships the lessons, the styles and the key map inside the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_contains_every_lesson(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path),
         str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("tltui-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    lessons = sorted(p.name for p in (ROOT / "lessons").glob("*.md"))
    assert lessons
    for lesson in lessons:
        assert f"tltui/lessons/{lesson}" in names
        assert f"tltui/lessons/checks/{lesson}" in names  # each lesson's check of understanding
    assert "tltui/lessons/quiz/quadrants.md" in names
    assert "tltui/ui/app.tcss" in names
    assert "tltui/ui/keys.toml" in names  # every key binding
    assert "tltui/cli/main.py" in names
    assert "tltui/engine/weights/tiny.pt" in names  # the tiny backbone's pretrained weights ship with tltui
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    found = subprocess.run(
        [sys.executable, "-c",
         "from tltui.ui.lessons import load_lessons, lessons_dir; print(len(load_lessons()), lessons_dir())"],
        cwd=tmp_path, env={"PYTHONPATH": str(unpacked)}, capture_output=True, text=True, check=True,
    ).stdout.split()
    assert found == [str(len(lessons)), str(unpacked / "tltui" / "lessons")]
