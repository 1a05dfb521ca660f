"""The first T, R and L (and each again) in fresh tutors of two installs, alternating: an A/B of two versions
in one run on one machine, at one load (keys.py's screen keys, each tutor with its real worker).

    python benchmarks/screens_ab.py BEFORE_PYTHON AFTER_PYTHON [--rounds 3] [--read 8]

Each PYTHON is the interpreter of an install of tltui (a second checkout at the older commit, with
``pip install -e .`` in its own venv, gives the "before").
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import keys  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", help="the python of the older install")
    parser.add_argument("after", help="the python of the newer install")
    parser.add_argument("--rounds", type=int, default=3, help="fresh tutors of each")
    parser.add_argument("--read", type=float, default=keys.READ_S, help="seconds on lesson 1 before the first T")
    args = parser.parse_args()
    keys.READ_S = args.read
    times: dict[str, dict[str, list[float]]] = {"before": {}, "after": {}}
    print(f"load before: {keys.load()}")
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as data_dir:
        for _ in range(args.rounds):
            for version, python in (("before", args.before), ("after", args.after)):
                keys.TLTUI = [python, "-m", "tltui"]
                for name, seconds in keys.screen_keys(tempfile.mkdtemp(dir=data_dir)).items():
                    times[version].setdefault(name, []).extend(seconds)
    print(f"{'key':<36}{'before p50':>11}{'max':>7}{'after p50':>11}{'max':>7}")
    for name, after in times["after"].items():
        before = times["before"][name]
        print(f"{name:<36}{1000 * statistics.median(before):>9.0f}ms{1000 * max(before):>5.0f}ms"
              f"{1000 * statistics.median(after):>9.0f}ms{1000 * max(after):>5.0f}ms")
    print(f"load after: {keys.load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
