"""history.db written at schema v1 (no ``raw_floor``) opens at v2 with all its data.

The v1 file is made the way v1 code made it: samples and rollups written by
the store, then the v2 table dropped and ``user_version`` set back to 1 (the
v2 table holds nothing until retention purges raw samples). The schema itself
is checked against a fresh create in ``tests/runtime/test_migrations.py``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from opencrate.components.history.service import Resolution, Sample
from opencrate.components.history.sqlite.store import HistoryStore
from opencrate.model.values import PointValue

BASE = 1_699_999_200_000  # on an hour boundary
HOUR = 3_600_000


def _samples() -> list[Sample]:
    out: list[Sample] = []
    for i in range(180):  # three hours, one a minute
        ts = BASE + i * 60_000
        values: dict[str, PointValue] = {
            "ahu1/sat": 12.0 + (i % 7) / 2,
            "ahu1/fan": i % 30 < 20,
            "ahu1/mode": "heat" if i < 90 else "cool",
        }
        out.extend(Sample(point_id=p, ts_ms=ts, value=v) for p, v in values.items())
    return out


def _downgrade_to_v1(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT count(*) FROM raw_floor").fetchone()[0] == 0
        conn.execute("DROP TABLE raw_floor")
        conn.execute("PRAGMA user_version = 1")
        conn.commit()
    finally:
        conn.close()


async def _contents(store: HistoryStore) -> dict[str, object]:
    points = await store.point_ids()
    return {
        "points": points,
        "last": dict(await store.last_states()),
        "raw": {p: await store.samples(p, BASE, BASE + 3 * HOUR) for p in points},
        "5m": {
            p: (await store.query(p, BASE, BASE + 3 * HOUR, resolution=Resolution.FIVE_MIN))
            for p in points
        },
        "1h": {
            p: (await store.query(p, BASE, BASE + 3 * HOUR, resolution=Resolution.HOUR))
            for p in points
        },
        "stats": await store.window_stats("ahu1/sat", BASE, BASE + 2 * HOUR),
    }


async def test_a_v1_history_db_migrates_to_v2_and_keeps_samples_and_rollups(
    tmp_path: Path,
) -> None:
    path = tmp_path / "history.db"
    async with HistoryStore(path).running() as store:
        await store.store(_samples())
        before = await _contents(store)
    _downgrade_to_v1(path)

    async with HistoryStore(path).running() as store:
        assert store.schema_version == 2
        after = await _contents(store)
        assert after == before
        assert len(after["raw"]["ahu1/sat"]) == 180  # type: ignore[index]
        # The migrated file keeps working: new samples and a purge that records its floor.
        await store.store([Sample(point_id="ahu1/sat", ts_ms=BASE + 3 * HOUR, value=30.0)])
        purged = await store.purge_raw_batch("ahu1/sat", BASE + HOUR, 1000)
        assert purged > 0
        assert len(await store.samples("ahu1/sat", BASE, BASE + 4 * HOUR)) == 181 - purged

    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
        assert conn.execute("SELECT count(*) FROM raw_floor").fetchone()[0] == 1
    finally:
        conn.close()
