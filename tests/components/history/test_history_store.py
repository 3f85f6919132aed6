"""HistoryStore: layout, typed values, upserts, paging, bad input, reopening."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opencrate.components.history.service import PersistenceService, Resolution, Sample
from opencrate.components.history.sqlite.store import HistoryStore
from opencrate.errors import Conflict, InvalidInput
from opencrate.model.values import PointValue, ValueKind

BASE = 1_699_999_200_000  # on an hour boundary


@pytest.fixture
async def history(tmp_path: Path) -> AsyncIterator[HistoryStore]:
    async with HistoryStore(tmp_path / "history.db").running() as store:
        yield store


def s(point: str, ts: int, value: PointValue) -> Sample:
    return Sample(point_id=point, ts_ms=ts, value=value)


async def test_is_a_persistence_service(history: HistoryStore) -> None:
    assert isinstance(history, PersistenceService)
    assert history.service_id == "sqlite"


async def test_layout_is_a_point_dictionary_and_a_without_rowid_sample_table(
    history: HistoryStore, tmp_path: Path
) -> None:
    await history.store([s("a/1", BASE, 21.5), s("a/2", BASE, True), s("a/3", BASE, "auto")])
    conn = sqlite3.connect(tmp_path / "history.db")
    try:
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'sample'").fetchone()[0]
        assert "WITHOUT ROWID" in sql
        assert conn.execute("SELECT point_id, kind FROM point ORDER BY key").fetchall() == [
            ("a/1", "number"),
            ("a/2", "bool"),
            ("a/3", "str"),
        ]
        types = conn.execute(
            "SELECT p.point_id, typeof(s.value) FROM sample s JOIN point p ON p.key = s.point_key "
            "ORDER BY p.key"
        ).fetchall()
        assert types == [("a/1", "real"), ("a/2", "integer"), ("a/3", "text")]
    finally:
        conn.close()


async def test_same_timestamp_updates_in_place(history: HistoryStore) -> None:
    await history.store([s("p", BASE, 1.0), s("p", BASE + 1000, 2.0)])
    await history.store([s("p", BASE, 5.0)])
    page = await history.query("p", BASE, BASE + 1000)
    assert [(x.ts_ms, x.value) for x in page.samples] == [(BASE, 5.0), (BASE + 1000, 2.0)]
    assert (await history.window_stats("p", BASE, BASE + 1000)).count == 2
    # Within one batch too, the later of two samples at the same ms wins.
    await history.store([s("p", BASE + 1000, 7.0), s("q", BASE, "a"), s("p", BASE + 1000, 8.0)])
    latest = await history.state_at("p", BASE + 1000)
    assert latest is not None
    assert latest.value == 8.0


_values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(2**63), 2**63 - 1),
    st.booleans(),
    # NUL is refused (test_bad_sample_stores_nothing_of_its_batch...): not a value.
    st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=20),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    values=st.lists(_values, min_size=1, max_size=10), kind=st.sampled_from(["f", "i", "b", "t"])
)
async def test_values_round_trip_with_their_type(
    tmp_path: Path, values: list[PointValue], kind: str
) -> None:
    # One point per value kind (a point's kind tells booleans from integers).
    wanted = {"f": float, "i": int, "b": bool, "t": str}[kind]
    values = [v for v in values if type(v) is wanted] or [
        {"f": 0.5, "i": 7, "b": False, "t": ""}[kind]
    ]
    async with HistoryStore(tmp_path / "history.db").running() as store:
        point = f"p-{kind}-{len(await store.point_ids())}"
        await store.store([s(point, BASE + i, v) for i, v in enumerate(values)])
        got = (await store.query(point, BASE, BASE + len(values))).samples
    assert [(type(x.value), x.value) for x in got] == [(type(v), v) for v in values]


async def test_bad_sample_stores_nothing_of_its_batch_and_keeps_old_data(
    history: HistoryStore,
) -> None:
    await history.store([s("p", BASE, 1.0)])
    bad_batches = [
        ([s("p", BASE + 1, 2.0), s("p", BASE + 2, float("nan"))], "finite"),
        ([s("p", BASE + 1, 2.0), s("", BASE + 2, 1.0)], "no point id"),
        # Past 64 bits: was a bare OverflowError from sqlite3 (a 500 at the API).
        ([s("p", BASE + 1, 2.0), s("p", 2**63, 1.0)], "storable range"),
        # Stored, it broke every page showing it (ms_to_iso cannot name year 146 million).
        ([s("p", BASE + 1, 2.0), s("p", 2**62, 1.0)], "storable range"),
        ([s("p", BASE + 1, 2.0), s("p", BASE + 2, "a\x00b")], "NUL"),
        ([s("p", BASE + 1, 2.0), s("p", BASE + 2, "a\ud800b")], "not Unicode text"),
        ([s("p", BASE + 1, 2.0), s("p", BASE + 2, 2**70)], "64-bit"),
        ([s("p", BASE + 1, 2.0), Sample(point_id="p", ts_ms="soon", value=1.0)], "ts_ms"),  # type: ignore[arg-type]
        ([s("p", BASE + 1, [1, 2])], "number, boolean or string"),  # type: ignore[arg-type]
    ]
    for batch, message in bad_batches:
        with pytest.raises(InvalidInput, match=message):
            await history.store(batch)
    page = await history.query("p", BASE - 10, BASE + 10)
    assert [(x.ts_ms, x.value) for x in page.samples] == [(BASE, 1.0)]
    with pytest.raises(InvalidInput, match="after it ends"):
        await history.query("p", BASE, BASE - 1)
    with pytest.raises(InvalidInput, match="not kept"):
        await HistoryStore(Path("unused.db"), tiers=(Resolution.HOUR,)).query(
            "p", BASE, BASE + 1, resolution=Resolution.FIVE_MIN
        )


async def test_raw_pages_follow_next_ms_both_ways(history: HistoryStore) -> None:
    await history.store([s("p", BASE + i * 1000, float(i)) for i in range(25)])
    seen: list[int] = []
    begin = BASE
    while True:
        page = await history.query("p", begin, BASE + 60_000, limit=10)
        seen += [x.ts_ms for x in page.samples]
        if page.next_ms is None:
            break
        begin = page.next_ms
    assert seen == [BASE + i * 1000 for i in range(25)]
    page = await history.query("p", BASE, BASE + 60_000, limit=3, descending=True)
    assert [x.value for x in page.samples] == [24.0, 23.0, 22.0]
    assert page.next_ms == BASE + 21_000


async def test_rollup_pages_and_auto_resolution(history: HistoryStore) -> None:
    # One sample a minute for 3 days: 72 hourly windows.
    await history.store([s("p", BASE + i * 60_000, float(i % 60)) for i in range(3 * 24 * 60)])
    end = BASE + 3 * 86_400_000 - 1
    hourly = await history.query("p", BASE, end, resolution=Resolution.HOUR)
    assert hourly.resolution is Resolution.HOUR
    assert len(hourly.buckets) == 72
    first = hourly.buckets[0]
    assert (first.count, first.min, first.max, first.sum) == (60, 0.0, 59.0, float(sum(range(60))))
    assert first.mean == pytest.approx(29.5)  # each value held one minute
    # The newest window is still open: computed from raw samples on the fly.
    assert hourly.buckets[-1].count == 60
    assert [x.value for x in hourly.samples] == [b.mean for b in hourly.buckets]
    assert (
        await history.query("p", BASE, BASE + 3_600_000, resolution=Resolution.AUTO)
    ).resolution is Resolution.RAW
    five = await history.query("p", BASE, end, resolution=Resolution.AUTO)
    assert five.resolution is Resolution.FIVE_MIN
    assert len(five.buckets) == 3 * 24 * 12


async def test_last_states_and_reopen_keep_everything(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    async with HistoryStore(path).running() as store:
        await store.store([s("a", BASE, 1.0), s("a", BASE + 5, 2.0), s("b", BASE + 1, "x")])
        before = await store.last_states()
    async with HistoryStore(path).running() as store:
        assert await store.last_states() == before
        assert before == {"a": s("a", BASE + 5, 2.0), "b": s("b", BASE + 1, "x")}
        assert await store.last_states(["b", "missing"]) == {"b": s("b", BASE + 1, "x")}
        stats = store.statistics()
        assert stats.detail.points == 2
        assert stats.schema_version == 2


async def test_remove_deletes_the_range_only(history: HistoryStore) -> None:
    await history.store([s("p", BASE + i, float(i)) for i in range(10)])
    assert await history.remove("p", BASE + 2, BASE + 4) == 3
    assert await history.remove("unknown", BASE, BASE + 10) == 0
    page = await history.query("p", BASE, BASE + 10)
    assert [x.value for x in page.samples] == [0.0, 1.0, 5.0, 6.0, 7.0, 8.0, 9.0]


async def test_numeric_history_takes_at_most_30_bytes_per_sample(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    n = 20_000
    async with HistoryStore(path).running() as store:
        for point in range(10):
            await store.store(
                [s(f"dev/{point}", BASE + i * 60_000, 20.0 + (i % 97) / 7) for i in range(n // 10)]
            )
    conn = sqlite3.connect(path)
    try:
        (size,) = conn.execute(
            "SELECT sum(pgsize) FROM dbstat WHERE name IN ('sample', 'sqlite_autoindex_sample_1')"
        ).fetchone()
    finally:
        conn.close()
    assert size / n <= 30


async def test_a_failed_write_leaves_no_trace_in_the_file_or_the_caches(tmp_path: Path) -> None:
    # A real SQLite failure in the middle of a batch: a trigger refuses one value.
    path = tmp_path / "history.db"
    async with HistoryStore(path).running() as store:
        await store.store([s("p", BASE + i * 60_000, float(i)) for i in range(12)])
        conn = sqlite3.connect(path)
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON sample WHEN NEW.value = 'boom' "
            "BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
        conn.commit()
        # The batch would close two 5-minute windows of p before the failing row.
        batch = [s("p", BASE + i * 60_000, 1.0) for i in range(12, 24)] + [s("q", BASE, "boom")]
        with pytest.raises(Conflict, match="refused"):  # the actor maps IntegrityError
            await store.store(batch)
        conn.execute("DROP TRIGGER refuse")
        conn.commit()
        conn.close()
        assert (await store.window_stats("p", BASE, BASE + 86_400_000)).count == 12
        assert await store.last_states() == {"p": s("p", BASE + 11 * 60_000, 11.0)}
        # Writing goes on from what is committed: the same samples now succeed.
        await store.store(batch[:-1])
        hourly = await store.query("p", BASE, BASE + 3_600_000, resolution=Resolution.FIVE_MIN)
        assert [b.count for b in hourly.buckets] == [5, 5, 5, 5, 4]
        assert [b.sum for b in hourly.buckets] == [10.0, 35.0, 24.0, 5.0, 4.0]


async def test_reloading_the_caches_never_shows_the_trio_thread_an_empty_point_map(
    tmp_path: Path,
) -> None:
    # A resync reloads the caches in the worker thread while trio reads them
    # (point_ids, query, last_states). Watch them from inside the reload's own
    # SQLite steps: that is what another thread can see at those moments.
    path = tmp_path / "history.db"
    async with HistoryStore(path).running() as store:
        await store.store([s("a", BASE, True), s("b", BASE, 1.5)])
        seen: list[tuple[list[str], object]] = []
        conn = sqlite3.connect(path)
        try:

            def watch() -> int:
                seen.append((sorted(store._keys), store._kinds.get(store._keys.get("a", -1))))
                return 0

            conn.set_progress_handler(watch, 1)
            store._load_caches(conn)
        finally:
            conn.close()
        assert seen
        assert {(tuple(ids), kind) for ids, kind in seen} == {(("a", "b"), ValueKind.BOOL)}
        assert await store.point_ids() == ["a", "b"]
