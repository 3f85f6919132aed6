"""Retention: per-selector keep times, bounded batches that let writers in, state at the cutoff."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio.lowlevel
import trio.testing

from opencrate.clock import TrioClock
from opencrate.components.history.config.model import RetentionConfig, RetentionOverride
from opencrate.components.history.service import Resolution, Sample
from opencrate.components.history.sqlite.retention import (
    DAY_MS,
    RetentionPolicy,
    RetentionRule,
    purge,
    run_retention,
)
from opencrate.components.history.sqlite.store import HistoryStore
from opencrate.errors import InvalidInput

BASE = 1_699_999_200_000
MIN = 60_000


@pytest.fixture
async def history(tmp_path: Path) -> AsyncIterator[HistoryStore]:
    async with HistoryStore(tmp_path / "history.db").running() as store:
        yield store


def minutes(point: str, start: int, n: int, value: float = 1.0) -> list[Sample]:
    return [Sample(point_id=point, ts_ms=start + i * MIN, value=value + i % 3) for i in range(n)]


async def count(store: HistoryStore, table: str, point: str) -> int:
    def fn(conn: sqlite3.Connection) -> int:
        return int(
            conn.execute(
                f"SELECT count(*) FROM {table} t JOIN point p ON p.key = t.point_key "
                "WHERE p.point_id = ?",
                (point,),
            ).fetchone()[0]
        )

    return await store.read(fn)


async def test_raw_goes_in_batches_rollups_stay_and_the_state_at_the_cutoff_is_kept(
    history: HistoryStore,
) -> None:
    await history.store(minutes("p", BASE, 600))  # 10 hours
    now = BASE + 600 * MIN
    before = await history.weighted_stats("p", now - 2 * 3_600_000, now)
    policy = RetentionPolicy(
        rules=[RetentionRule(selector="*", raw_ms=3 * 3_600_000)], batch_rows=50
    )
    report = await purge(history, policy, now)
    cutoff = now - 3 * 3_600_000
    # Everything before the cutoff went except the newest sample before it.
    assert report.samples_deleted == 420 - 1
    assert report.batches >= 420 // 50
    oldest = await history.next_sample("p", 0)
    assert oldest is not None
    assert oldest.ts_ms == cutoff - MIN
    assert await history.weighted_stats("p", now - 2 * 3_600_000, now) == before
    # The state at the cutoff is still known, so a window starting there is exact.
    at_cutoff = await history.weighted_stats("p", cutoff, now)
    assert at_cutoff is not None
    assert at_cutoff.duration_ms == now - cutoff
    # Rollups were not touched: 10 hourly windows (9 closed + the open one).
    hourly = await history.query("p", BASE, now, resolution=Resolution.HOUR)
    assert [b.count for b in hourly.buckets[:7]] == [60] * 7


async def test_late_samples_and_removals_before_the_cutoff_keep_the_rollups(
    history: HistoryStore,
) -> None:
    # Past a purge the rollups are the only record: recomputing a window from
    # the raw samples left there wiped it (an hour of 60 samples became 1).
    await history.store(minutes("p", BASE, 600))
    now = BASE + 600 * MIN
    policy = RetentionPolicy(rules=[RetentionRule(selector="*", raw_ms=3 * 3_600_000)])
    await purge(history, policy, now)
    cutoff = now - 3 * 3_600_000

    async def counts() -> tuple[list[int], list[int]]:
        hourly = await history.query("p", BASE, now, resolution=Resolution.HOUR)
        five = await history.query("p", BASE, BASE + 3_600_000, resolution=Resolution.FIVE_MIN)
        return [b.count for b in hourly.buckets], [b.count for b in five.buckets]

    before = await counts()
    assert before[0][:7] == [60] * 7
    await history.store([Sample(point_id="p", ts_ms=BASE + 30 * MIN + 1, value=5.0)])
    assert await history.remove("p", cutoff - MIN, cutoff - MIN) == 1
    assert await counts() == before
    # Past the cutoff, raw samples are complete and windows are recomputed as before.
    await history.store([Sample(point_id="p", ts_ms=cutoff + 30 * MIN + 1, value=5.0)])
    hourly = await history.query("p", cutoff, cutoff + 3_600_000, resolution=Resolution.HOUR)
    assert hourly.buckets[0].count == 61


async def test_a_window_still_open_keeps_its_raw_samples(tmp_path: Path) -> None:
    # A point gone quiet: its hour [1 h, 2 h) stays open past the cutoff. Its raw
    # samples went, so a late sample (or a restart) recomputed it from the half left.
    path = tmp_path / "history.db"
    now = BASE + 120 * MIN
    policy = RetentionPolicy(rules=[RetentionRule(selector="*", raw_ms=30 * MIN)])
    async with HistoryStore(path).running() as store:
        await store.store(minutes("p", BASE, 120))
        await purge(store, policy, now)
        await store.store([Sample(point_id="p", ts_ms=BASE + 100 * MIN + 1, value=1.0)])
    async with HistoryStore(path).running() as store:
        await store.store([Sample(point_id="p", ts_ms=BASE + 180 * MIN, value=1.0)])
        hourly = await store.query("p", BASE, BASE + 2 * 3_600_000 - 1, resolution=Resolution.HOUR)
        assert [b.count for b in hourly.buckets] == [60, 61]


async def test_rollup_tiers_have_their_own_keep_times(history: HistoryStore) -> None:
    await history.store(minutes("p", BASE, 24 * 60))
    now = BASE + 2 * DAY_MS
    rule = RetentionRule(
        selector="p", rollup_ms={Resolution.FIVE_MIN: DAY_MS + 3_600_000, Resolution.HOUR: None}
    )
    report = await purge(history, RetentionPolicy(rules=[rule]), now)
    assert report.samples_deleted == 0
    # 5-min windows ending by now - 25 h (the first 23 hours) went; hourly ones all stay.
    assert report.rollup_rows_deleted == 23 * 12
    assert await count(history, "rollup_5m", "p") == 24 * 12 - 1 - 23 * 12
    assert await count(history, "rollup_1h", "p") == 23


async def test_first_matching_rule_wins_and_unmatched_points_are_kept(
    history: HistoryStore,
) -> None:
    for point in ("1001/sat", "1001/rat", "2002/sat", "other"):
        await history.store(minutes(point, BASE, 100))
    now = BASE + 100 * MIN
    policy = RetentionPolicy(
        rules=[
            RetentionRule(selector="1001/rat", raw_ms=None),
            RetentionRule(selector="1001/*", raw_ms=10 * MIN),
            RetentionRule(selector="2002/sat", raw_ms=50 * MIN),
        ]
    )
    await purge(history, policy, now)
    # The open hour [60, 100) keeps its 40 samples (it is recomputed from them),
    # and the state in force when it began stays: 10 minutes alone would be 11.
    assert await count(history, "sample", "1001/sat") == 41
    assert await count(history, "sample", "1001/rat") == 100
    assert await count(history, "sample", "2002/sat") == 51
    assert await count(history, "sample", "other") == 100


async def test_writers_are_not_held_up_by_a_long_purge(history: HistoryStore) -> None:
    await history.store(minutes("old", BASE, 3000))
    now = BASE + 3000 * MIN
    policy = RetentionPolicy(rules=[RetentionRule(selector="old", raw_ms=MIN)], batch_rows=20)
    order: list[str] = []

    async def purging() -> None:
        await purge(history, policy, now)
        order.append("purge done")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(purging)
        await trio.lowlevel.checkpoint()
        await history.store([Sample(point_id="new", ts_ms=now, value=1.0)])
        order.append("write done")
    assert order == ["write done", "purge done"]
    assert history.statistics().max_batch_size < 20


def test_policy_from_config_expands_rules_in_order_then_the_defaults() -> None:
    config = RetentionConfig(
        keep={"raw": 30 * DAY_MS, "5m": 400 * DAY_MS},
        rules=(
            RetentionOverride(points=("1001/rat", "1002/rat"), keep={"raw": None, "rollups": None}),
            RetentionOverride(points=("1001/*",), keep={"raw": 7 * DAY_MS}),
        ),
        batch_rows=500,
    )
    policy = RetentionPolicy.from_config(config)
    assert policy.batch_rows == 500
    assert [r.selector for r in policy.rules] == ["1001/rat", "1002/rat", "1001/*", "*"]
    assert policy.rule_for("1002/rat") == policy.rules[1]
    rat = policy.rule_for("1001/rat")
    assert rat is not None
    assert rat.raw_ms is None
    assert rat.rollup_ms == {Resolution.FIVE_MIN: None, Resolution.HOUR: None}
    sat = policy.rule_for("1001/sat")
    assert sat is not None
    assert sat.raw_ms == 7 * DAY_MS
    assert sat.rollup_ms == {Resolution.FIVE_MIN: 400 * DAY_MS, Resolution.HOUR: None}
    other = policy.rule_for("2002/sat")
    assert other is not None
    assert other.raw_ms == 30 * DAY_MS
    # Nothing to expire: no rules at all, so every point is kept.
    assert RetentionPolicy.from_config(RetentionConfig()).rules == ()
    with pytest.raises(InvalidInput, match="positive"):
        RetentionRule(selector="*", raw_ms=-5)


async def test_run_retention_purges_periodically(
    history: HistoryStore, mock_clock: trio.testing.MockClock
) -> None:
    # Virtual time moves only when we jump it (autojump would also jump while a
    # store command waits on its thread, making the schedule a race).
    clock = TrioClock(start_ms=BASE + 2 * DAY_MS)
    await history.store(minutes("p", BASE, 10))
    policy = RetentionPolicy(rules=[RetentionRule(selector="*", raw_ms=DAY_MS)])

    async def wait_for_samples(n: int) -> None:
        with trio.fail_after(5):  # never reached: virtual time stands still
            while await count(history, "sample", "p") != n:
                await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_retention, history, policy, clock)
        await wait_for_samples(1)  # the first pass: all but the state at the cutoff
        # Samples that are already old when written wait for the next pass.
        await history.store(minutes("p", clock.now_ms() - DAY_MS - 30 * MIN, 2))
        mock_clock.jump(1800)
        await trio.testing.wait_all_tasks_blocked()
        assert await count(history, "sample", "p") == 3
        mock_clock.jump(1800)
        await wait_for_samples(1)
        nursery.cancel_scope.cancel()


def test_the_store_does_not_import_retention() -> None:
    # retention -> store -> deletes: importing the store alone must not pull
    # retention in (the circle there was before, held open by a deferred import).
    code = (
        "import sys, opencrate.components.history.sqlite.store\n"
        "assert 'opencrate.components.history.sqlite.retention' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
