"""The UI process never imports torch: it would cost seconds at start-up. The worker does, out of its
collector's sight."""

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


def test_the_engine_import_leaves_the_collector_on_and_the_engine_out_of_its_sight(tmp_path):
    """A fresh daemon imports torch with the cyclic collector off and freezes what it imported: a later
    full collection of the worker (a pause of its event loop) does not go through torch's objects."""
    script = ("import asyncio, gc, sys\nfrom pathlib import Path\nfrom tltui.worker.daemon import Daemon\n"
              "from tltui.worker.store import RunStore\nassert 'torch' not in sys.modules\n"
              f"async def start():\n    Daemon(RunStore(Path({str(tmp_path)!r})))\nasyncio.run(start())\n"
              "print(gc.isenabled(), 'torch' in sys.modules, gc.get_freeze_count(), len(gc.get_objects()))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    enabled, torch, frozen, tracked = done.stdout.split()
    assert enabled == "True" and torch == "True"
    assert int(frozen) > 100_000 and int(tracked) < int(frozen) // 20
