"""AlarmStore: lifecycle, dedup, history, shelving, events after commit, bad input."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from opencrate.clock import TrioClock
from opencrate.components.alarms.store import AlarmState, AlarmStore, Severity
from opencrate.errors import Conflict, InvalidInput, NotFound
from opencrate.runtime.bus import EventBus
from opencrate.runtime.events import AlarmAcknowledged, AlarmCleared, AlarmRaised, Event, Lagged
from opencrate.runtime.fanout import Subscription

POINT = "1101/analog-input-1"


@pytest.fixture
async def store(tmp_path: Path, bus: EventBus, clock: TrioClock) -> AsyncIterator[AlarmStore]:
    async with AlarmStore(tmp_path / "alarms.db", bus=bus, clock=clock).running() as running:
        yield running


def drain(sub: Subscription[Event]) -> list[Event | Lagged]:
    """Everything the subscription holds now, without waiting."""
    items: list[Event | Lagged] = []
    while True:
        try:
            items.append(sub.receive_nowait())
        except trio.WouldBlock:
            return items


def row_count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as conn:
        count: int = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return count


async def test_raise_inserts_one_alarm_and_repeat_raise_counts_instead(
    store: AlarmStore, bus: EventBus, tmp_path: Path
) -> None:
    with bus.subscribe(AlarmRaised) as sub:
        first = await store.raise_alarm(POINT, "high_limit", "minor", "26.4 above 26")
        again = await store.raise_alarm(POINT, "high_limit", Severity.MAJOR, "27.1 above 26")
        events = drain(sub)
    assert again.id == first.id
    assert again.count == 2
    assert again.severity is Severity.MAJOR
    assert again.message == "27.1 above 26"
    assert again.raised_ms == first.raised_ms
    assert row_count(tmp_path / "alarms.db", "alarm") == 1
    assert [e.severity for e in events if isinstance(e, AlarmRaised)] == ["minor", "major"]
    other = await store.raise_alarm(POINT, "low_limit", "minor", "below")
    assert other.id != first.id
    assert len(store.active()) == 2


async def test_alarm_closes_only_when_cleared_and_acknowledged(
    store: AlarmStore, bus: EventBus
) -> None:
    alarm = await store.raise_alarm(POINT, "high_limit", "minor", "hot")
    assert alarm.state is AlarmState.ACTIVE_UNACKED
    with bus.subscribe(AlarmCleared, AlarmAcknowledged) as sub:
        cleared = await store.clear(alarm.id)
        assert cleared.state is AlarmState.CLEARED_UNACKED
        assert store.active() == [cleared]
        assert await store.history() == []
        closed = await store.acknowledge(alarm.id, user="ops", comment="checked the damper")
        events = drain(sub)
    assert closed.state is AlarmState.CLOSED
    assert store.active() == []
    [stored] = await store.history()
    assert stored == closed
    assert stored.acked_by == "ops"
    assert stored.ack_comment == "checked the damper"
    assert await store.get(alarm.id) == closed
    assert [type(e).__name__ for e in events] == ["AlarmCleared", "AlarmAcknowledged"]
    # Closed: a new raise starts a new alarm with a new id.
    fresh = await store.raise_alarm(POINT, "high_limit", "minor", "hot again")
    assert fresh.id > alarm.id
    assert fresh.count == 1


async def test_acknowledge_before_clear_then_clear_closes(store: AlarmStore) -> None:
    alarm = await store.raise_alarm(POINT, "high_limit", "critical", "very hot")
    acked = await store.acknowledge(alarm.id, user="ops")
    assert acked.state is AlarmState.ACTIVE_ACKED
    with pytest.raises(Conflict, match="already acknowledged"):
        await store.acknowledge(alarm.id, user="someone")
    # A repeat raise of an acknowledged active alarm keeps the acknowledgement.
    repeated = await store.raise_alarm(POINT, "high_limit", "critical", "still hot")
    assert repeated.acked
    assert repeated.count == 2
    closed = await store.clear_condition(POINT, "high_limit")
    assert closed is not None
    assert closed.state is AlarmState.CLOSED
    assert store.open_alarm(POINT, "high_limit") is None
    assert [a.id for a in await store.history(node_id=POINT)] == [alarm.id]


async def test_repeat_raise_of_cleared_alarm_makes_it_active_again(store: AlarmStore) -> None:
    alarm = await store.raise_alarm(POINT, "high_limit", "minor", "hot")
    await store.clear(alarm.id)
    again = await store.raise_alarm(POINT, "high_limit", "minor", "hot")
    assert again.id == alarm.id
    assert again.active
    assert again.count == 2
    # Clearing twice is harmless and publishes once.
    await store.clear(alarm.id)
    assert (await store.clear(alarm.id)).state is AlarmState.CLEARED_UNACKED


async def test_open_alarms_survive_a_restart(
    tmp_path: Path, bus: EventBus, clock: TrioClock
) -> None:
    path = tmp_path / "alarms.db"
    async with AlarmStore(path, bus=bus, clock=clock).running() as store:
        alarm = await store.raise_alarm(POINT, "high_limit", "minor", "hot")
        await store.acknowledge(alarm.id, user="ops")
    async with AlarmStore(path, bus=bus, clock=clock).running() as store:
        [reloaded] = store.active()
        assert reloaded.id == alarm.id
        assert reloaded.acked_by == "ops"
        await store.clear(alarm.id)
        assert (await store.get(alarm.id)).state is AlarmState.CLOSED


async def test_shelving_hides_and_suppresses_until_its_time(
    store: AlarmStore, bus: EventBus, autojump_clock: trio.testing.MockClock
) -> None:
    alarm = await store.raise_alarm(POINT, "high_limit", "minor", "hot")
    until = store.clock.now_ms() + 3_600_000
    shelved = await store.shelve(alarm.id, until_ms=until, user="ops")
    assert shelved.shelved_by == "ops"
    assert store.active() == []
    assert store.active(include_shelved=True) == [shelved]
    with bus.subscribe(AlarmRaised) as sub:
        repeated = await store.raise_alarm(POINT, "high_limit", "minor", "hot")
        assert drain(sub) == []
        assert repeated.count == 2
        await trio.sleep(3601)
        assert [a.id for a in store.active()] == [alarm.id]
        await store.raise_alarm(POINT, "high_limit", "minor", "hot")
        assert len(drain(sub)) == 1
    assert store.statistics().detail.suppressed_raises == 1


async def test_unshelve_and_bad_shelve_times(store: AlarmStore) -> None:
    alarm = await store.raise_alarm(POINT, "high_limit", "minor", "hot")
    with pytest.raises(InvalidInput, match="not in the future"):
        await store.shelve(alarm.id, until_ms=store.clock.now_ms() - 1, user="ops")
    with pytest.raises(InvalidInput, match="until"):  # was a bare OverflowError from sqlite3
        await store.shelve(alarm.id, until_ms=1 << 70, user="ops")
    assert store.active() == [alarm]
    await store.shelve(alarm.id, until_ms=store.clock.now_ms() + 60_000, user="ops")
    unshelved = await store.shelve(alarm.id, until_ms=None, user="ops")
    assert unshelved.shelved_until_ms is None
    assert store.active() == [unshelved]


async def test_events_are_published_after_commit(
    store: AlarmStore, bus: EventBus, tmp_path: Path
) -> None:
    path = tmp_path / "alarms.db"
    seen: list[int] = []
    with bus.subscribe(AlarmRaised, AlarmCleared) as sub:
        alarm = await store.raise_alarm(POINT, "high_limit", "minor", "hot")
        await store.clear(alarm.id)
        for event in drain(sub):
            assert not isinstance(event, Lagged)
            # Another connection already sees the row the event talks about.
            with sqlite3.connect(path) as conn:
                row = conn.execute(
                    "SELECT cleared_ms FROM alarm WHERE id = ?", (alarm.id,)
                ).fetchone()
            assert row is not None
            seen.append(row[0] is None)
    assert seen == [False, False]  # both events came after the clear committed


async def test_filters_by_node_severity_and_state(store: AlarmStore) -> None:
    a = await store.raise_alarm(POINT, "high_limit", "warning", "warm")
    b = await store.raise_alarm("1102/analog-input-1", "high_limit", "critical", "very hot")
    await store.acknowledge(b.id, user="ops")
    assert [x.id for x in store.active()] == [b.id, a.id]  # most severe first
    assert [x.id for x in store.active(node_id=POINT)] == [a.id]
    assert [x.id for x in store.active(min_severity=Severity.MAJOR)] == [b.id]
    assert [x.id for x in store.active(state=AlarmState.ACTIVE_UNACKED)] == [a.id]


async def test_bad_input_is_refused_and_nothing_is_stored(
    store: AlarmStore, tmp_path: Path
) -> None:
    good = await store.raise_alarm(POINT, "high_limit", "minor", "hot")
    with pytest.raises(InvalidInput, match="severity must be one of"):
        await store.raise_alarm(POINT, "low_limit", "catastrophic", "x")
    with pytest.raises(InvalidInput, match="node id"):
        await store.raise_alarm("", "low_limit", "minor", "x")
    with pytest.raises(InvalidInput, match="alarm type"):
        await store.raise_alarm(POINT, " ", "minor", "x")
    with pytest.raises(InvalidInput, match="user"):
        await store.acknowledge(good.id, user="")
    with pytest.raises(InvalidInput, match="alarm id"):
        await store.clear(0)
    with pytest.raises(InvalidInput, match="alarm id"):
        await store.get(1 << 70)  # was a bare OverflowError from sqlite3
    with pytest.raises(NotFound):
        await store.acknowledge(999, user="ops")
    with pytest.raises(NotFound):
        await store.get(999)
    with pytest.raises(InvalidInput, match="limit"):
        await store.history(limit=0)
    assert store.active() == [good]
    assert row_count(tmp_path / "alarms.db", "alarm") == 1
    assert row_count(tmp_path / "alarms.db", "alarm_history") == 0


async def test_history_pages_newest_first(store: AlarmStore) -> None:
    ids = []
    for i in range(5):
        alarm = await store.raise_alarm(f"p/{i}", "high_limit", "info", "x")
        await store.acknowledge(alarm.id, user="ops")
        await store.clear(alarm.id)
        ids.append(alarm.id)
    first = await store.history(limit=2)
    second = await store.history(limit=2, before_id=first[-1].id)
    assert [a.id for a in first + second] == ids[::-1][:4]
