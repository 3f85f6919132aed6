"""Rollup tiers: maintained as samples arrive, equal to a recomputation from raw, back-filled."""

from __future__ import annotations

import itertools
import random
import sqlite3
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opencrate.components.history.service import TIER_WIDTH_MS, Resolution, Sample
from opencrate.components.history.sqlite.rollup_maintenance import RollupMaintainer
from opencrate.components.history.sqlite.rollups import compute_window, rolled_until, rollup_table
from opencrate.components.history.sqlite.store import HistoryStore

BASE = 1_699_999_200_000  # on an hour boundary
_ids = itertools.count()
MIN = 60_000


@pytest.fixture
async def history(tmp_path: Path) -> AsyncIterator[HistoryStore]:
    async with HistoryStore(tmp_path / "history.db").running() as store:
        yield store


def rows_vs_raw(conn: sqlite3.Connection, tier: Resolution) -> list[tuple[Any, Any]]:
    """(stored row, row recomputed from raw) for every closed window with samples."""
    width = TIER_WIDTH_MS[tier]
    pairs = []
    for (key,) in conn.execute("SELECT key FROM point").fetchall():
        until = rolled_until(conn, key, tier)
        starts = [
            s
            for (s,) in conn.execute(
                f"SELECT DISTINCT ts_ms - ts_ms % {width} FROM sample WHERE point_key = ? "
                "AND ts_ms < ?",
                (key, until),
            )
        ]
        stored = {
            row[1]: row
            for row in conn.execute(
                f"SELECT * FROM {rollup_table(tier)} WHERE point_key = ?", (key,)
            ).fetchall()
        }
        assert set(stored) == set(starts)
        pairs += [(stored[s], compute_window(conn, key, s, width).row()) for s in starts]
    return pairs


def same_row(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return all(
        x == pytest.approx(y, rel=1e-9, abs=1e-6) if isinstance(x, float) else x == y
        for x, y in zip(a, b, strict=True)
    )


_offsets = st.one_of(
    st.integers(0, 4 * 3_600_000),
    st.integers(0, 48).map(lambda k: k * 300_000),
)
_series = st.dictionaries(
    _offsets, st.sampled_from([0.0, 1.5, 2.0, -4.0, True, "text"]), max_size=30
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(series=_series, seed=st.integers(0, 1000), shuffle=st.booleans())
async def test_rows_equal_recomputation_from_raw_in_any_write_order(
    tmp_path: Path, series: dict[int, object], seed: int, shuffle: bool
) -> None:
    rnd = random.Random(seed)
    samples = [
        Sample(point_id=f"p{next(_ids)}", ts_ms=BASE + t, value=v)  # type: ignore[arg-type]
        for t, v in sorted(series.items())
    ]
    if shuffle:
        rnd.shuffle(samples)
    async with HistoryStore(tmp_path / "history.db").running() as store:
        while samples:
            cut = rnd.randint(1, len(samples))
            await store.store(samples[:cut])
            samples = samples[cut:]
        for tier in store.tiers:
            for stored, recomputed in await store.read(lambda conn, t=tier: rows_vs_raw(conn, t)):
                assert same_row(stored, recomputed), (tier, stored, recomputed)


async def test_window_mean_includes_the_state_carried_in(history: HistoryStore) -> None:
    # 10 from before the window until 7.5 min, then 20: the window [5, 10) min averages 15.
    await history.store(
        [Sample(point_id="p", ts_ms=BASE, value=10.0),
         Sample(point_id="p", ts_ms=BASE + 7 * MIN + 30_000, value=20.0),
         Sample(point_id="p", ts_ms=BASE + 20 * MIN, value=0.0)]
    )  # fmt: skip
    page = await history.query("p", BASE + 5 * MIN, BASE + 10 * MIN - 1, resolution="5m")  # type: ignore[arg-type]
    (bucket,) = page.buckets
    assert (bucket.start_ms, bucket.count, bucket.mean) == (BASE + 5 * MIN, 1, pytest.approx(15.0))


async def test_open_window_is_written_when_a_later_window_begins(history: HistoryStore) -> None:
    def count_rows(conn: sqlite3.Connection) -> int:
        return int(conn.execute("SELECT count(*) FROM rollup_5m").fetchone()[0])

    await history.store(
        [Sample(point_id="p", ts_ms=BASE + i * MIN, value=float(i)) for i in range(5)]
    )
    assert await history.read(count_rows) == 0  # the window is still open
    await history.store([Sample(point_id="p", ts_ms=BASE + 5 * MIN, value=5.0)])
    assert await history.read(count_rows) == 1


async def test_out_of_order_write_rewrites_its_window_and_the_next_carry(
    history: HistoryStore,
) -> None:
    await history.store([Sample(point_id="p", ts_ms=BASE + i * MIN, value=1.0) for i in range(20)])
    # A late sample at 9.5 min changes window [5, 10) and what [10, 15) starts with.
    await history.store([Sample(point_id="p", ts_ms=BASE + 9 * MIN + 30_000, value=4.0)])
    buckets = (
        await history.query("p", BASE, BASE + 15 * MIN - 1, resolution=Resolution.FIVE_MIN)
    ).buckets
    assert [b.max for b in buckets] == [1.0, 4.0, 1.0]
    assert buckets[1].mean == pytest.approx((4.5 * 1 + 0.5 * 4) / 5)
    avg = await history.weighted_stats("p", BASE, BASE + 15 * MIN)
    assert avg is not None
    assert avg.mean == pytest.approx((14.5 * 1 + 0.5 * 4) / 15)


async def test_windows_missed_while_down_are_back_filled_on_the_first_write(
    tmp_path: Path,
) -> None:
    path = tmp_path / "history.db"
    samples = [Sample(point_id="p", ts_ms=BASE + i * MIN, value=float(i % 7)) for i in range(300)]
    async with HistoryStore(path).running() as store:
        await store.store(samples)
        before = await store.query("p", BASE, BASE + 300 * MIN, resolution=Resolution.HOUR)
    # Lose every rollup row (a crash before rollups existed, or an old file).
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("DELETE FROM rollup_5m")
        conn.execute("DELETE FROM rollup_1h")
    conn.close()
    async with HistoryStore(path).running() as store:
        # Opening does not scan the archive: until the point is written to, its
        # windows are computed from raw samples, with the same answers.
        assert store.statistics().detail.open_windows == 0
        after = await store.query("p", BASE, BASE + 300 * MIN, resolution=Resolution.HOUR)
        assert after.buckets == before.buckets
        five = await store.query("p", BASE, BASE + 300 * MIN, resolution=Resolution.FIVE_MIN)
        assert len(five.buckets) == 60
        # The first write back-fills the missed windows, reopens the newest and
        # resumes in it without counting anything twice.
        await store.store(
            [Sample(point_id="p", ts_ms=BASE + 300 * MIN + i * MIN, value=1.0) for i in range(70)]
        )
        for tier in store.tiers:
            pairs = await store.read(lambda conn, t=tier: rows_vs_raw(conn, t))
            assert pairs
            assert all(same_row(a, b) for a, b in pairs)
        assert (await store.query("p", BASE, BASE + 300 * MIN, resolution=Resolution.HOUR)).buckets[
            :4
        ] == before.buckets[:4]


async def test_tiers_are_configurable(tmp_path: Path) -> None:
    for tiers in ((), (Resolution.HOUR,)):
        async with HistoryStore(tmp_path / f"h{len(tiers)}.db", tiers=tiers).running() as store:
            await store.store(
                [Sample(point_id="p", ts_ms=BASE + i * MIN, value=float(i)) for i in range(180)]
            )
            stats = await store.window_stats("p", BASE, BASE + 180 * MIN)
            assert (stats.count, stats.sum) == (180, float(sum(range(180))))
            five = await store.read(
                lambda c: c.execute("SELECT count(*) FROM rollup_5m").fetchone()[0]
            )
            assert five == 0


async def test_one_batch_spanning_hours_carries_state_into_each_window(
    history: HistoryStore,
) -> None:
    # Regression: the hourly window opened while folding must take the state
    # carried in, even though this batch's rows are not in the table yet.
    await history.store(
        [Sample(point_id="p", ts_ms=BASE + t, value=2.0) for t in (0, 1, 3_900_000, 7_200_000)]
    )
    hourly = await history.query("p", BASE, BASE + 7_199_999, resolution=Resolution.HOUR)
    assert [(b.count, b.mean) for b in hourly.buckets] == [(2, 2.0), (1, 2.0)]
    stats = await history.weighted_stats("p", BASE, BASE + 7_200_000)
    assert stats is not None
    assert stats.duration_ms == 7_200_000
    for tier in history.tiers:
        pairs = await history.read(lambda conn, t=tier: rows_vs_raw(conn, t))
        assert all(same_row(a, b) for a, b in pairs)


def test_open_window_count_is_safe_to_read_while_the_writer_adds_points() -> None:
    # statistics() reads it in the trio thread while the writer thread
    # opens windows for new points; a generator over the live dict raised
    # "dictionary changed size during iteration" (every read, with a short
    # switch interval).
    maintainer = RollupMaintainer((Resolution.FIVE_MIN, Resolution.HOUR))
    for key in range(2000):
        maintainer.open_by_point[key] = [None, None]
    stop = threading.Event()

    def writer() -> None:
        key = 10_000
        while not stop.is_set():
            maintainer.open_by_point[key] = [None, None]
            maintainer.open_by_point.pop(key - 1000, None)
            key += 1

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    thread = threading.Thread(target=writer)
    thread.start()
    try:
        counts = [maintainer.open_windows for _ in range(100)]
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(interval)
    assert counts == [0] * 100


async def test_a_purge_after_reopening_keeps_the_untouched_points_open_windows(
    tmp_path: Path,
) -> None:
    path = tmp_path / "history.db"
    samples = [Sample(point_id="p", ts_ms=BASE + i * MIN, value=float(i % 7)) for i in range(300)]
    async with HistoryStore(path).running() as store:
        await store.store(samples)
        before = await store.query("p", BASE, BASE + 300 * MIN, resolution=Resolution.HOUR)
    async with HistoryStore(path).running() as store:
        # The point went quiet: its open windows (reopened lazily) end before the
        # cutoff and must be written before the raw samples under them go.
        assert await store.purge_raw_batch("p", BASE + 600 * MIN, 10_000) == 299
        after = await store.query("p", BASE, BASE + 300 * MIN, resolution=Resolution.HOUR)
        assert after.buckets == before.buckets
        assert [b.count for b in after.buckets] == [60] * 5
