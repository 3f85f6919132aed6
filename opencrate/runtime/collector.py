"""The cyclic garbage collector's settings for a long-running process (``opencrate serve``).

CPython's collector walks every tracked object it is collecting. The oldest
generation (everything that survived) is collected after ten collections of
the middle one, whenever the objects waiting to join it are a quarter of those
already there: while the heap grows, as at a large building's first start
(50,000 points reporting within seconds, each with its state, history plan and
rollup window), that is a walk of the whole heap every few seconds.
``benchmarks/ingest.py`` at 50,000 points x 20 samples: 18 full collections
took 1.6 s while the end-to-end run took 13 s, and with the collector off the
end-to-end rate was 26 % higher (one run each).

:func:`tune` does two things once start-up is over:

* ``gc.freeze()``: what start-up made (imported code, the model, the
  configuration) lives as long as the process; in the permanent generation no
  collection walks it again.
* The oldest generation is collected after :data:`FULL_COLLECTION_EVERY`
  middle collections instead of ten (at the ingest rates of the benchmark, every
  few minutes instead of every few seconds). Unreachable cycles that reach it
  wait longer to be freed. ``benchmarks/soak.py`` (``opencrate serve --demo``
  with 20,000 samples/s and reads, 3 x 90 s) measured with it: RSS grows 14 MB
  in the first 30-40 s and then stays flat at 117 MB.

Process-wide, so only the process's owner applies it: ``opencrate serve`` when
every start level is reached, and the benchmarks that measure it. Never at
import and never in tests (a frozen test process would keep every test's
objects until it exits).
"""

from __future__ import annotations

import gc
from collections.abc import Callable

__all__ = ["FULL_COLLECTION_EVERY", "tune"]

#: Collections of the middle generation between two of the oldest (CPython's default: 10).
FULL_COLLECTION_EVERY = 100


def tune() -> Callable[[], None]:
    """Freeze what exists and space out full collections; returns what undoes both."""
    before = gc.get_threshold()
    gc.collect()  # garbage from start-up is freed, not frozen
    gc.freeze()
    gc.set_threshold(before[0], before[1], FULL_COLLECTION_EVERY)

    def undo() -> None:
        gc.unfreeze()
        gc.set_threshold(*before)

    return undo
