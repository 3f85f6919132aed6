"""AlarmFlags follow the bus; the stale check runs every 30 s and marks or clears."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio.testing

from opencrate.clock import TrioClock
from opencrate.components.alarms.flags import AlarmFlags, PointAlarmFlags, StaleAlarmCheck
from opencrate.components.alarms.settings import StaleAction
from opencrate.components.alarms.store import AlarmStore
from opencrate.components.points.store import PointStore
from opencrate.model.values import PointStatus
from opencrate.runtime.bus import EventBus
from opencrate.runtime.events import AlarmAcknowledged, Lagged

P1 = "1101/analog-input-1"
P2 = "1102/analog-input-1"


@pytest.fixture
async def store(tmp_path: Path, bus: EventBus, clock: TrioClock) -> AsyncIterator[AlarmStore]:
    async with AlarmStore(tmp_path / "alarms.db", bus=bus, clock=clock).running() as running:
        yield running


async def test_flags_follow_raise_ack_and_clear_events(store: AlarmStore, bus: EventBus) -> None:
    flags = AlarmFlags(bus, store)
    async with trio.open_nursery() as nursery:
        await nursery.start(flags.run)
        assert flags.flags(P1) == PointAlarmFlags()
        high = await store.raise_alarm(P1, "high_limit", "minor", "hot")
        await trio.testing.wait_all_tasks_blocked()
        assert flags.flags(P1) == PointAlarmFlags(in_alarm=True, unacked=True)
        await store.acknowledge(high.id, user="ops")
        await trio.testing.wait_all_tasks_blocked()
        assert flags.flags(P1) == PointAlarmFlags(in_alarm=True, unacked=False)
        low = await store.raise_alarm(P1, "low_limit", "minor", "cold")
        await store.clear(high.id)  # closes the high alarm
        await trio.testing.wait_all_tasks_blocked()
        # The low alarm is still active and unacknowledged.
        assert flags.flags(P1) == PointAlarmFlags(in_alarm=True, unacked=True)
        await store.clear(low.id)
        await trio.testing.wait_all_tasks_blocked()
        assert flags.flags(P1) == PointAlarmFlags(in_alarm=False, unacked=True)
        await store.acknowledge(low.id, user="ops")
        await trio.testing.wait_all_tasks_blocked()
        assert flags.flags(P1) == PointAlarmFlags()
        assert flags.flagged() == {}
        assert flags.statistics().events == 6
        assert flags.processed == 6
        nursery.cancel_scope.cancel()


async def test_flags_start_from_open_alarms_and_resync_after_lag(
    store: AlarmStore, bus: EventBus
) -> None:
    await store.raise_alarm(P1, "high_limit", "minor", "hot")
    flags = AlarmFlags(bus, store)
    flags.resync()
    assert flags.flagged() == {P1: PointAlarmFlags(in_alarm=True, unacked=True)}
    # Events for P2 were lost; the Lagged marker makes it reload from the store.
    await store.raise_alarm(P2, "high_limit", "minor", "hot")
    flags.handle([Lagged(3)])
    assert flags.flags(P2) == PointAlarmFlags(in_alarm=True, unacked=True)
    assert flags.processed == 0  # a Lagged marker is not an event handled
    # An acknowledgement of an alarm it never saw changes nothing.
    before = flags.flagged()
    flags.handle([AlarmAcknowledged(ts_ms=1, alarm_id=99, user="ops")])
    assert flags.flagged() == before
    assert set(before) == {P1, P2}


async def wait_runs(check: StaleAlarmCheck, runs: int) -> None:
    """Until the check has finished ``runs`` passes (its store writes run on a thread,
    and autojump time may pass while they do: wait on the count, not on time)."""
    await check.wait_processed(runs)
    assert check.statistics().runs == check.processed


async def test_stale_check_marks_then_unmarks_every_30_seconds(
    store: AlarmStore, bus: EventBus, clock: TrioClock, autojump_clock: trio.testing.MockClock
) -> None:
    points = PointStore(bus, clock)
    points.set(P1, 27.0)
    alarm = await store.raise_alarm(P1, "high_limit", "minor", "hot")
    check = StaleAlarmCheck(store, points, clock=clock)
    async with trio.open_nursery() as nursery:
        start_ms = clock.now_ms()
        await nursery.start(check.run)
        points.set_status(P1, PointStatus.STALE)
        await trio.sleep(29)
        assert store.open_alarm(P1, "high_limit") == alarm  # not checked yet
        await wait_runs(check, 1)
        marked = store.open_alarm(P1, "high_limit")
        assert marked is not None
        assert marked.stale_ms == start_ms + 30_000  # the first check, one interval in
        points.set(P1, 27.5)  # fresh again
        await wait_runs(check, 2)
        unmarked = store.open_alarm(P1, "high_limit")
        assert unmarked is not None
        assert unmarked.stale_ms is None
        nursery.cancel_scope.cancel()


async def test_stale_check_clears_by_age_when_configured(
    store: AlarmStore, bus: EventBus, clock: TrioClock, autojump_clock: trio.testing.MockClock
) -> None:
    points = PointStore(bus, clock)
    points.set(P1, 27.0)
    points.set(P2, 27.0)
    await store.raise_alarm(P1, "high_limit", "minor", "hot")
    await store.raise_alarm(P2, "high_limit", "minor", "hot")
    check = StaleAlarmCheck(store, points, clock=clock, max_age_s=120, action=StaleAction.CLEAR)
    await trio.sleep(100)
    points.set(P2, 27.1)
    await trio.sleep(30)  # P1's reading is 130 s old, P2's 30 s
    result = await check.check_once()
    assert result.cleared == 1
    p1 = store.open_alarm(P1, "high_limit")
    p2 = store.open_alarm(P2, "high_limit")
    assert p1 is not None
    assert not p1.active
    assert p2 is not None
    assert p2.active
