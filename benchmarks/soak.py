"""A long session in a real pty at 80x24: does any key get slower, does quitting?

One tutor (with its real worker) takes KEYS key presses, round after round over every lesson and
screen: each lesson is reached by ``n``, a digit or the contents (``t``, ``down``, ``enter``), then
scrolled (``j`` ``k``), tabbed into and left (``tab`` ``esc``, where it has a live widget), and the
training, runs and lesson screens shown (``T`` ``R`` ``L``); every third lesson opens and closes the help
(``?`` ``esc``). Each key is timed as in keys.py (until the text it brings is painted, else to the end
of the burst of output it causes). The first round (first visits, modules imported: keys.py times
those) is left out; the p95 of each key over the next rounds is compared with its p95 over the last
as many rounds. Goal: end / start <= 1.2 for every key. The tutor's own CPU time per key over the same
rounds is compared too: on a machine shared with other work the wall clock also measures the wait for a
core, and what grows in the tutor shows in its CPU time; and the machine's own speed (a fixed piece of
Python timed after each round), which moves every key with it. So the session's tutor and a fresh one
(after a first round of its own) then take ``--side-by-side`` more rounds in turn, a lesson each: the same
keys on the same machine in the same minutes, each key's p95 aged / fresh against the same goal, and
their CPU per key. A p95 of a few dozen presses is noisy: each comparison also says how many keys an
unchanged tutor would put over the goal with the same numbers of presses, and which keys are over it beyond
chance read together (Holm). Then ``q``: seconds to exit after the session, against a fresh tutor's (goal 0.5 s),
and the tutor's memory (RSS) after the first round and at the end of the session.

    python benchmarks/soak.py [--keys 2000] [--side-by-side 8] [--fake-worker] [--trail FILE] [--read SECONDS]

The p95 leaves out the few slowest keys, so the keys over SLOW_S are counted and the slowest shown too.
With ``--read`` the session waits that long once each lesson has filled in, as a learner who reads it.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from tltui.ui.lessons import WidgetPart, load_lessons  # noqa: E402

from latency import chance, holm, over_by_chance, p95  # noqa: E402
from terminal import Terminal  # noqa: E402

LESSONS = load_lessons()
N = len(LESSONS)
TLTUI = [sys.executable, "-m", "tltui"]
SCREENS = {"T": "Start (s)", "R": "backbone · weights"}
"""Each screen's key and a text only that screen paints."""
HELP = "escape closes"
"""A text only the help paints (its frame's subtitle)."""
RATIO_GOAL, QUIT_GOAL = 1.2, 0.5
CHANCE = 0.05
"""A key over the goal whose shuffled presses give its ratio less often than this has grown beyond chance."""
SLOW_S = 0.25
"""A key slower than this is counted (a pause a learner notices)."""
DIGIT_WINDOW = 1.2
"""Seconds between two digits, so that they never make one two-digit number."""
TAB, ESC = "\t", "\x1b"
ESC_GAP = 0.25
"""Seconds to wait after esc: Textual's input thread reads a lone esc as esc only after its escape delay
(ESCDELAY, 100 ms) and its next poll (every 100 ms); a key before that makes alt+key."""
DOWN = "\x1b[B"
NAMES = {TAB: "tab", ESC: "esc", DOWN: "down", "\r": "enter", "?": "?"}


class Session:
    """The tutor under test, and each key's times, by round."""

    def __init__(self, env: dict[str, str], read: float = 0.0) -> None:
        self.term = Terminal([*TLTUI, "--lesson", "1"], env=env)
        self.term.wait_for(f"1/{N}", timeout=60)
        self.term.drain(1.0)
        self.times: list[tuple[int, str, float]] = []
        """(round, key, seconds) of every timed key."""
        self.sent: list[float] = []
        """When each timed key was sent (seconds since the epoch, for --trail)."""
        self.round = 0
        self.read = read
        """Seconds spent on each lesson once it has filled in, reading."""
        self.last_digit = 0.0
        self.silent: list[str] = []
        """Keys that painted nothing (a tab with nothing to focus yet): not timed."""
        self.cpu: list[tuple[float, int]] = []
        """Per round: the tutor's own CPU seconds, and the keys it took (the wall clock also counts the wait
        for a core, which another job on the machine lengthens; the CPU time does not)."""

    @property
    def presses(self) -> int:
        return len(self.times)

    def key(self, keys: str, needle: str = "", name: str = "") -> None:
        name = name or NAMES.get(keys, keys)
        self.term.drain(0.15)
        sent = time.time()
        try:
            seconds = self.term.key_latency(keys, needle, timeout=30 if needle else 3)
        except TimeoutError:
            if needle:
                print(f"{name!r} never painted {needle!r}; the screen:\n{self.term.text[-2000:]}", file=sys.stderr)
                raise
            self.silent.append(name)
            return
        self.times.append((self.round, name, seconds))
        self.sent.append(sent)
        if keys == ESC:  # a key sent within Textual's escape delay would make alt+key with it
            time.sleep(ESC_GAP)

    def open_lesson(self, number: int, way: int) -> None:
        """Reach lesson ``number`` from the one before it (1 from the last), in one of three ways."""
        title = f"{number}/{N}"
        if way == 0 and number > 1:
            self.key("n", title)
        elif way == 1 and number <= 9 or number == 1:
            time.sleep(max(0.0, self.last_digit + DIGIT_WINDOW - time.monotonic()))
            self.key(str(number), title, "digit")
            self.last_digit = time.monotonic()
        else:
            self.key("t")
            self.key(DOWN)
            self.key("\r", title, "enter (contents)")
        self.term.drain(0.5)  # the lesson fills in
        end = time.perf_counter() + self.read
        while (left := end - time.perf_counter()) > 0:  # reading: the screen's output read meanwhile
            self.term.drain(left, limit=left)

    def cpu_seconds(self) -> float:
        """The tutor's CPU time so far (user + system, /proc/PID/stat)."""
        fields = Path(f"/proc/{self.term.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def lesson_round(self) -> None:
        cpu, presses = self.cpu_seconds(), self.presses
        self._lesson_round()
        self.cpu.append((self.cpu_seconds() - cpu, self.presses - presses))

    def _lesson_round(self) -> None:
        self.round += 1
        for number in range(1, N + 1):
            self.lesson_keys(number, self.round)

    def lesson_keys(self, number: int, way: int) -> None:
        """Lesson ``number``'s keys: reached (in a way picked by ``way``), read, tabbed into, the screens."""
        lesson = LESSONS[number - 1]
        if self.presses:  # the tutor starts at lesson 1
            self.open_lesson(number, (number + way) % 3)
        title = f"{number}/{N}"
        self.key("j")
        self.key("j")
        self.key("k")
        if any(isinstance(part, WidgetPart) for part in lesson.parts):
            self.term.drain(0.5)
            self.key(TAB)
            self.key(ESC)
        for screen, needle in SCREENS.items():
            self.key(screen, needle)
        self.key("L", title)
        if number % 3 == 0:
            self.key("?", HELP)
            self.key(ESC)

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.term.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def quit(self) -> float:
        """Seconds from ``q`` until the process has exited."""
        self.term.drain(0.3)
        sent = time.perf_counter()
        self.term.send("q")
        self.term.close(timeout=120)
        return time.perf_counter() - sent


def fresh_quit(env: dict[str, str]) -> float:
    """A tutor's quit right after its first lesson is painted."""
    return Session(env).quit()


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def stop_daemon(data_dir: str) -> None:
    try:
        os.kill(int((Path(data_dir) / "sock" / "daemon.pid").read_text()), signal.SIGKILL)
    except (OSError, ValueError):
        pass


def ends(rounds: int) -> tuple[range, range]:
    """The start and end rounds of a session of ``rounds`` (numbered from 1): as many as a third of those
    after the first each, the first left out."""
    window = max(1, (rounds - 1) // 3)
    return range(2, 2 + window), range(rounds - window + 1, rounds + 1)


def report(times: list[tuple[int, str, float]], rounds: int) -> int:
    """Print each key's start and end p50 / p95 and their ratio; how many keys missed the goal."""
    start, end = ends(rounds)
    print(f"rounds {rounds} ({len(times)} keys); start: rounds {start.start}-{start.stop - 1}, "
          f"end: rounds {end.start}-{end.stop - 1}")
    failed = compare([(k, s) for r, k, s in times if r in start], [(k, s) for r, k, s in times if r in end])
    slow = sorted(((s, r, k) for r, k, s in times if s > SLOW_S), reverse=True)
    slowest = ", ".join(f"{k} {s * 1000:.0f} ms (round {r})" for s, r, k in slow[:5])
    print(f"keys over {SLOW_S * 1000:.0f} ms: {len(slow)} of {len(times)}" + (f"; slowest: {slowest}" if slow else ""))
    return failed


def compare(before: list[tuple[str, float]], after: list[tuple[str, float]], names: tuple[str, str] = ("start", "end")
            ) -> int:
    """Print each key's p50 / p95 in ``before`` and ``after`` ((key, seconds) lists), the ratio of the p95s,
    its chance and its chance read with the other keys' (``holm``), and how many keys over the goal the
    noise of this many presses explains (``over_by_chance``); how many keys missed the goal."""
    first_name, last_name = names
    ratio_name = f"{last_name}/{first_name} p95"
    print(f"{'key':<18}{'n':>5}{first_name + ' p50':>11}{'p95':>7}{last_name + ' p50':>9}{'p95':>7}{ratio_name:>15}"
          f"{'chance':>8}{'Holm':>6}  goal")
    keys = list(dict.fromkeys(name for name, _ in before + after))
    presses = {}
    for name in [*keys, "all keys"]:
        first, last = ([s for k, s in part if name in (k, "all keys")] for part in (before, after))
        if first and last:
            presses[name] = first, last
    chances = {name: chance(first, last) for name, (first, last) in presses.items()}
    adjusted = holm({name: value for name, value in chances.items() if name != "all keys"})
    failed, beyond = 0, []
    for name, (first, last) in presses.items():
        ratio = p95(last) / p95(first)
        met = ratio <= RATIO_GOAL
        failed += not met
        if not met and adjusted.get(name, chances[name]) < CHANCE:
            beyond.append(name)
        print(f"{name:<18}{len(first) + len(last):>5}"
              f"{statistics.median(first) * 1000:>9.0f}ms{p95(first) * 1000:>5.0f}ms"
              f"{statistics.median(last) * 1000:>7.0f}ms{p95(last) * 1000:>5.0f}ms{ratio:>15.2f}{chances[name]:>8.2f}"
              f"{adjusted.get(name, chances[name]):>6.2f}  <= {RATIO_GOAL}: {'met' if met else 'NOT met'}")
    by_chance = over_by_chance([both for name, both in presses.items() if name != "all keys"], RATIO_GOAL)
    print(f"chance: how often the same presses, shuffled between {first_name} and {last_name}, give the ratio or "
          f"more; Holm: the same, read with the other keys' chances")
    print(f"keys over {RATIO_GOAL}: {failed}; an unchanged tutor puts {by_chance:.1f} over it on average with this "
          f"many presses (each key's drawn again from both); over it with a Holm chance under {CHANCE}: "
          f"{', '.join(beyond) or 'none'}")
    return failed


def side_by_side(aged: Session, fresh: Session, rounds: int) -> tuple[int, dict[Session, float]]:
    """``rounds`` rounds of the same keys, taken by the tutor after the session and by a fresh one in turn, a
    lesson each (which goes first alternates): both meet the same machine in the same minutes, so what
    differs between them is the session. The aged tutor's first round of them, and each tutor's CPU
    milliseconds per key over them."""
    first_round = aged.round + 1
    cpu = {session: (session.cpu_seconds(), session.presses) for session in (aged, fresh)}
    for _ in range(rounds):
        aged.round += 1
        fresh.round += 1
        for number in range(1, N + 1):
            for session in (aged, fresh) if number % 2 else (fresh, aged):
                session.lesson_keys(number, aged.round)
    return first_round, {session: 1000 * (session.cpu_seconds() - c) / max(1, session.presses - n)
                         for session, (c, n) in cpu.items()}


def report_side_by_side(aged: Session, fresh: Session, first_round: int, cpu: dict[Session, float]) -> int:
    """Print each key's aged / fresh p95 and the CPU per key (``side_by_side``); how many missed the goal."""
    print(f"\nside by side: the tutor after the session (rounds {first_round}-{aged.round}) and a fresh one (after "
          f"a first round), {fresh.round - 1} rounds, a lesson each in turn")
    failed = compare([(k, s) for r, k, s in fresh.times if r > 1],
                     [(k, s) for r, k, s in aged.times if r >= first_round], ("fresh", "aged"))
    ratio = cpu[aged] / cpu[fresh]
    met = ratio <= RATIO_GOAL
    print(f"tutor CPU per key: fresh {cpu[fresh]:.1f} ms, aged {cpu[aged]:.1f} ms, aged/fresh {ratio:.2f}  "
          f"<= {RATIO_GOAL}: {'met' if met else 'NOT met'}")
    return failed + (not met)


def machine_ms() -> float:
    """Milliseconds a fixed piece of Python (24 to 36 ms on this machine) takes here: the median of 5. The
    machine's own speed, which moves the tutor's keys with it (a core shared with other work, a clock)."""
    times = []
    for _ in range(5):
        started = time.perf_counter()
        sorted(str(n * 7919 % 10007) for n in range(100_000))
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def report_machine(per_round: list[float]) -> None:
    """The machine's speed (``machine_ms`` after each round) over the start rounds and the end rounds, as
    ``report`` picks them: a ratio the keys' ratios can be read against."""
    start, end = (statistics.median(per_round[r - 1] for r in part) for part in ends(len(per_round)))
    print(f"machine (a fixed piece of Python): start {start:.1f} ms, end {end:.1f} ms, end/start {end / start:.2f}"
          f"  (per round: {', '.join(f'{ms:.0f}' for ms in per_round)} ms)")


def report_cpu(rounds: list[tuple[float, int]]) -> int:
    """The tutor's CPU milliseconds per key in the start rounds and in the end rounds (as ``report`` picks
    them), and their ratio: 1 if it missed the goal."""
    start, end = ([rounds[r - 1] for r in part] for part in ends(len(rounds)))
    per_key = [1000 * sum(c for c, _ in part) / max(1, sum(k for _, k in part)) for part in (start, end)]
    ratio = per_key[1] / per_key[0]
    met = ratio <= RATIO_GOAL
    print(f"tutor CPU per key: start {per_key[0]:.1f} ms, end {per_key[1]:.1f} ms, end/start {ratio:.2f}  "
          f"<= {RATIO_GOAL}: {'met' if met else 'NOT met'}  (per round: "
          f"{', '.join(f'{1000 * c / max(1, k):.0f}' for c, k in rounds)} ms)")
    return 0 if met else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=2000, help="key presses in all (whole rounds)")
    parser.add_argument("--fake-worker", action="store_true",
                        help="the tests' scripted worker instead of the real one (no torch)")
    parser.add_argument("--trail", type=Path, help="write every timed key to FILE: when it was sent (epoch "
                        "seconds), its round, its name and its milliseconds, one per line")
    parser.add_argument("--read", type=float, default=0.0, help="seconds on each lesson once it has filled in")
    parser.add_argument("--side-by-side", type=int, default=8, metavar="ROUNDS",
                        help="rounds taken after the session by it and a fresh tutor in turn (0: none)")
    args = parser.parse_args()
    print(f"load before: {load()}")
    failed = 0
    with (tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as data_dir,  # (a worker may still be writing)
          tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as fresh_dir):
        env, fresh_env = {"TLTUI_DATA_DIR": data_dir}, {"TLTUI_DATA_DIR": fresh_dir}
        if args.fake_worker:
            for values in (env, fresh_env):
                values["TLTUI_WORKER_CMD"] = f"{sys.executable} {ROOT / 'tests' / 'fake_worker.py'}"
        session = second = None
        try:
            fresh = fresh_quit(env)
            session = Session(env, args.read)
            session.lesson_round()
            machine = [machine_ms()]
            rss_first = session.rss_mb()
            while session.presses < args.keys or session.round < 2:  # (a start and an end)
                session.lesson_round()
                machine.append(machine_ms())
            rss_last, rounds = session.rss_mb(), session.round
            if args.side_by_side:
                second = Session(fresh_env, args.read)
                second.lesson_round()
                both = side_by_side(session, second, args.side_by_side)
                second.quit()
            quit_after = session.quit()
        finally:
            for each in (session, second):
                if each is not None and each.term.process.poll() is None:
                    each.term.kill()
            stop_daemon(data_dir)
            stop_daemon(fresh_dir)
        if args.trail:
            keys = zip(session.sent, session.times, strict=True)
            args.trail.write_text("".join(f"{sent:.3f} {r} {name!r} {seconds * 1000:.1f}\n"
                                          for sent, (r, name, seconds) in keys))
        failed += report([t for t in session.times if t[0] <= rounds], rounds)
        failed += report_cpu(session.cpu)
        report_machine(machine)
        if session.silent:
            print(f"painted nothing (not timed): {', '.join(sorted(set(session.silent)))} ({len(session.silent)} keys)")
        if second is not None:
            failed += report_side_by_side(session, second, *both)
    for what, seconds in (("quit, fresh tutor", fresh), (f"quit after {session.presses} keys", quit_after)):
        met = seconds <= QUIT_GOAL
        failed += not met
        print(f"{what:<26}{seconds * 1000:>7.0f} ms  <= {QUIT_GOAL * 1000:.0f} ms: {'met' if met else 'NOT met'}")
    print(f"memory (RSS) after round 1: {rss_first:.0f} MB, at the end: {rss_last:.0f} MB "
          f"({rss_last / rss_first:.2f}x)")
    print(f"load after: {load()}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
