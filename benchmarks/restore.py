"""A whole start of the history at 10k and 50k points: open (cache load, rollup reopen) + restore.

Usage::

    .venv/bin/python benchmarks/restore.py [--quick] [--points 10000,50000] [--samples N] [--runs N]

For each point count, builds ``history.db`` in a temporary directory through
:class:`~opencrate.components.history.sqlite.store.HistoryStore` itself (N
points, ``--samples`` each, default 100, one a minute up to now, so the
rollups are what a running system leaves behind), closes it cleanly, then
``--runs`` times (3) times a **whole start** into a fresh, empty PointStore:

1. **open**: ``HistoryStore(path)`` entered as at level 20 (migrations, the
   point dictionary, each point's newest time, open rollup windows), until it
   accepts commands;
2. **restore**: :func:`~opencrate.components.history.restore.restore_on_startup`
   for every point (``* : strategy = restoreOnStartup``, the node model's
   point list given, as at level 30): one ``last_states`` query for all points.

The restored count is checked. Prints min / median / max of open, restore and
their sum (the file is in the OS cache: a warm start). Then, once, the naive
way openHAB restores (one ``state_at`` query per point) for comparison.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from spread import spread

from opencrate.clock import SystemClock
from opencrate.components.history.config.model import PersistenceConfig
from opencrate.components.history.config.persist_syntax import parse_persist
from opencrate.components.history.restore import restore_on_startup
from opencrate.components.history.selectors import IdHierarchy
from opencrate.components.history.service import Sample
from opencrate.components.history.sqlite.store import HistoryStore
from opencrate.components.points.store import PointStore
from opencrate.runtime.bus import EventBus

CONFIG = PersistenceConfig(
    services=(parse_persist("Items { * : strategy = restoreOnStartup }", service="sqlite"),)
)


async def build(path: Path, ids: list[str], samples: int) -> float:
    """Fill ``path`` through the store itself; the seconds it took."""
    now = SystemClock().now_ms()
    started = time.perf_counter()
    async with HistoryStore(path).running() as history:
        for k in range(samples):
            ts = now - (samples - k) * 60_000
            batch = [
                Sample(point_id=p, ts_ms=ts, value=20.0 + k + i % 7) for i, p in enumerate(ids)
            ]
            for i in range(0, len(batch), 10_000):
                await history.store(batch[i : i + 10_000])
    return time.perf_counter() - started


async def whole_start(path: Path, ids: list[str]) -> tuple[float, float]:
    """(open seconds, restore seconds) of one start into an empty PointStore."""
    started = time.perf_counter()
    async with HistoryStore(path).running() as history:
        opened = time.perf_counter()
        report = await restore_on_startup(
            config=CONFIG,
            services={"sqlite": history},
            points=PointStore(EventBus()),
            hierarchy=IdHierarchy(),
            known_points=ids,
        )
        restored = time.perf_counter()
        if report.restored != len(ids):
            raise SystemExit(f"restored {report.restored} of {len(ids)} points: {report}")
    return opened - started, restored - opened


async def per_point(path: Path, ids: list[str]) -> float:
    now = SystemClock().now_ms()
    async with HistoryStore(path).running() as history:
        store = PointStore(EventBus())
        started = time.perf_counter()
        for point_id in ids:
            sample = await history.state_at(point_id, now)
            assert sample is not None
            store.restore(point_id, sample.value, ts_ms=sample.ts_ms)
        return time.perf_counter() - started


async def main(point_counts: list[int], samples: int, runs: int) -> None:
    for points in point_counts:
        ids = [f"{1000 + i // 20}/analog-value-{i % 20}" for i in range(points)]
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "history.db"
            setup_s = await build(path, ids, samples)
            print(f"{points:,} points x {samples} samples (built in {setup_s:.1f} s), {runs} runs")
            opens: list[float] = []
            restores: list[float] = []
            totals: list[float] = []
            for _ in range(runs):
                open_s, restore_s = await whole_start(path, ids)
                opens.append(open_s * 1000)
                restores.append(restore_s * 1000)
                totals.append((open_s + restore_s) * 1000)
            print(f"  open (caches, rollup windows):     {spread(opens, ',.1f', 'ms')}")
            print(f"  restoreOnStartup (one query):      {spread(restores, ',.1f', 'ms')}")
            print(f"  whole start (open + restore):      {spread(totals, ',.1f', 'ms')}")
            naive = await per_point(path, ids)
            print(f"  one state_at query per point (openHAB's way), once: {naive * 1000:,.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 points x 10 samples, 1 run")
    parser.add_argument("--points", default="10000,50000", help="comma-separated point counts")
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    counts = [int(p) for p in args.points.split(",")]
    if args.quick:
        counts, args.samples, args.runs = [1_000], 10, 1
    trio.run(main, counts, args.samples, args.runs)
