"""Persistence extensions in SQL and rollups, against loading the rows into Python.

Usage::

    .venv/bin/python benchmarks/extensions.py [--quick] [--days N] [--repeat N]

One point, one sample a minute for ``--days`` days (7 by default: 10,080
samples) in a real :class:`HistoryStore` file, then a window from a few seconds
after the first sample to the last one (unaligned, so both ragged ends are
read raw and the middle from the hourly and 5-minute rollups).

For each of ``average`` (time-weighted), ``maximum``, ``delta`` and
``count_state_changes``:

* **extension**: :class:`PersistenceExtensions` over the store (SQL in the
  store, rollups where exact);
* **load + Python** (openHAB's way, which computes in Java after a query):
  fetch every sample of the window through the same store as ``Sample``
  objects (``get_all_states``), plus the state in force at the window start,
  and compute the same answer in Python.

Both go through the same actor and read connection, in the same run, and must
agree. Prints milliseconds per call and the speed-up.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import itertools

from opencrate.clock import TrioClock
from opencrate.components.history.extensions import PersistenceExtensions
from opencrate.components.history.service import Sample
from opencrate.components.history.sqlite.store import HistoryStore

BASE_MS = 1_699_999_200_000  # on an hour boundary
MIN = 60_000
POINT = "1001/ai3"

Call = Callable[[], Awaitable[object]]


def series(days: int) -> list[Sample]:
    rnd = random.Random(3)
    value = 21.0
    out = []
    for i in range(days * 24 * 60):
        if rnd.random() < 0.3:  # a real sensor repeats itself now and then
            value = round(value + rnd.uniform(-0.5, 0.5), 1)
        out.append(Sample(point_id=POINT, ts_ms=BASE_MS + i * MIN, value=value))
    return out


# -- openHAB's way: load the window, compute in Python -------------------------------------
async def load(store: HistoryStore, begin: int, end: int) -> tuple[Sample | None, list[Sample]]:
    return await store.state_at(POINT, begin - 1), await store.samples(POINT, begin, end)


async def py_average(store: HistoryStore, begin: int, end: int) -> float | None:
    before, rows = await load(store, begin, end)
    points = [(begin, float(before.value))] if before is not None else []
    points += [(s.ts_ms, float(s.value)) for s in rows]
    if points and points[-1][0] < end:
        points.append((end, points[-1][1]))
    total = sum(v * (t2 - t1) for (t1, v), (t2, _) in itertools.pairwise(points))
    span = points[-1][0] - points[0][0] if points else 0
    return total / span if span else None


async def py_maximum(store: HistoryStore, begin: int, end: int) -> float | None:
    before, rows = await load(store, begin, end)
    values = [float(s.value) for s in rows]
    if before is not None and (not rows or rows[0].ts_ms > begin):
        values.append(float(before.value))
    return max(values) if values else None


async def py_delta(store: HistoryStore, begin: int, end: int) -> float | None:
    before, rows = await load(store, begin, end)
    first = rows[0] if rows and rows[0].ts_ms == begin else before
    if first is None or not rows:
        return None
    return float(rows[-1].value) - float(first.value)


async def py_changes(store: HistoryStore, begin: int, end: int) -> int:
    _, rows = await load(store, begin, end)
    return sum(1 for a, b in itertools.pairwise(rows) if a.value != b.value)


async def timed(fn: Call, repeat: int) -> tuple[float, object]:
    result = await fn()  # warm up (and the answer to compare)
    start = time.perf_counter()
    for _ in range(repeat):
        await fn()
    return (time.perf_counter() - start) / repeat * 1000, result


async def main(days: int, repeat: int) -> None:
    samples = series(days)
    end = samples[-1].ts_ms
    begin = BASE_MS + 17_000
    print(f"{len(samples):,} samples ({days} days at 1/min) for one point; window of "
          f"{(end - begin) / 86_400_000:.2f} days; {repeat} calls each")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        async with HistoryStore(Path(tmp) / "history.db").running() as store:
            for at in range(0, len(samples), 5000):
                await store.store(samples[at : at + 5000])
            ext = PersistenceExtensions(store, clock=TrioClock(start_ms=end))
            cases: list[tuple[str, Call, Call]] = [
                ("average", lambda: ext.average_between(POINT, begin, end),
                 lambda: py_average(store, begin, end)),
                ("maximum", lambda: ext.maximum_between(POINT, begin, end),
                 lambda: py_maximum(store, begin, end)),
                ("delta", lambda: ext.delta_between(POINT, begin, end),
                 lambda: py_delta(store, begin, end)),
                ("countStateChanges", lambda: ext.count_state_changes_between(POINT, begin, end),
                 lambda: py_changes(store, begin, end)),
            ]  # fmt: skip
            print(
                f"{'extension':<18} {'SQL/rollups ms':>15} {'load+Python ms':>15} {'speed-up':>9}"
            )
            for name, fast, slow in cases:
                fast_ms, fast_result = await timed(fast, repeat)
                slow_ms, slow_result = await timed(slow, repeat)
                got = getattr(fast_result, "value", fast_result)
                if not (got == slow_result or math.isclose(float(got), float(slow_result))):  # type: ignore[arg-type]
                    raise SystemExit(f"{name}: answers differ: {got!r} vs {slow_result!r}")
                print(f"{name:<18} {fast_ms:>15.3f} {slow_ms:>15.3f} {slow_ms / fast_ms:>8.1f}x")
    print("(openHAB's own deltaSince needs only two look-ups; the load+Python delta shows")
    print(" the cost of answering it from a loaded window, as average/maximum do.)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 days, 5 calls each")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    if args.quick:
        args.days, args.repeat = 2, 5
    trio.run(main, args.days, args.repeat)
