"""History ingest end to end, against an honest raw ``executemany`` of the same rows.

Usage::

    .venv/bin/python benchmarks/ingest.py [--quick] [--runs N] [--shapes 1000x500,10000x20]

Shapes are ``points x samples per point`` (default ``1000x500``, ``10000x20``,
``50000x20``: the issue 12 targets); each runs ``--runs`` times (3) and prints
min / median / max.

End to end: the application as ``opencrate serve`` builds it
(:class:`~opencrate.app.Services`, started through level 50, so every bus
subscriber it configures is attached: persistence, event log, limit alarms,
alarm flags, node clean-up; only the API is left out), with the garbage
collector tuned once started as ``opencrate serve`` tunes it
(:mod:`opencrate.runtime.collector`), and the ``sqlite`` service persisting
``*`` on everyUpdate. ``PointStore.set`` -> event bus ->
:class:`~opencrate.components.history.manager.PersistenceManager` ->
``HistoryStore.store`` -> committed in SQLite, 5 min and 1 h rollups
maintained. The clock stops when the manager has handed every sample to the store and the
store has committed it. The
producer yields every 500 sets and waits when the manager is more than half a
channel behind, so nothing is dropped (the run fails if anything was). After
the run the file is opened again and every acknowledged sample must be there
(count and sum of values), or the run fails.

Baseline, same run, same machine: the same rows into a fresh file with the
same ``sample`` table, given every advantage the history writer gives itself:
the project's pragmas (WAL, ``synchronous=NORMAL``) *and* the writer's
(``WRITER_PRAGMAS``), 4096 rows per transaction (the manager's batch), each
batch sorted by point and time as the writer sorts it, integer point keys
known up front, no rollups. Its rows are checked the same way.

Prints samples per second for each, the ratio (per run), and bytes per sample
on disk (whole file after VACUUM, and the ``sample`` table alone from ``dbstat``).
"""

from __future__ import annotations

import argparse
import gc
import math
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import trio.lowlevel
from spread import spread

from opencrate.app import Services
from opencrate.clock import SystemClock
from opencrate.components.history.setup import Persistence
from opencrate.components.history.sqlite.store import WRITER_PRAGMAS
from opencrate.components.points.store import PointStore
from opencrate.config import Settings
from opencrate.runtime import collector

BASE_MS = 1_700_000_000_000
RAW_BATCH = 4096
EVERY_UPDATE = {"points": ["*"], "strategies": ["everyUpdate"]}


def workload(points: int, per_point: int) -> list[tuple[str, int, float]]:
    """``per_point`` readings of each of ``points`` points, one per second per point."""
    rnd = random.Random(7)
    ids = [f"{1000 + p // 20}/ai{p % 20}" for p in range(points)]
    return [
        (ids[i % points], BASE_MS + (i // points) * 1000, round(rnd.uniform(15.0, 30.0), 2))
        for i in range(points * per_point)
    ]


def check_stored(path: Path, readings: list[tuple[str, int, float]]) -> None:
    """Fail unless every reading is in ``sample`` (count, and the sum of the values)."""
    conn = sqlite3.connect(path)
    try:
        count, total = conn.execute("SELECT count(*), sum(value) FROM sample").fetchone()
    finally:
        conn.close()
    expected = math.fsum(v for _, _, v in readings)
    if count != len(readings) or not math.isclose(total or 0.0, expected, rel_tol=1e-9):
        raise SystemExit(
            f"{path.name}: {count:,} samples stored (sum {total}) of {len(readings):,} "
            f"acknowledged (sum {expected})"
        )


async def end_to_end(
    data: Path, readings: list[tuple[str, int, float]]
) -> tuple[float, list[str], dict[str, int]]:
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
        undo_collector = collector.tune()  # as `opencrate serve` does once started
        subscribers = sorted(s.name for s in svc.bus.statistics().subscribers)
        set_value = svc.get(PointStore).set  # a poller holds its PointStore
        start = time.perf_counter()
        for i, (point_id, ts, value) in enumerate(readings):
            set_value(point_id, value, ts_ms=ts)
            if i % 500 == 499:
                await trio.lowlevel.checkpoint()
                # Back-pressure for the benchmark only: keep the manager within
                # half its channel so the bus never has to drop. (Waiting on the
                # fact, not polling: a 1 ms poll loop's timeouts and cancellations
                # were about 5 % of the GIL time.)
                await manager.wait_processed(i + 1 - manager.capacity // 2)
        # Every reading decided and its samples committed (store returns on commit).
        await manager.wait_processed(total)
        elapsed = time.perf_counter() - start
        written = history.statistics().detail.samples_written
        if written != total:
            raise SystemExit(f"{written:,} samples written of {total:,} decided")
        stats = manager.statistics().runners[0]
        if stats.lagged or stats.errors:
            raise SystemExit(f"samples lost: lagged={stats.lagged} errors={stats.errors}")
        drops = {s.name: s.dropped for s in svc.bus.statistics().subscribers if s.dropped}
        supervisor.request_shutdown()
        undo_collector()
    return total / elapsed, subscribers, drops


def raw_executemany(path: Path, readings: list[tuple[str, int, float]]) -> float:
    """Samples per second for plain sorted executemany, with every pragma the writer uses."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    for pragma in WRITER_PRAGMAS:
        conn.execute(pragma)
    conn.execute(
        "CREATE TABLE sample (point_key INTEGER NOT NULL, ts_ms INTEGER NOT NULL, value, "
        "PRIMARY KEY (point_key, ts_ms)) WITHOUT ROWID"
    )
    keys: dict[str, int] = {}
    for p, _, _ in readings:
        keys.setdefault(p, len(keys) + 1)
    start = time.perf_counter()
    for at in range(0, len(readings), RAW_BATCH):
        rows = sorted((keys[p], ts, v) for p, ts, v in readings[at : at + RAW_BATCH])
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


async def shape(points: int, per_point: int, runs: int) -> None:
    readings = workload(points, per_point)
    # The workload is the benchmark's input, not the system's state: keep the garbage
    # collector from walking its million tuples on every full collection (both sides).
    gc.collect()
    gc.freeze()
    print(f"{points:,} points x {per_point} samples = {len(readings):,} samples, {runs} runs")
    e2e: list[float] = []
    raw: list[float] = []
    ratio: list[float] = []
    dropped: dict[str, int] = {}
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            rate, subscribers, drops = await end_to_end(Path(tmp) / "data", readings)
            for name, count in drops.items():
                dropped[name] = dropped.get(name, 0) + count
            check_stored(Path(tmp) / "data" / "history.db", readings)
            base = raw_executemany(Path(tmp) / "raw.db", readings)
            check_stored(Path(tmp) / "raw.db", readings)
            e2e.append(rate)
            raw.append(base)
            ratio.append(rate / base)
            whole, table = bytes_per_sample(Path(tmp) / "data" / "history.db", len(readings))
    print(f"  bus subscribers attached: {', '.join(subscribers)}; events dropped by any of "
          f"them over all runs: {dropped or 'none'}")  # fmt: skip
    print(f"  end to end (PointStore.set -> bus -> manager -> HistoryStore, rollups on): "
          f"{spread(e2e, unit='samples/s')}")  # fmt: skip
    print(f"  raw sorted executemany, writer's pragmas:  {spread(raw, unit='samples/s')}")
    print(f"  end to end / raw (per run):                {spread(ratio, '.0%')}")
    print(f"  every acknowledged sample stored (both); history.db {whole:.1f} bytes/sample "
          f"whole file, {table:.1f} in the sample table")  # fmt: skip


def parse_shapes(text: str) -> list[tuple[int, int]]:
    try:
        return [(int(p), int(s)) for p, s in (part.split("x") for part in text.split(","))]
    except ValueError:
        raise SystemExit(f"--shapes: expected POINTSxSAMPLES[,...], got {text!r}") from None


async def main(shapes: list[tuple[int, int]], runs: int) -> None:
    for points, per_point in shapes:
        await shape(points, per_point, runs)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one small shape (1000x50), 1 run")
    parser.add_argument("--shapes", default="1000x500,10000x20,50000x20")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.quick:
        args.shapes, args.runs = "1000x50", 1
    trio.run(main, parse_shapes(args.shapes), args.runs)
