"""Persistence extensions in SQL and rollups, against a lean load-then-Python baseline.

Usage::

    .venv/bin/python benchmarks/extensions.py [--quick] [--days N] [--repeat N] [--runs N]

One point, one sample a minute for ``--days`` days (7 by default: 10,080
samples) in a real :class:`HistoryStore` file; "now" is fixed at the last
sample and every extension is called in its ``*Since`` form from a few seconds
after the first sample (unaligned, so both ragged ends are read raw and the
middle from the hourly and 5-minute rollups).

For each of ``averageSince`` (time-weighted), ``maximumSince``, ``deltaSince``
and ``countStateChangesSince``:

* **extension**: :class:`PersistenceExtensions` over the store (SQL in the
  store, rollups where exact);
* **lean baseline** (openHAB's way, which computes in Java after a query, done
  as cheaply as Python allows): one trip to the same read connection that
  fetches the window as plain ``(ts, value)`` tuples and the state in force at
  its start, then the same answer computed in Python. No record per row.

Both go through the same actor and read connection, in the same run, and must
agree. Prints, per extension, milliseconds per call (``--repeat`` calls, 20)
and the speed-up, as min / median / max of ``--runs`` runs (3).
"""

from __future__ import annotations

import argparse
import math
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio
from spread import spread

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import itertools

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


class FixedClock:
    """ "Now" is the last sample, for every call."""

    def __init__(self, now_ms: int) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now


# -- the lean baseline: one fetch of tuples, then Python -------------------------------------
Rows = tuple[tuple[int, float] | None, list[tuple[int, float]]]


async def load(store: HistoryStore, begin: int, end: int) -> Rows:
    key = store._keys[POINT]

    def fetch(conn: sqlite3.Connection) -> Rows:
        before = conn.execute(
            "SELECT ts_ms, value FROM sample WHERE point_key = ? AND ts_ms < ? "
            "ORDER BY ts_ms DESC LIMIT 1",
            (key, begin),
        ).fetchone()
        rows = conn.execute(
            "SELECT ts_ms, value FROM sample WHERE point_key = ? AND ts_ms BETWEEN ? AND ? "
            "ORDER BY ts_ms",
            (key, begin, end),
        ).fetchall()
        return before, rows

    return await store.read(fetch)


async def py_average(store: HistoryStore, begin: int, end: int) -> float | None:
    before, rows = await load(store, begin, end)
    points = [(begin, before[1])] if before is not None else []
    points += rows
    if points and points[-1][0] < end:
        points.append((end, points[-1][1]))
    total = sum(v * (t2 - t1) for (t1, v), (t2, _) in itertools.pairwise(points))
    span = points[-1][0] - points[0][0] if points else 0
    return total / span if span else None


async def py_maximum(store: HistoryStore, begin: int, end: int) -> float | None:
    before, rows = await load(store, begin, end)
    values = [v for _, v in rows]
    if before is not None and (not rows or rows[0][0] > begin):
        values.append(before[1])
    return max(values) if values else None


async def py_delta(store: HistoryStore, begin: int, end: int) -> float | None:
    before, rows = await load(store, begin, end)
    first = rows[0] if rows and rows[0][0] == begin else before
    if first is None or not rows:
        return None
    return rows[-1][1] - first[1]


async def py_changes(store: HistoryStore, begin: int, end: int) -> int:
    _, rows = await load(store, begin, end)
    return sum(1 for a, b in itertools.pairwise(rows) if a[1] != b[1])


async def timed(fn: Call, repeat: int) -> tuple[float, object]:
    result = await fn()  # warm up (and the answer to compare)
    start = time.perf_counter()
    for _ in range(repeat):
        await fn()
    return (time.perf_counter() - start) / repeat * 1000, result


async def main(days: int, repeat: int, runs: int) -> None:
    samples = series(days)
    end = samples[-1].ts_ms
    begin = BASE_MS + 17_000
    print(f"{len(samples):,} samples ({days} days at 1/min) for one point; *Since window of "
          f"{(end - begin) / 86_400_000:.2f} days; {repeat} calls each, {runs} runs")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        async with HistoryStore(Path(tmp) / "history.db").running() as store:
            for at in range(0, len(samples), 5000):
                await store.store(samples[at : at + 5000])
            ext = PersistenceExtensions(store, clock=FixedClock(end))
            cases: list[tuple[str, Call, Call]] = [
                ("averageSince", lambda: ext.average_since(POINT, begin),
                 lambda: py_average(store, begin, end)),
                ("maximumSince", lambda: ext.maximum_since(POINT, begin),
                 lambda: py_maximum(store, begin, end)),
                ("deltaSince", lambda: ext.delta_since(POINT, begin),
                 lambda: py_delta(store, begin, end)),
                ("countStateChangesSince", lambda: ext.count_state_changes_since(POINT, begin),
                 lambda: py_changes(store, begin, end)),
            ]  # fmt: skip
            print(f"{'extension':<23} {'extension ms':>22} {'lean baseline ms':>22} "
                  f"{'speed-up':>22}")  # fmt: skip
            for name, fast, slow in cases:
                fast_ms: list[float] = []
                slow_ms: list[float] = []
                ups: list[float] = []
                for _ in range(runs):
                    f_ms, fast_result = await timed(fast, repeat)
                    s_ms, slow_result = await timed(slow, repeat)
                    got = getattr(fast_result, "value", fast_result)
                    if not (got == slow_result or math.isclose(float(got), float(slow_result))):  # type: ignore[arg-type]
                        raise SystemExit(f"{name}: answers differ: {got!r} vs {slow_result!r}")
                    fast_ms.append(f_ms)
                    slow_ms.append(s_ms)
                    ups.append(s_ms / f_ms)
                print(f"{name:<23} {spread(fast_ms, '.3f'):>22} {spread(slow_ms, '.3f'):>22} "
                      f"{spread(ups, '.1f'):>21}x")  # fmt: skip
    print("(openHAB's own deltaSince needs only two look-ups; the lean delta shows")
    print(" the cost of answering it from a loaded window, as average/maximum do.)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 days, 5 calls each")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.quick:
        args.days, args.repeat, args.runs = 2, 5, 1
    trio.run(main, args.days, args.repeat, args.runs)
