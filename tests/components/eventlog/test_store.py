from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import trio
import trio.testing

from opencrate.clock import TrioClock
from opencrate.components.eventlog.records import (
    Acknowledgement,
    EventLevel,
    EventQuery,
    NewEvent,
)
from opencrate.components.eventlog.store import EventLogStore
from opencrate.components.eventlog.tables import FIXED_TABLES, TableKind, table_no_of
from opencrate.errors import InvalidInput, NotFound
from opencrate.runtime.records import to_json

T0 = 1_700_000_000_000
DAY = 86_400_000


def ev(
    context: str = "1001/ai-1",
    name: str = "StatusChanged",
    *,
    at: int = T0,
    ttl: int = DAY,
    level: str = "notice",
    data: dict[str, object] | None = None,
) -> NewEvent:
    return NewEvent(
        context=context,
        name=name,
        created_ms=at,
        expires_ms=at + ttl,
        level=level,
        data={"new_status": "fault"} if data is None else data,
    )


async def test_record_and_get_round_trip_every_field(tmp_path: Path, clock: TrioClock) -> None:
    async with EventLogStore(tmp_path / "events.db", clock=clock).running() as store:
        event = NewEvent(
            context="main-office",
            name="ScheduleWritten",
            created_ms=T0,
            expires_ms=T0 + DAY,
            level=EventLevel.INFO,
            data={"value": 21.5, "schedule_id": "s1"},
            permissions="operator",
            format="schedule-v1",
        )
        recorded = await store.record(event, TableKind.GENERAL)
        got = await store.get(recorded.id)

    assert recorded.count == 1
    assert not recorded.deduplicated
    assert got.id == recorded.id
    assert got.table == "general"
    assert (got.context, got.name, got.level) == ("main-office", "ScheduleWritten", EventLevel.INFO)
    assert (got.created_ms, got.first_ms, got.expires_ms) == (T0, T0, T0 + DAY)
    assert (got.permissions, got.format) == ("operator", "schedule-v1")
    assert got.count == 1
    assert got.acknowledgements == ()
    assert got.enrichments == ()
    assert got.data == {"schedule_id": "s1", "value": 21.5}
    assert to_json(got)["level"] == "info"
    assert to_json(got)["created"] == "2023-11-14T22:13:20.000Z"


async def test_identical_open_event_increments_count_instead_of_inserting(
    tmp_path: Path, clock: TrioClock
) -> None:
    async with EventLogStore(tmp_path / "events.db", clock=clock).running() as store:
        first = await store.record(ev(at=T0), TableKind.ALERT)
        second = await store.record(ev(at=T0 + 5000), TableKind.ALERT)
        third = await store.record(ev(at=T0 + 9000), TableKind.ALERT)
        # Different data, level or context: new rows.
        other_data = await store.record(ev(at=T0 + 9000, data={"x": 1}), TableKind.ALERT)
        other_level = await store.record(ev(at=T0 + 9000, level="error"), TableKind.ALERT)
        other_ctx = await store.record(ev("1001/ai-2", at=T0 + 9000), TableKind.ALERT)
        row = await store.get(first.id)
        total = await store.count()

    assert second.id == third.id == first.id
    assert (second.count, third.count) == (2, 3)
    assert third.deduplicated
    assert len({first.id, other_data.id, other_level.id, other_ctx.id}) == 4
    assert row.count == 3
    assert row.first_ms == T0
    assert row.created_ms == T0 + 9000  # the last occurrence
    assert row.expires_ms == T0 + 9000 + DAY  # lives on from the last occurrence
    assert total == 4


@pytest.mark.parametrize("field", ["created_ms", "expires_ms"])
def test_times_beyond_sqlite_integers_are_refused(field: str) -> None:
    # Recording one raised a bare OverflowError from sqlite3.
    times = {"created_ms": T0, "expires_ms": 1 << 63}
    if field == "created_ms":
        times = {"created_ms": 1 << 63, "expires_ms": (1 << 63) + 1}
    with pytest.raises(InvalidInput, match=field):
        NewEvent(context="hq", name="n", level="info", **times)


@pytest.mark.parametrize("field", ["name", "permissions", "format"])
def test_control_characters_in_short_texts_are_refused(field: str) -> None:
    # A NUL let ("a\0b", "c") and ("a", "b\0c") share one dedup key, so events
    # with different permissions were merged into one row.
    kwargs: dict[str, object] = {"name": "n", "permissions": "p", "format": "f"}
    kwargs[field] = "a\x00b"
    with pytest.raises(InvalidInput, match=field):
        NewEvent(context="hq", created_ms=T0, expires_ms=T0 + DAY, level="info", **kwargs)  # type: ignore[arg-type]


async def test_a_duplicate_arriving_out_of_order_keeps_first_and_last_times(
    tmp_path: Path, clock: TrioClock
) -> None:
    async with EventLogStore(tmp_path / "events.db", clock=clock).running() as store:
        first = await store.record(ev(at=T0 + 5000), TableKind.ALERT)
        await store.record(ev(at=T0), TableKind.ALERT)  # happened earlier, arrived later
        row = await store.get(first.id)
    assert row.count == 2
    assert row.first_ms == T0  # was T0 + 5000: the earlier occurrence was lost
    assert row.created_ms == T0 + 5000


async def test_acknowledged_or_expired_event_is_closed_so_a_repeat_starts_a_new_row(
    tmp_path: Path, clock: TrioClock, autojump_clock: trio.testing.MockClock
) -> None:
    async with EventLogStore(tmp_path / "events.db", clock=clock).running() as store:
        first = await store.record(ev(at=T0, ttl=1000), TableKind.ALERT)
        acked = await store.acknowledge(first.id, user="alice", comment="on it")
        after_ack = await store.record(ev(at=T0 + 10, ttl=1000), TableKind.ALERT)
        after_expiry = await store.record(ev(at=T0 + 2000, ttl=1000), TableKind.ALERT)

    assert acked.acknowledgements == (
        Acknowledgement(user="alice", ts_ms=clock.now_ms(), comment="on it"),
    )
    assert after_ack.id != first.id
    assert after_ack.count == 1
    assert after_expiry.id not in (first.id, after_ack.id)
    assert after_expiry.count == 1


async def test_events_are_routed_to_their_tables_and_ids_are_unique_across_tables(
    tmp_path: Path, clock: TrioClock
) -> None:
    async with EventLogStore(tmp_path / "events.db", clock=clock).running() as store:
        results = await store.record_many(
            [
                (ev("1001/ai-1", "StatusChanged", at=T0), TableKind.CHANGE),
                (ev("1002/ai-1", "StatusChanged", at=T0), TableKind.CHANGE),
                (ev("1001/ai-2", "StatusChanged", at=T0), TableKind.CHANGE),
                (ev("1001", "DeviceDown", at=T0), TableKind.ALERT),
                (ev("site", "EntityCreated", at=T0), TableKind.INFO),
                (ev("site", "ScheduleWritten", at=T0), TableKind.GENERAL),
            ]
        )
        tables = await store.tables()
        records = [await store.get(r.id) for r in results]

    by_no = {t.no: t for t in tables}
    assert sorted(t.kind.value for t in tables) == [
        "alert",
        "change",
        "change",
        "general",
        "info",
    ]
    assert [r.table for r in records] == ["change", "change", "change", "alert", "info", "general"]
    assert len({r.id for r in results}) == 6
    # The low bits of an id name its table; device 1001's two points share one table.
    assert by_no[table_no_of(results[0].id)].device == "1001"
    assert by_no[table_no_of(results[1].id)].device == "1002"
    assert table_no_of(results[0].id) == table_no_of(results[2].id)


async def test_enrich_appends_name_value_author_time(
    tmp_path: Path, clock: TrioClock, autojump_clock: trio.testing.MockClock
) -> None:
    async with EventLogStore(tmp_path / "events.db", clock=clock).running() as store:
        r = await store.record(ev(), TableKind.CHANGE)
        await store.enrich(r.id, name="ticket", value="INC-42", author="bob")
        got = await store.enrich(r.id, name="diagnosis", value={"cause": "belt"}, author="eve")
        with pytest.raises(NotFound):
            await store.enrich(r.id + (1 << 16), name="x", value=1, author="bob")
        with pytest.raises(InvalidInput, match="value"):
            await store.enrich(r.id, name="x", value=object(), author="bob")
        with pytest.raises(InvalidInput, match="author"):
            await store.enrich(r.id, name="x", value=1, author="")

    assert [(e.name, e.value, e.author) for e in got.enrichments] == [
        ("ticket", "INC-42", "bob"),
        ("diagnosis", {"cause": "belt"}, "eve"),
    ]
    assert all(e.ts_ms == clock.now_ms() for e in got.enrichments)


async def test_ack_unknown_ids_and_bad_input_are_refused_and_change_nothing(
    tmp_path: Path, clock: TrioClock
) -> None:
    async with EventLogStore(tmp_path / "events.db", clock=clock).running() as store:
        r = await store.record(ev(), TableKind.ALERT)
        before = await store.get(r.id)
        with pytest.raises(NotFound):
            await store.acknowledge(r.id + (1 << 16), user="alice")  # same table, other seq
        with pytest.raises(NotFound):
            await store.acknowledge((r.id & ~0xFFFF) | 999, user="alice")  # no such table
        with pytest.raises(InvalidInput, match="user"):
            await store.acknowledge(r.id, user=" ")
        with pytest.raises(InvalidInput, match="event id"):
            await store.acknowledge(0, user="alice")
        # Beyond SQLite's 64-bit integers: a bare OverflowError from the worker before.
        beyond = (1 << 70) | FIXED_TABLES[TableKind.ALERT].no
        with pytest.raises(InvalidInput, match="event id"):
            await store.acknowledge(beyond, user="alice")
        with pytest.raises(InvalidInput, match="event id"):
            await store.get(beyond)
        with pytest.raises(InvalidInput, match="event id"):
            await store.enrich(beyond, name="n", value=1, author="a")
        after = await store.get(r.id)
    assert after == before


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"context": ""}, "context must not be empty"),
        ({"context": "a//b"}, "empty segment"),
        ({"name": ""}, "name"),
        ({"level": "loud"}, "unknown event level"),
        ({"expires_ms": T0 - 1}, "expires_ms must be after"),
        ({"data": {"x": float("nan")}}, "data is not JSON"),
        ({"data": [1, 2]}, "data must be a JSON object"),
        ({"permissions": ""}, "permissions"),
    ],
)
def test_new_event_validation_names_the_field(kwargs: dict[str, object], match: str) -> None:
    base: dict[str, object] = {
        "context": "1001/ai-1",
        "name": "StatusChanged",
        "created_ms": T0,
        "expires_ms": T0 + DAY,
        "level": "info",
    }
    with pytest.raises(InvalidInput, match=match):
        NewEvent(**{**base, **kwargs})  # type: ignore[arg-type]


async def test_batch_with_a_refused_event_writes_nothing(tmp_path: Path, clock: TrioClock) -> None:
    async with EventLogStore(tmp_path / "events.db", clock=clock).running() as store:
        await store.record(ev("site", "EntityCreated"), TableKind.INFO)
        with pytest.raises(InvalidInput):
            await store.record_many(
                [(ev("1003/ai-1"), TableKind.CHANGE), ("not an event", TableKind.INFO)]  # type: ignore[list-item]
            )
        assert await store.count() == 1
        assert [t.device for t in await store.tables() if t.device] == []


async def test_deleting_a_node_deletes_its_events_from_every_table(
    tmp_path: Path, clock: TrioClock
) -> None:
    async with EventLogStore(tmp_path / "events.db", clock=clock).running() as store:
        await store.record_many(
            [
                (ev("1001/ai-1"), TableKind.CHANGE),
                (ev("1001/ai-2"), TableKind.CHANGE),
                (ev("1001", "DeviceDown"), TableKind.ALERT),
                (ev("1001/ai-1", "AlarmRaised"), TableKind.ALERT),
                (ev("1001", "EntityCreated"), TableKind.INFO),
                (ev("10011", "EntityCreated"), TableKind.INFO),  # a different device
                (ev("1002/ai-1"), TableKind.CHANGE),
                (ev("1001-b/x", "ScheduleWritten"), TableKind.GENERAL),  # shares a prefix only
            ]
        )
        point_removed = await store.delete_context("1001/ai-2")
        device_removed = await store.delete_context("1001")
        left = [(e.context, e.name) async for e in store.iter_events(EventQuery())]
        devices = sorted(t.device for t in await store.tables() if t.device)

    assert point_removed == 1
    assert device_removed == 4
    assert sorted(left) == [
        ("1001-b/x", "ScheduleWritten"),
        ("10011", "EntityCreated"),
        ("1002/ai-1", "StatusChanged"),
    ]
    assert devices == ["1002"]  # change table of 1001 dropped


async def test_recreated_device_gets_a_fresh_table_and_old_ids_stay_gone(
    tmp_path: Path, clock: TrioClock
) -> None:
    async with EventLogStore(tmp_path / "events.db", clock=clock).running() as store:
        old = await store.record(ev("1001/ai-1"), TableKind.CHANGE)
        await store.delete_context("1001")
        new = await store.record(ev("1001/ai-1"), TableKind.CHANGE)
        with pytest.raises(NotFound):
            await store.get(old.id)
        assert (await store.get(new.id)).count == 1
    assert table_no_of(old.id) == table_no_of(new.id)  # the number is reused, the id is not
    assert new.id != old.id


async def test_ids_and_tables_survive_a_restart(tmp_path: Path, clock: TrioClock) -> None:
    path = tmp_path / "events.db"
    async with EventLogStore(path, clock=clock).running() as store:
        a = await store.record(ev("1001/ai-1"), TableKind.CHANGE)
        b = await store.record(ev("1001/ai-1", data={"v": 2}), TableKind.CHANGE)
        await store.purge_expired(now_ms=T0 + 2 * DAY)  # both gone: the sequence must not rewind
    async with EventLogStore(path, clock=clock).running() as store:
        c = await store.record(ev("1001/ai-1"), TableKind.CHANGE)
        d = await store.record(ev("1001/ai-9", data={"v": 3}), TableKind.CHANGE)
        assert [t.device for t in await store.tables() if t.device] == ["1001"]
    assert len({a.id, b.id, c.id, d.id}) == 4
    assert c.id > b.id


async def test_purge_deletes_only_expired_rows_in_bounded_batches(
    tmp_path: Path, clock: TrioClock
) -> None:
    async with EventLogStore(tmp_path / "events.db", clock=clock).running() as store:
        batch = [
            (ev(f"10{i % 3}/p{i}", at=T0 + i, ttl=1000 if i % 2 else 10 * DAY), TableKind.CHANGE)
            for i in range(50)
        ] + [
            (ev("site", "EntityCreated", at=T0 + i, ttl=1000, data={"i": i}), TableKind.INFO)
            for i in range(7)
        ]
        await store.record_many(batch)
        expired = await store.count_expired(now_ms=T0 + DAY)
        first = await store.purge_expired(now_ms=T0 + DAY, batch=10)
        sizes = [first]
        while sizes[-1] == 10:
            sizes.append(await store.purge_expired(now_ms=T0 + DAY, batch=10))
        with pytest.raises(InvalidInput, match="batch"):
            await store.purge_expired(batch=0)
        remaining = await store.count()

    assert sum(expired.values()) == 25 + 7
    assert expired["event_info"] == 7
    assert sizes == [10, 10, 10, 2]
    assert remaining == 25


async def test_corrupt_registry_name_is_refused_not_executed(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    async with EventLogStore(path).running():
        pass
    # Someone tampers with the registry by hand.
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(
        "INSERT INTO event_table (no, kind, device, name) "
        "VALUES (20, 'change', 'x', 'change_x\"; DROP TABLE event_info; --')"
    )
    conn.close()
    from opencrate.errors import StoreError

    async with EventLogStore(path).running() as store:
        with pytest.raises(StoreError, match="unsafe event table name"):
            await store.count()
    conn = sqlite3.connect(path)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert "event_info" in names


async def test_closed_store_refuses(tmp_path: Path) -> None:
    from opencrate.errors import StoreClosed

    store = EventLogStore(tmp_path / "events.db")
    async with store.running():
        pass
    with pytest.raises(StoreClosed):
        await store.record(ev(), TableKind.INFO)
