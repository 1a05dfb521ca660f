"""Key to repaint, in a real pty at 80x24: tltui's keys against the same key in a bare Textual app.

Each key is sent to a fresh or running ``tltui`` (with its real worker) and the clock stops when the
terminal has been painted: when the text the key brings appears, or, for keys that only move what is
there (scrolling, focus, a toggle), at the last byte of the burst of output the key caused. Output is
drained between keys. The bare app (a label that changes on every key) gives the floor: the pty, the
terminal driver and Textual's own frame. Goals: every local key at most 100 ms p95; a picture the
worker draws at most 300 ms p95.

    python benchmarks/keys.py [--samples 15] [--processes 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from tltui.cli.main import ESCAPE_DELAY_MS  # noqa: E402
from tltui.ui.lessons import find_lesson, load_lessons  # noqa: E402

from latency import p95  # noqa: E402
from terminal import Terminal, stop_workers  # noqa: E402

LESSONS = load_lessons()
N = len(LESSONS)
PLAYGROUND = find_lesson(LESSONS, "playground").number

BARE = """
import os
from textual.app import App
from textual.widgets import Static

class Bare(App):
    count = 0
    def compose(self):
        yield Static("bare app ready", id="label")
    def on_key(self, event):
        self.count += 1
        self.query_one("#label", Static).update(f"key {self.count}")

if os.environ.get("BARE_DRIVER") == "tltui":
    from tltui.ui.driver import KeyDriver
    Bare(driver_class=KeyDriver).run()
else:
    Bare().run()
"""
TLTUI = [sys.executable, "-m", "tltui"]
LOCAL_GOAL, PICTURE_GOAL = 0.100, 0.300
TAB, ESC, DOWN = "\t", "\x1b", "\x1b[B"


def lesson_keys(samples: int, data_dir: str) -> dict[str, list[float]]:
    """Keys of one running tutor: scrolling, next lesson, tab and esc, the contents, freeze-board toggle,
    worker pictures."""
    times: dict[str, list[float]] = {}
    term = Terminal([*TLTUI, "--lesson", "1"], env={"TLTUI_DATA_DIR": data_dir})
    try:
        term.wait_for(f"1/{N}")
        term.drain(0.5)
        times["scroll a lesson (j)"] = [_timed(term, "j") for _ in range(samples)]
        times["next lesson, first visit (n)"] = [_timed(term, "n", f"{k}/{N}") for k in range(2, N + 1)]
        times["previous lesson, revisit (p)"] = [_timed(term, "p", f"{k}/{N}") for k in range(N - 1, 0, -1)]
        tab, esc = [], []
        for _ in range(samples):
            tab.append(_timed(term, TAB))
            esc.append(_timed(term, ESC))
        times["tab into a live widget"] = tab
        times["esc, back to the lesson"] = esc
        contents, enter = [], []
        for k in range(2, min(samples, N - 1) + 2):  # the contents: the next lesson's line, enter opens it
            contents.append(_timed(term, "t"))
            _timed(term, DOWN)
            enter.append(_timed(term, "\r", f"{k}/{N}"))
        times["contents (t)"] = contents
        times["enter in the contents"] = enter
        _timed(term, "1", f"1/{N}")
        time.sleep(1.1)  # the next digits make a number of their own
        _timed(term, str(PLAYGROUND), f"{PLAYGROUND}/{N}")  # two digits at once make one number
        term.drain(1.0)  # the lesson fills in: the board is there to tab to
        term.send(TAB)
        term.drain(0.5)
        times["freeze-board toggle (space)"] = [_timed(term, " ") for _ in range(samples)]
        _timed(term, ESC)
        _timed(term, "2", f"2/{N}")
        term.drain(1.0)
        term.send(TAB)
        term.wait_for("filters 1-16", timeout=120)  # the worker has started and drawn the filters
        _timed(term, "v", "px in", timeout=60)  # the maps, the first time
        times["worker-drawn picture (i, next image)"] = [
            _timed(term, "i", f"image {k + 2}/", timeout=30) for k in range(samples)]
    finally:
        term.kill()
        term.close()
        stop_workers(data_dir)
    return times


READ_S = 2.0
"""How long the learner reads the first lesson before the first T: the tutor builds the training and runs
screens meanwhile (ui/warmup.py). A T sooner than that is timed too, in a tutor of its own."""


def screen_keys(data_dir: str) -> dict[str, list[float]]:
    """T, R and L the first and second time, in a fresh tutor; and T at once in another."""
    term = Terminal([*TLTUI, "--lesson", "1"], env={"TLTUI_DATA_DIR": data_dir + "-at-once"})
    try:
        term.wait_for(f"1/{N}")
        at_once = _timed(term, "T", "Start (s)")
    finally:
        term.kill()
        term.close()
        stop_workers(data_dir + "-at-once")
    term = Terminal([*TLTUI, "--lesson", "1"], env={"TLTUI_DATA_DIR": data_dir})
    try:
        term.wait_for(f"1/{N}")
        term.drain(0.5)
        time.sleep(READ_S)
        first_t = _timed(term, "T", "Start (s)")
        first_l = _timed(term, "L", f"1/{N}")
        first_r = _timed(term, "R", "backbone · weights")
        _timed(term, "L", f"1/{N}")
        second_t = _timed(term, "T", "Start (s)")
        second_l = _timed(term, "L", f"1/{N}")
        second_r = _timed(term, "R", "backbone · weights")
    finally:
        term.kill()
        term.close()
        stop_workers(data_dir)
    return {"T, as the first lesson is painted": [at_once], "T, first time": [first_t], "R, first time": [first_r],
            "L, first time": [first_l], "T, again": [second_t], "R, again": [second_r], "L, again": [second_l]}


def bare_keys(samples: int, data_dir: str, tltui_driver: bool = False) -> tuple[list[float], list[float]]:
    """The bare app's times for a letter, and for esc (Textual reads a lone esc after its escape delay); with
    ``tltui_driver``, on the driver and escape delay the tutor runs with (ui/driver.py, cli/main.py)."""
    env = {"TLTUI_DATA_DIR": data_dir}
    if tltui_driver:
        env |= {"BARE_DRIVER": "tltui", "ESCDELAY": str(ESCAPE_DELAY_MS)}
    term = Terminal([sys.executable, "-c", BARE], env=env)
    try:
        term.wait_for("bare app ready")
        term.drain(0.3)
        letters = [_timed(term, "x", f"key {k + 1}") for k in range(samples)]
        escapes = [_timed(term, ESC, f"key {samples + k + 1}") for k in range(samples)]
        return letters, escapes
    finally:
        term.kill()
        term.close()


def _timed(term: Terminal, keys: str, needle: str = "", timeout: float = 10.0) -> float:
    term.drain(0.15)
    seconds = term.key_latency(keys, needle, timeout=timeout)
    if keys == ESC:  # Textual reads a lone esc only after its escape delay (and, on its own driver, a poll):
        time.sleep(0.25)  # a key sent sooner would make alt+key with it
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=15, help="presses of each repeatable key")
    parser.add_argument("--processes", type=int, default=5, help="fresh tutors for the first-time T and R")
    args = parser.parse_args()
    results: dict[str, list[float]] = {}
    print(f"load before: {load()}")
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as data_dir:  # (a worker may still be writing)
        bare, textual_esc = bare_keys(args.samples, data_dir)
        _, bare_esc = bare_keys(args.samples, data_dir, tltui_driver=True)
        results.update(lesson_keys(args.samples, data_dir))
        for _ in range(args.processes):
            for name, times in screen_keys(tempfile.mkdtemp(dir=data_dir)).items():
                results.setdefault(name, []).extend(times)
    floor = statistics.median(bare)
    print(f"{'key':<40}{'n':>4}{'p50 ms':>9}{'p95 ms':>9}{'p50/bare':>10}  goal")
    print(f"{'bare Textual app, a label changes':<40}{len(bare):>4}{floor * 1000:>9.0f}{p95(bare) * 1000:>9.0f}"
          f"{1:>10.1f}")
    for name, times in (("bare Textual app, esc", textual_esc), ("bare app on tltui's driver, esc", bare_esc)):
        print(f"{name:<40}{len(times):>4}{statistics.median(times) * 1000:>9.0f}{p95(times) * 1000:>9.0f}"
              f"{statistics.median(times) / floor:>10.1f}")
    print(f"  tltui's driver / Textual's, esc p95: {p95(bare_esc) / p95(textual_esc):.2f} (the escape delay and the "
          "wait for input: the floor of any esc)")
    failed = 0
    for name, times in results.items():
        goal = PICTURE_GOAL if "picture" in name else LOCAL_GOAL
        met = p95(times) <= goal
        failed += not met
        print(f"{name:<40}{len(times):>4}{statistics.median(times) * 1000:>9.0f}{p95(times) * 1000:>9.0f}"
              f"{statistics.median(times) / floor:>10.1f}  <= {goal * 1000:.0f} ms p95: {'met' if met else 'NOT met'}"
              + (f" (over the bare esc: {1000 * (p95(times) - p95(bare_esc)):+.0f} ms)" if "esc" in name else ""))
    print(f"load after: {load()}")
    return 1 if failed else 0


def load() -> str:
    """The machine's load average (``uptime``): the numbers above are only comparable at a like load."""
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":
    raise SystemExit(main())
