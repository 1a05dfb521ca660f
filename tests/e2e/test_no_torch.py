"""The UI process never imports torch: it would cost seconds at start-up."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys, time
    from tltui.ui.app import TutorApp
    from tltui.cli.main import build_parser
    from tltui.ui.lessons import load_lessons

    async def mounted(app):
        deadline = time.monotonic() + 60
        while not app.screen.view.complete:
            assert time.monotonic() < deadline, f"lesson {app.screen.lesson.number} never mounted"
            await asyncio.sleep(0.02)  # the next look at the lesson

    async def main():
        lessons = load_lessons()
        app = TutorApp(lessons)
        async with app.run_test(size=(80, 24)) as pilot:
            for _ in lessons:
                await pilot.press("n")
                await mounted(app)
            await pilot.press("question_mark", "escape", "t", "enter")

    asyncio.run(main())
    build_parser().parse_args([])
    print(",".join(sorted(m for m in ("torch", "torchvision", "numpy") if m in sys.modules)) or "clean")
    """
)


def test_opening_every_lesson_imports_no_torch():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "clean"
