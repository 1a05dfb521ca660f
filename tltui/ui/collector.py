"""Python's cyclic garbage collector, kept from pausing keys.

The tutor starts with the collector off (``tltui.cli.main``). Once the first lesson is up, ``calm`` collects,
freezes what is alive (modules, the widget tree: out of the collector's sight from then on) and turns it
back on with larger thresholds.

A full collection still comes now and then, and the collector starts one only as objects are made, that
is while the tutor answers a key: after a few rounds of lessons one took 0.9 to 1.4 s (benchmarks/soak.py,
every 85 to 100 s of its typing; the lesson views dropped meanwhile are most of its garbage). So one that is
due soon is run while the learner reads instead (``collect_if_due``, once no key or click has come for
``QUIET_S``). A second of quiet was tried first and dropped: a typist's next key often comes about a second
after the last, and in the soak with it the ``j`` pressed once a lesson had filled in read 240 ms p95.
"""

from __future__ import annotations

import gc

#: Allocations between two young collections (Python's default is 700), young collections between two of
#: the middle generation (Python's: 10) and those between two full ones (Python's: 10). A full collection
#: comes about as often as with Python's 10 and 10, the middle ones are a third the size: with 10,000 and
#: 10 one took 34 ms, with 3 8 to 18 ms.
THRESHOLDS = (10_000, 3, 40)
#: A full collection is run ahead once this many middle ones have come since the last (of THRESHOLDS[2]).
DUE = THRESHOLDS[2] // 2
#: Seconds without a key or a click before a full collection due soon is run: a learner reading. A typist's
#: keys come closer (in benchmarks/soak.py, 23 gaps of 2,031 were over 2 s, each the soak's own 3 s wait for
#: a key that painted nothing).
QUIET_S = 3.0


def calm() -> None:
    """Collect, freeze what is left and turn the collector on with THRESHOLDS. A full collection of the
    whole heap took 100-200 ms after a session, and ran in the middle of whatever key it landed on
    (benchmarks/keys.py: p95 of a lesson switch 250 ms with the default collector); nothing unreachable is
    frozen."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    gc.enable()


def collect_if_due() -> bool:
    """Run the full collection now if it is due soon (and the collector is on); whether it ran."""
    if gc.isenabled() and gc.get_count()[2] >= DUE:
        gc.collect()
        return True
    return False
