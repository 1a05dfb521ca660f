"""What grows in a long session? Rounds of every lesson (opened, scrolled, tabbed into and left) and every
screen in a headless tutor with the tests' scripted worker; after each round, what the app holds: widgets
on its screens, asyncio tasks, subscribers of its signals, timers, and the time of ten ``j``. A number that
climbs round after round is a leak; the j time is a rough check (headless, one process).

    python benchmarks/census.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from tltui.ui.app import TutorApp  # noqa: E402
from tltui.ui.lessons import load_lessons  # noqa: E402


def census(app: TutorApp) -> dict[str, int]:
    nodes = [node for stack in app._screen_stacks.values() for screen in stack
             for node in screen.walk_children(with_self=True)]
    signals = (app.run_signal, app.run_list_signal, app.worker_signal)
    return {"widgets": len(nodes), "tasks": len(asyncio.all_tasks()),
            "subscribers": sum(len(signal._subscriptions) for signal in signals),
            "timers": sum(len(getattr(node, "_timers", ())) for node in nodes)}


async def rounds(count: int) -> None:
    app = TutorApp(load_lessons())
    async with app.run_test(size=(80, 24)) as pilot:
        for number in range(1, count + 1):
            for lesson in app.lessons:
                await app.open_lesson(lesson)
                while not app.lesson_screen.view.complete:
                    await asyncio.sleep(0.02)  # the next look at the lesson
                await pilot.press("j", "j", "tab", "escape")
                await pilot.pause()
            for key in "TRL":
                await pilot.press(key)
                await pilot.pause()
            started = time.perf_counter()
            for _ in range(10):
                await pilot.press("j")
                await pilot.pause()
            print(f"round {number}: {census(app)}, ten j {1000 * (time.perf_counter() - started):.0f} ms",
                  flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as data_dir:  # (a worker may still be writing)
        fake = [sys.executable, str(ROOT / "tests" / "fake_worker.py")]
        os.environ.update(TLTUI_DATA_DIR=data_dir, TLTUI_WORKER_CMD=shlex.join(fake))
        asyncio.run(rounds(args.rounds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
