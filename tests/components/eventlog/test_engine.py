"""The event-log subscriber (rules, routing, dedup, node deletion) and the purge job."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio.testing

from opencrate.clock import TrioClock
from opencrate.components.eventlog.engine import MIN_CAPACITY, EventLogRecorder, EventPurger
from opencrate.components.eventlog.records import EventLevel, EventQuery, NewEvent
from opencrate.components.eventlog.rules import EventLogSettings
from opencrate.components.eventlog.store import EventLogStore
from opencrate.components.eventlog.tables import TableKind
from opencrate.runtime.bus import EventBus
from opencrate.runtime.events import (
    AlarmAcknowledged,
    AlarmRaised,
    DeviceDown,
    DeviceMonitorCycle,
    EntityCreated,
    EntityDeleted,
    Lagged,
    StatusChanged,
    ValueChanged,
)

T0 = 1_700_000_000_000
DAY = 86_400_000


@pytest.fixture
async def store(tmp_path: Path, clock: TrioClock) -> AsyncIterator[EventLogStore]:
    async with EventLogStore(tmp_path / "events.db", clock=clock).running() as running:
        yield running


async def _all(store: EventLogStore, **filters: object) -> list[tuple[str, str, str]]:
    query = EventQuery(**filters)  # type: ignore[arg-type]
    return [(e.table, e.context, e.name) async for e in store.iter_events(query)]


async def test_bus_events_are_persisted_by_rule_and_routed_to_tables(
    store: EventLogStore, bus: EventBus
) -> None:
    recorder = EventLogRecorder(bus, store)
    async with trio.open_nursery() as nursery:
        await nursery.start(recorder.run)
        for event in (
            ValueChanged(ts_ms=T0, node_id="1001/ai-1", value=20.5),  # not persisted by default
            StatusChanged(ts_ms=T0 + 1, node_id="1001/ai-1", old_status="ok", new_status="fault"),
            AlarmRaised(
                ts_ms=T0 + 2, alarm_id=7, node_id="1001/ai-1", severity="critical", message="hot"
            ),
            AlarmAcknowledged(ts_ms=T0 + 3, alarm_id=7, user="alice"),
            DeviceDown(ts_ms=T0 + 4, device_key="1002", protocol="modbus", error="timeout"),
            EntityCreated(ts_ms=T0 + 5, entity_id="floor-2", entity_type="Space"),
            DeviceMonitorCycle(ts_ms=T0 + 6, checked_count=2, online_count=1, offline_count=1),
        ):
            bus.publish(event)
        with trio.fail_after(10):
            await recorder.wait_processed(5)  # every event of a persisted type (not the others)
        assert recorder.statistics().recorded == 5
        nursery.cancel_scope.cancel()

    rows = [e async for e in store.iter_events(EventQuery())]
    assert [(e.table, e.context, e.name) for e in rows] == [
        ("info", "floor-2", "EntityCreated"),
        ("alert", "1002", "DeviceDown"),
        ("alert", "alarm/7", "AlarmAcknowledged"),
        ("alert", "1001/ai-1", "AlarmRaised"),
        ("change", "1001/ai-1", "StatusChanged"),
    ]
    by_name = {e.name: e for e in rows}
    assert by_name["AlarmRaised"].level is EventLevel.FATAL  # from severity "critical"
    assert by_name["DeviceDown"].level is EventLevel.ERROR
    assert by_name["AlarmRaised"].data == {
        "alarm_id": 7,
        "node_id": "1001/ai-1",
        "severity": "critical",
        "message": "hot",
    }
    assert by_name["StatusChanged"].expires_ms == T0 + 1 + 30 * DAY
    assert by_name["AlarmRaised"].expires_ms == T0 + 2 + 365 * DAY
    assert [t.device for t in await store.tables() if t.device] == ["1001"]
    # ValueChanged and DeviceMonitorCycle are not persisted, so not even subscribed to.
    assert recorder.statistics().received == 5


async def test_repeated_identical_bus_event_is_one_row_with_a_count(
    store: EventLogStore, bus: EventBus
) -> None:
    recorder = EventLogRecorder(bus, store)

    # Two drained batches with the same DeviceDown: dedup works across commands too.
    def down(at: int) -> DeviceDown:
        return DeviceDown(ts_ms=at, device_key="1002", protocol="modbus", error="timeout")

    await recorder.handle([down(T0), down(T0 + 1)])
    await recorder.handle([down(T0 + 9)])
    rows = [e async for e in store.iter_events(EventQuery())]
    assert len(rows) == 1
    assert rows[0].count == 3
    assert rows[0].created_ms == T0 + 9
    assert rows[0].first_ms == T0
    assert recorder.statistics().deduplicated == 2


async def test_entity_deleted_removes_node_events_drops_device_table_and_is_logged(
    store: EventLogStore, bus: EventBus
) -> None:
    recorder = EventLogRecorder(bus, store)
    await recorder.handle(
        [
            StatusChanged(ts_ms=T0, node_id="1001/ai-1", old_status="ok", new_status="fault"),
            StatusChanged(ts_ms=T0, node_id="1002/ai-1", old_status="ok", new_status="fault"),
            DeviceDown(ts_ms=T0, device_key="1001", protocol="bacnet", error="no answer"),
            EntityCreated(ts_ms=T0, entity_id="1001", entity_type="Equip"),
            EntityDeleted(ts_ms=T0 + 1, entity_id="1001"),
            # Published after the deletion: kept.
            EntityCreated(ts_ms=T0 + 2, entity_id="1001", entity_type="Equip"),
        ]
    )
    left = await _all(store)
    devices = [t.device for t in await store.tables() if t.device]

    assert left == [
        ("info", "1001", "EntityCreated"),
        ("info", "1001", "EntityDeleted"),
        ("change", "1002/ai-1", "StatusChanged"),
    ]
    assert devices == ["1002"]
    stats = recorder.statistics()
    assert (stats.nodes_deleted, stats.events_deleted) == (1, 3)


async def test_refused_and_lagged_events_are_counted_and_the_rest_kept(
    store: EventLogStore, bus: EventBus
) -> None:
    recorder = EventLogRecorder(bus, store)
    await recorder.handle(
        [
            Lagged(12),
            DeviceDown(ts_ms=T0, device_key="bad//key", protocol="modbus", error="x"),
            EntityDeleted(ts_ms=T0, entity_id=" spaced"),
            EntityCreated(ts_ms=T0, entity_id="ok", entity_type="Site"),
        ]
    )
    stats = recorder.statistics()
    assert (stats.lagged, stats.refused, stats.recorded) == (12, 3, 1)
    assert await _all(store) == [("info", "ok", "EntityCreated")]


async def test_rules_from_settings_change_what_is_kept(store: EventLogStore, bus: EventBus) -> None:
    settings = EventLogSettings.from_section(
        {
            "rules": {
                "ValueChanged": {"persist": True, "ttl": "2h", "level": "debug"},
                "EntityCreated": {"persist": False},
                "DeviceDown": {"table": "general", "permissions": "admin", "level": "fatal"},
            }
        }
    )
    recorder = EventLogRecorder(bus, store, settings)
    await recorder.handle(
        [
            ValueChanged(ts_ms=T0, node_id="1001/ai-1", value=1.5),
            EntityCreated(ts_ms=T0, entity_id="site", entity_type="Site"),
            DeviceDown(ts_ms=T0, device_key="1002", protocol="modbus", error="x"),
        ]
    )
    rows = {e.name: e async for e in store.iter_events(EventQuery())}
    assert set(rows) == {"ValueChanged", "DeviceDown"}
    assert rows["ValueChanged"].table == "change"
    assert rows["ValueChanged"].expires_ms == T0 + 2 * 3_600_000
    assert rows["DeviceDown"].table == "general"
    assert rows["DeviceDown"].permissions == "admin"
    assert rows["DeviceDown"].level is EventLevel.FATAL


async def test_purge_yields_between_batches_so_a_writer_gets_through(
    store: EventLogStore, clock: TrioClock, autojump_clock: trio.testing.MockClock
) -> None:
    now = clock.now_ms()
    expired = [
        (
            NewEvent(
                context=f"dev{i % 4}/p",
                name="StatusChanged",
                created_ms=now - 10_000,
                expires_ms=now - 5_000,
                level="info",
                data={"i": i},
            ),
            TableKind.CHANGE if i % 2 else TableKind.INFO,
        )
        for i in range(5000)
    ]
    await store.record_many(expired)
    purger = EventPurger(store, EventLogSettings(purge_batch=500, purge_pause_ms=50), clock=clock)
    written_while_purging: list[int] = []
    purged: list[int] = []

    async def purge() -> None:
        purged.append(await purger.purge_once())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(purge)
        i = 0
        while not purged:
            await store.record(
                NewEvent(
                    context="writer",
                    name="EntityUpdated",
                    created_ms=clock.now_ms(),
                    expires_ms=clock.now_ms() + DAY,
                    level="info",
                    data={"n": i},
                ),
                TableKind.INFO,
            )
            i += 1
            left = sum((await store.count_expired(now_ms=now)).values())
            if 0 < left < 5000:
                written_while_purging.append(left)
            await trio.sleep(0.01)

    assert purged == [5000]
    assert purger.statistics().batches == 11  # 10 full batches, then one that found nothing
    # The writer got in between batches, at several stages, while expired rows were still
    # there (each stage is a multiple of the 500-row batch).
    # How often it got in depends on thread timing (autojump moves virtual time
    # while a batch runs), so count the distinct stages it saw, not the writes.
    assert len(set(written_while_purging)) >= 3
    assert await store.count() == i  # every write kept, every expired row gone


async def _settle(store: EventLogStore) -> None:
    """Let woken tasks queue their store commands, then wait until the actor has run them."""
    await trio.testing.wait_all_tasks_blocked()
    await store.write(lambda conn: None)  # queued behind whatever was sent before it
    await trio.testing.wait_all_tasks_blocked()


async def test_purger_runs_at_start_then_every_interval(
    store: EventLogStore, clock: TrioClock, mock_clock: trio.testing.MockClock
) -> None:
    # The clock moves only when the test jumps it, so the store's worker thread
    # never races virtual time.
    purger = EventPurger(store, EventLogSettings(purge_interval_ms=60_000), clock=clock)
    now = clock.now_ms()
    await store.record(
        NewEvent(
            context="site",
            name="EntityCreated",
            created_ms=now,
            expires_ms=now + 90_000,
            level="info",
        ),
        TableKind.INFO,
    )
    runs = []
    async with trio.open_nursery() as nursery:
        await nursery.start(purger.run)
        for jump in (0, 60, 30, 30):  # t = 0, 60, 90 (expired, no run), 120
            mock_clock.jump(jump)
            await _settle(store)
            runs.append((purger.statistics().runs, await store.count()))
        nursery.cancel_scope.cancel()
    assert runs == [(1, 1), (2, 1), (2, 1), (3, 0)]
    assert purger.processed == 3  # purge runs


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"purge_every": "5m"}, "events.purge_every"),
        ({"purge_batch": 0}, "events.purge_batch"),
        # TOML reads any size of int; sqlite3 cannot bind this as a LIMIT (OverflowError).
        ({"purge_batch": 2**63}, "events.purge_batch"),
        ({"purge_interval": "9" * 400 + "s"}, "events.purge_interval"),
        ({"purge_interval": "soon"}, "events.purge_interval"),
        ({"rules": {"ValueChange": {}}}, "events.rules.ValueChange"),
        ({"rules": {"DeviceDown": {"table": "alarms"}}}, "events.rules.DeviceDown.table"),
        ({"rules": {"DeviceDown": {"level": "loud"}}}, "events.rules.DeviceDown.level"),
        ({"rules": {"DeviceDown": {"ttl": -5}}}, "events.rules.DeviceDown.ttl"),
        ({"rules": {"DeviceDown": {"persist": "yes"}}}, "events.rules.DeviceDown.persist"),
        ({"rules": {"DeviceDown": {"colour": "red"}}}, "events.rules.DeviceDown.colour"),
        # Accepted before, then every event of the type was refused (or, for the
        # ttl, ended the recorder with a bare OverflowError from sqlite3).
        ({"rules": {"DeviceDown": {"ttl": "999999999999999d"}}}, "events.rules.DeviceDown.ttl"),
        (
            {"rules": {"DeviceDown": {"permissions": "x" * 300}}},
            "events.rules.DeviceDown.permissions",
        ),
        (
            {"rules": {"DeviceDown": {"permissions": "a\x00b"}}},
            "events.rules.DeviceDown.permissions",
        ),
    ],
)
def test_bad_events_settings_name_the_key(section: dict[str, object], key: str) -> None:
    from opencrate.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        EventLogSettings.from_section(section)
    assert info.value.key == key


def test_default_settings() -> None:
    settings = EventLogSettings.from_section(None)
    assert not settings.rules["ValueChanged"].persist
    assert settings.rules["AlarmRaised"].table is TableKind.ALERT
    assert settings.purge_batch == 1000
    assert EventLogSettings.from_section({"purge_interval": "5m"}).purge_interval_ms == 300_000


async def test_processed_counts_handled_events_not_lagged_markers(
    store: EventLogStore, bus: EventBus
) -> None:
    recorder = EventLogRecorder(bus, store)
    await recorder.handle(
        [
            Lagged(4),
            DeviceDown(ts_ms=T0, device_key="1002", protocol="modbus", error="timeout"),
            ValueChanged(ts_ms=T0, node_id="1001/ai-1", value=1.0),  # no rule persists it
        ]
    )
    assert recorder.processed == 2
    assert recorder.statistics().recorded == 1
    await recorder.wait_processed(2)  # already there: returns


async def test_a_burst_of_first_readings_the_size_of_a_building_is_not_dropped(
    store: EventLogStore, bus: EventBus
) -> None:
    # A building whose devices are all unreachable at start publishes
    # StatusChanged(unknown -> down) for every point at once; the recorder's
    # queue takes the burst even with a small bus capacity.
    recorder = EventLogRecorder(bus, store, capacity=16)
    points = 6_000  # more than the default bus capacity (4096)
    async with trio.open_nursery() as nursery:
        await nursery.start(recorder.run)
        (sub,) = bus.statistics().subscribers
        assert sub.capacity == MIN_CAPACITY
        for i in range(points):  # without yielding: the recorder cannot run meanwhile
            node_id = f"{1000 + i // 20}/ai-{i % 20}"
            bus.publish(
                StatusChanged(
                    ts_ms=T0 + i, node_id=node_id, old_status="unknown", new_status="down"
                )
            )
        with trio.fail_after(60):
            await recorder.wait_processed(points)
        stats = recorder.statistics()
        assert (stats.recorded, stats.lagged) == (points, 0)
        nursery.cancel_scope.cancel()


async def test_a_points_first_good_reading_is_not_recorded_but_a_first_bad_one_is(
    store: EventLogStore, bus: EventBus
) -> None:
    # unknown -> ok is every point's first reading at every start: not an event for
    # an operator. unknown -> fault/down is, and so is any later change to ok.
    recorder = EventLogRecorder(bus, store)
    await recorder.handle(
        [
            StatusChanged(ts_ms=T0, node_id="1003/ai-1", old_status="unknown", new_status="ok"),
            StatusChanged(ts_ms=T0, node_id="1001/ai-2", old_status="unknown", new_status="fault"),
            StatusChanged(ts_ms=T0, node_id="1002/ai-1", old_status="unknown", new_status="down"),
            StatusChanged(ts_ms=T0 + 1, node_id="1001/ai-2", old_status="fault", new_status="ok"),
        ]
    )
    stats = recorder.statistics()
    assert (stats.received, stats.recorded, stats.first_readings) == (4, 3, 1)
    rows = [e async for e in store.iter_events(EventQuery(name="StatusChanged"))]
    assert sorted((e.context, e.data["old_status"], e.data["new_status"]) for e in rows) == [
        ("1001/ai-2", "fault", "ok"),
        ("1001/ai-2", "unknown", "fault"),
        ("1002/ai-1", "unknown", "down"),
    ]
    # A device whose points only ever read well gets no change table.
    assert sorted(t.device for t in await store.tables() if t.device) == ["1001", "1002"]
