"""History ingest end to end, against raw ``executemany`` into the same layout.

Usage::

    .venv/bin/python benchmarks/ingest.py [--quick] [--points N] [--samples N]

End to end: the application as ``opencrate serve`` builds it
(:class:`~opencrate.app.Services`, started through level 50, so every bus
subscriber it configures is attached: persistence, event log, limit alarms,
alarm flags, node clean-up; only the API is left out), with the ``sqlite``
service persisting ``*`` on everyUpdate. ``PointStore.set`` -> event bus ->
:class:`~opencrate.components.history.manager.PersistenceManager` ->
``HistoryStore.store`` -> committed in SQLite, 5 min and 1 h rollups
maintained. The clock stops when the store has committed every sample. The
producer yields every 500 sets and waits when the manager is more than half a
channel behind, so nothing is dropped (the run fails if anything was).

Baselines, same run, same machine: the same samples with plain
``executemany`` into a fresh file with the same ``sample`` table, 4096 rows
per transaction: once with the project's pragmas (WAL,
``synchronous=NORMAL``), once with the history writer's extra ones too
(``WRITER_PRAGMAS``: bigger cache, rarer checkpoints).

Prints samples per second for each, the ratios, and bytes per sample on disk
(whole file after VACUUM, and the ``sample`` table alone from ``dbstat``).
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import trio.lowlevel

from opencrate.app import Services
from opencrate.clock import SystemClock
from opencrate.components.history.manager import PersistenceManager
from opencrate.components.history.setup import Persistence
from opencrate.components.history.sqlite.store import WRITER_PRAGMAS
from opencrate.components.points.store import PointStore
from opencrate.config import Settings

BASE_MS = 1_700_000_000_000
RAW_BATCH = 4096
EVERY_UPDATE = {"points": ["*"], "strategies": ["everyUpdate"]}


def workload(points: int, samples: int) -> list[tuple[str, int, float]]:
    """``samples`` readings spread over ``points`` points, one per second per point."""
    rnd = random.Random(7)
    ids = [f"{1000 + p // 20}/ai{p % 20}" for p in range(points)]
    return [
        (ids[i % points], BASE_MS + (i // points) * 1000, round(rnd.uniform(15.0, 30.0), 2))
        for i in range(samples)
    ]


async def end_to_end(data: Path, readings: list[tuple[str, int, float]]) -> tuple[float, list[str]]:
    """Samples per second from the first ``set`` to the last commit, and the subscribers.

    The application as ``opencrate serve`` builds it (:class:`Services`), started
    through level 50 (stores, model, persistence with restore, bridges: none
    without a scenario, engines: alarms, event log, ...); only the API
    (level 60) is left out. The ``sqlite`` service persists ``*`` on everyUpdate.
    """
    settings = Settings(
        data_dir=data,
        port=0,
        bus_capacity=16_384,
        sections={"persistence": {"services": {"sqlite": {"items": [EVERY_UPDATE]}}}},
    )
    svc = Services.create(settings, clock=SystemClock())
    supervisor = svc.build_supervisor()
    supervisor.levels = [level for level in svc.levels() if level.number < 60]
    manager = svc.get(Persistence).manager
    (history,) = svc.get(Persistence).history
    total = len(readings)
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run)
        subscribers = sorted(s.name for s in svc.bus.statistics().subscribers)
        start = time.perf_counter()
        for i, (point_id, ts, value) in enumerate(readings):
            svc.get(PointStore).set(point_id, value, ts_ms=ts)
            if i % 500 == 499:
                await trio.lowlevel.checkpoint()
                # Back-pressure for the benchmark only: keep the manager within
                # half its channel so the bus never has to drop. (Polling: the
                # manager offers counters, not events, and 1 ms is far below
                # the time a batch takes to commit.)
                while i + 1 - _stored(manager) > manager.capacity // 2:  # noqa: ASYNC110
                    await trio.sleep(0.001)
        while history.statistics().detail.samples_written < total:  # noqa: ASYNC110
            await trio.sleep(0.001)
        elapsed = time.perf_counter() - start
        stats = manager.statistics().runners[0]
        if stats.lagged or stats.errors:
            raise SystemExit(f"samples lost: lagged={stats.lagged} errors={stats.errors}")
        supervisor.request_shutdown()
    return total / elapsed, subscribers


def _stored(manager: PersistenceManager) -> int:
    return manager.statistics().runners[0].stored


def raw_executemany(
    path: Path, readings: list[tuple[str, int, float]], pragmas: tuple[str, ...] = ()
) -> float:
    """Samples per second for plain executemany into the same layout."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    for pragma in pragmas:
        conn.execute(pragma)
    conn.execute(
        "CREATE TABLE sample (point_key INTEGER NOT NULL, ts_ms INTEGER NOT NULL, value, "
        "PRIMARY KEY (point_key, ts_ms)) WITHOUT ROWID"
    )
    keys: dict[str, int] = {}
    start = time.perf_counter()
    for at in range(0, len(readings), RAW_BATCH):
        rows = [
            (keys.setdefault(p, len(keys) + 1), ts, v) for p, ts, v in readings[at : at + RAW_BATCH]
        ]
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO sample VALUES (?, ?, ?)", rows)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return len(readings) / elapsed


def bytes_per_sample(path: Path, samples: int) -> tuple[float, float]:
    """(whole file after VACUUM, sample table alone) in bytes per sample."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM")
        pages, size = (
            conn.execute("PRAGMA page_count").fetchone()[0],
            conn.execute("PRAGMA page_size").fetchone()[0],
        )
        (table,) = conn.execute("SELECT sum(pgsize) FROM dbstat WHERE name = 'sample'").fetchone()
    finally:
        conn.close()
    return pages * size / samples, table / samples


async def main(points: int, samples: int) -> None:
    readings = workload(points, samples)
    print(f"{samples:,} samples over {points:,} points (one a second per point)")
    with tempfile.TemporaryDirectory() as tmp:
        e2e, subscribers = await end_to_end(Path(tmp) / "data", readings)
        raw = raw_executemany(Path(tmp) / "raw.db", readings)
        tuned = raw_executemany(Path(tmp) / "tuned.db", readings, WRITER_PRAGMAS)
        whole, table = bytes_per_sample(Path(tmp) / "data" / "history.db", samples)
        raw_whole, raw_table = bytes_per_sample(Path(tmp) / "raw.db", samples)
    print(f"bus subscribers attached: {', '.join(subscribers)}")
    print(f"end to end (PointStore.set -> bus -> manager -> HistoryStore, rollups on): "
          f"{e2e:,.0f} samples/s")  # fmt: skip
    print(f"raw executemany, same layout, WAL + synchronous=NORMAL: {raw:,.0f} samples/s "
          f"-> end to end is {e2e / raw:.0%} of it")  # fmt: skip
    print(f"raw executemany, same layout and the history writer's pragmas too: {tuned:,.0f} "
          f"samples/s -> end to end is {e2e / tuned:.0%} of it")  # fmt: skip
    print(f"history.db: {whole:.1f} bytes/sample whole file (rollups, dictionary included), "
          f"{table:.1f} bytes/sample in the sample table")  # fmt: skip
    print(f"raw.db:     {raw_whole:.1f} bytes/sample whole file, {raw_table:.1f} in the table")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small run (50k samples)")
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=500_000)
    args = parser.parse_args()
    n = 50_000 if args.quick else args.samples
    trio.run(main, args.points, n)
