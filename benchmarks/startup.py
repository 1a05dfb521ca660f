"""Process start to first lesson painted: ``tltui`` against a bare Textual app, in a real pty.

Both run as fresh processes on an 80x24 pseudo-terminal; the clock stops when the text each shows
has been written to the terminal: for tltui the first words of the lesson's first paragraph (so the
lesson itself is on screen, not only its title), for the bare app its one label. Runs alternate, and
the median of each is compared. Target: tltui / bare <= 1.2 (wall clock, on an idle machine). The CPU
time each process had used by then is compared too: on a shared, loaded machine the wall clock
mostly measures the wait for a core, the CPU time does not.

Both run from compiled bytecode, as an installed tltui and Textual do: a first run of each writes it
(PYTHONDONTWRITEBYTECODE, set in some sandboxes, is unset for the children; without it tltui's
modules were compiled from source at every start, 20 % of its start-up here).

    python benchmarks/startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from tltui.ui.lessons import load_lessons  # noqa: E402

from terminal import Terminal, stop_workers  # noqa: E402

BARE = """
from textual.app import App
from textual.widgets import Static

class Bare(App):
    def compose(self):
        yield Static("bare app ready")

Bare().run()
"""
TARGET = 1.2


def time_to_paint(argv: list[str], needle: str, data_dir: str) -> tuple[float, float]:
    """Wall-clock seconds from process start until ``needle`` is painted, and the CPU seconds used by then."""
    term = Terminal(argv, env={"TLTUI_DATA_DIR": data_dir, "PYTHONDONTWRITEBYTECODE": ""})
    try:
        wall = term.wait_for(needle)
        return wall, cpu_seconds(term.process.pid)
    finally:
        term.kill()
        term.close()
        stop_workers(data_dir)


def cpu_seconds(pid: int) -> float:
    """CPU time ``pid`` has run so far (/proc/PID/schedstat, nanoseconds)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9


def load() -> str:
    """The machine's load average (``uptime``): the times above are only comparable at a like load."""
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def first_words(markdown: str) -> str:
    """The first four words of the first plain paragraph."""
    for line in markdown.splitlines():
        if line and line[0].isalpha():
            return " ".join(line.split()[:4])
    raise ValueError("the lesson has no paragraph")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    needle = first_words(load_lessons()[0].text)
    tltui_times, bare_times = [], []
    print(f"load before: {load()}")
    bare_argv, tltui_argv = [sys.executable, "-c", BARE], [sys.executable, "-m", "tltui", "--lesson", "1"]
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as data_dir:  # (a worker may still be writing)
        time_to_paint(bare_argv, "bare app ready", data_dir)  # warm the disk cache, write the bytecode
        time_to_paint(tltui_argv, needle, data_dir)
        for _ in range(args.runs):
            bare_times.append(time_to_paint(bare_argv, "bare app ready", data_dir))
            tltui_times.append(time_to_paint(tltui_argv, needle, data_dir))
    for what, i in (("wall clock", 0), ("CPU time", 1)):
        bare = statistics.median(t[i] for t in bare_times)
        tltui = statistics.median(t[i] for t in tltui_times)
        print(f"{what}: bare Textual app median {bare * 1000:4.0f} ms "
              f"({', '.join(f'{t[i] * 1000:.0f}' for t in bare_times)})")
        print(f"{what}: tltui lesson 1   median {tltui * 1000:4.0f} ms "
              f"({', '.join(f'{t[i] * 1000:.0f}' for t in tltui_times)})")
        print(f"{what}: ratio tltui/bare {tltui / bare:.2f}  "
              f"(target <= {TARGET}: {'met' if tltui / bare <= TARGET else 'NOT met'}); fastest of each: "
              f"{min(t[i] for t in tltui_times) / min(t[i] for t in bare_times):.2f}")
        if i == 0:
            ratio = tltui / bare
    print(f"load after: {load()}")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
