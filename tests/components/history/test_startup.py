"""Start-up that does not grow with the archive: no scan of ``sample`` to open or restore."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from opencrate.components.history.service import Resolution, Sample
from opencrate.components.history.sqlite import queries as q
from opencrate.components.history.sqlite.store import HistoryStore

BASE = 1_699_999_200_000
MIN = 60_000


def plan(conn: sqlite3.Connection, sql: str, *args: object) -> list[str]:
    return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, args)]


async def test_newest_of_each_probes_the_index_and_never_scans_samples(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    async with HistoryStore(path).running() as store:
        for k in range(30):
            await store.store(
                [Sample(point_id=f"p{i}", ts_ms=BASE + k * MIN, value=float(k)) for i in range(20)]
            )
        await store.store([Sample(point_id="p3", ts_ms=BASE - MIN, value=-1.0)])  # late
        everything = await store.last_states()
        some = await store.last_states(["p3", "p7", "nope", "p3"])
    assert len(everything) == 20
    assert {(s.ts_ms, s.value) for s in everything.values()} == {(BASE + 29 * MIN, 29.0)}
    assert sorted(some) == ["p3", "p7"]
    conn = sqlite3.connect(path)
    conn.execute("ANALYZE")  # statistics that made the planner prefer scanning samples
    for steps in (plan(conn, q._ALL_POINTS), plan(conn, q._SOME_POINTS, json.dumps([1, 2]))):
        assert not [s for s in steps if s.startswith("SCAN s")], steps
        assert any("SEARCH s USING PRIMARY KEY (point_key=? AND ts_ms=?)" in s for s in steps)
    conn.close()


async def test_reopening_loads_points_lazily_and_carries_on(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    async with HistoryStore(path).running() as store:
        await store.store(
            [Sample(point_id=f"p{i}", ts_ms=BASE + k * MIN, value=1.0) for k in range(7)
             for i in range(3)]
        )  # fmt: skip
    async with HistoryStore(path).running() as store:
        stats = store.statistics().detail
        assert (stats.points, stats.open_windows) == (3, 0)
        # A sample after the newest one is in order; one before it is not.
        await store.store([Sample(point_id="p0", ts_ms=BASE + 7 * MIN, value=2.0)])
        await store.store([Sample(point_id="p1", ts_ms=BASE + 3 * MIN, value=2.0)])
        stats = store.statistics().detail
        assert stats.out_of_order == 1
        assert stats.open_windows == 4  # p0 and p1, two tiers each; p2 untouched
        five = await store.query("p0", BASE, BASE + 10 * MIN, resolution=Resolution.FIVE_MIN)
        assert [(b.start_ms, b.count) for b in five.buckets] == [(BASE, 5), (BASE + 5 * MIN, 3)]
        untouched = await store.query("p2", BASE, BASE + 10 * MIN, resolution=Resolution.FIVE_MIN)
        assert [(b.start_ms, b.count) for b in untouched.buckets] == [
            (BASE, 5),
            (BASE + 5 * MIN, 2),
        ]
