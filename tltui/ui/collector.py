"""Python's cyclic garbage collector, kept from pausing keys.

The tutor starts with the collector off (``tltui.cli.main``). Once the first lesson is up, ``calm`` collects,
freezes what is alive (modules, the widget tree: out of the collector's sight from then on) and turns it
back on with larger thresholds. A full collection still comes now and then: once every lesson had been
read it took 300 to 550 ms (the views dropped meanwhile are its garbage; gc.callbacks during
benchmarks/keys.py), a pause in the middle of whatever key it lands on. Running it ahead once no key had
come for a second was tried and dropped: a next key often comes about a second after the last, and in
benchmarks/soak.py with it the ``j`` pressed once a lesson has filled in read 240 ms p95 in the first
rounds (25 ms in the soak before it).
"""

from __future__ import annotations

import gc

#: Allocations between two young collections (Python's default is 700), young collections between two of
#: the middle generation (Python's: 10) and those between two full ones (Python's: 10). A full collection
#: comes about as often as with Python's 10 and 10, the middle ones are a third the size: with 10,000 and
#: 10 one took 34 ms, with 3 8 to 18 ms.
THRESHOLDS = (10_000, 3, 40)


def calm() -> None:
    """Collect, freeze what is left and turn the collector on with THRESHOLDS. A full collection of the
    whole heap took 100-200 ms after a session, and ran in the middle of whatever key it landed on
    (benchmarks/keys.py: p95 of a lesson switch 250 ms with the default collector); nothing unreachable is
    frozen."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    gc.enable()
