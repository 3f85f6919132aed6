"""restoreOnStartup time for 10,000 points: one query against one query per point.

Usage::

    .venv/bin/python benchmarks/restore.py [--quick] [--points N] [--samples N]

Builds ``history.db`` in a temporary directory with N points (default
10,000), each with a few samples, the newest a setpoint-like value. Then, in
the same run:

1. :func:`~opencrate.components.history.restore.restore_on_startup` for every point
   (config ``* : strategy = restoreOnStartup``, the node model's point list
   given, as at level 30): one ``last_states`` query for all points;
2. the naive way openHAB does it, one ``state_at`` query per point;

and prints both times, points per second and the ratio. Each restore runs
into a fresh, empty PointStore.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from opencrate.clock import SystemClock
from opencrate.components.history.config.model import PersistenceConfig
from opencrate.components.history.config.persist_syntax import parse_persist
from opencrate.components.history.restore import restore_on_startup
from opencrate.components.history.selectors import IdHierarchy
from opencrate.components.history.service import Sample
from opencrate.components.history.sqlite.store import HistoryStore
from opencrate.components.points.store import PointStore
from opencrate.runtime.bus import EventBus


async def main(points: int, samples: int) -> None:
    ids = [f"{1000 + i // 20}/analog-value-{i % 20}" for i in range(points)]
    now = SystemClock().now_ms()
    config = PersistenceConfig(
        services=(parse_persist("Items { * : strategy = restoreOnStartup }", service="sqlite"),)
    )
    with tempfile.TemporaryDirectory() as tmp:
        history = HistoryStore(Path(tmp) / "history.db")
        async with history.running():
            started = time.perf_counter()
            for k in range(samples):
                batch = [
                    Sample(point_id=p, ts_ms=now - (samples - k) * 60_000, value=20.0 + k + i % 7)
                    for i, p in enumerate(ids)
                ]
                for i in range(0, len(batch), 5_000):
                    await history.store(batch[i : i + 5_000])
            setup_s = time.perf_counter() - started
            print(f"setup: {points} points x {samples} samples in {setup_s:.1f} s")

            store = PointStore(EventBus())
            started = time.perf_counter()
            report = await restore_on_startup(
                config=config,
                services={"sqlite": history},
                points=store,
                hierarchy=IdHierarchy(),
                known_points=ids,
            )
            one_query = time.perf_counter() - started
            assert report.restored == points, report
            print(
                f"restoreOnStartup (one query): {points} points in {one_query * 1000:.1f} ms "
                f"({points / one_query:,.0f} points/s)"
            )

            store = PointStore(EventBus())
            started = time.perf_counter()
            for point_id in ids:
                sample = await history.state_at(point_id, now)
                assert sample is not None
                store.restore(point_id, sample.value, ts_ms=sample.ts_ms)
            per_point = time.perf_counter() - started
            print(
                f"one query per point (openHAB's way): {points} points in "
                f"{per_point * 1000:.1f} ms ({points / per_point:,.0f} points/s)"
            )
            print(f"ratio: one query is {per_point / one_query:.1f}x faster")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 points, 2 samples each")
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=3)
    args = parser.parse_args()
    if args.quick:
        args.points, args.samples = 1_000, 2
    trio.run(main, args.points, args.samples)
