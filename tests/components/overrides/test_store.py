from __future__ import annotations

import math
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio.testing

from opencrate.clock import TrioClock
from opencrate.components.overrides.store import EndReason, OverrideStore
from opencrate.components.points.store import PointState, PointStore
from opencrate.errors import InvalidInput, NotFound
from opencrate.model.values import PointStatus, ValueRange
from opencrate.runtime.bus import EventBus
from opencrate.runtime.events import EntityUpdated

MINUTE_MS = 60_000


@pytest.fixture
def points(bus: EventBus, clock: TrioClock) -> PointStore:
    return PointStore(bus, clock)


@pytest.fixture
async def overrides(
    tmp_path: Path, points: PointStore, bus: EventBus, clock: TrioClock
) -> AsyncIterator[OverrideStore]:
    store = OverrideStore(tmp_path / "overrides.db", points=points, bus=bus, clock=clock)
    async with store.running(), trio.open_nursery() as nursery:
        await nursery.start(store.run_expiry)
        yield store
        nursery.cancel_scope.cancel()


async def row_count(store: OverrideStore) -> tuple[int, int]:
    def count(conn: sqlite3.Connection) -> tuple[int, int]:
        return (
            conn.execute("SELECT count(*) FROM override").fetchone()[0],
            conn.execute("SELECT count(*) FROM override_history").fetchone()[0],
        )

    return await store.read(count)


async def settle(store: OverrideStore) -> None:
    """Let the expiry loop finish whatever is due now, without sleeping or hanging.

    Tests wait like this rather than by sleeping past an expiry: autojump_clock
    moves time on to the next deadline while a task waits on a worker thread.
    """
    await trio.testing.wait_all_tasks_blocked()  # the loop's write, if any, is queued
    await store.write(lambda conn: None)  # ...and done, since the actor is FIFO
    await trio.testing.wait_all_tasks_blocked()  # ...and applied to cache and point


async def test_override_with_expiry_ends_by_itself_and_point_returns(
    autojump_clock: trio.testing.MockClock,
    bus: EventBus,
    points: PointStore,
    overrides: OverrideStore,
    clock: TrioClock,
) -> None:
    points.set("ahu-1/damper", 45.0)
    start = clock.now_ms()
    with bus.subscribe(EntityUpdated, name="t") as sub:
        override = await overrides.set(
            "ahu-1/damper",
            30.0,
            user="alice",
            reason="balancing",
            expires_ms=start + 10 * MINUTE_MS,
        )
        assert override.previous == PointState(
            node_id="ahu-1/damper", value=45.0, status=PointStatus.OK, ts_ms=start
        )
        assert points.get("ahu-1/damper") == PointState(
            node_id="ahu-1/damper", value=30.0, status=PointStatus.OVERRIDDEN, ts_ms=start
        )
        assert sub.receive_nowait() == EntityUpdated(
            ts_ms=start, entity_id="ahu-1/damper", changed_fields=("override",)
        )
        await trio.sleep(9 * 60)
        assert overrides.get("ahu-1/damper") == override
        await trio.sleep(60)
        await settle(overrides)
        expired_notice = sub.receive_nowait()

    expires = start + 10 * MINUTE_MS
    assert isinstance(expired_notice, EntityUpdated)
    assert expired_notice.entity_id == "ahu-1/damper"
    # TrioClock rounds to the millisecond; the loop ends it on its first wake at or after expiry.
    assert expires <= expired_notice.ts_ms < expires + 1000
    assert overrides.active() == []
    state = points.get("ahu-1/damper")
    assert state is not None
    assert (state.value, state.status) == (45.0, PointStatus.OK)
    assert state.ts_ms == expired_notice.ts_ms
    [ended] = await overrides.history("ahu-1/damper")
    assert (ended.end_reason, ended.ended_by, ended.value) == (EndReason.EXPIRED, "system", 30.0)
    assert ended.ended_ms == expired_notice.ts_ms
    assert await row_count(overrides) == (0, 1)


async def test_expiry_loop_wakes_early_for_a_sooner_override(
    tmp_path: Path, mock_clock: trio.testing.MockClock, bus: EventBus
) -> None:
    # A hand-driven clock here, not autojump: autojump moves time to the next
    # deadline whenever every task waits on a worker thread, so while "soon" was
    # being written the clock could jump straight to the loop's old deadline and
    # end "late" first, hiding whether the loop was woken early.
    clock = TrioClock(start_ms=1_700_000_000_000)
    points = PointStore(bus, clock)
    store = OverrideStore(tmp_path / "overrides.db", points=points, bus=bus, clock=clock)

    now = clock.now_ms()
    async with store.running(), trio.open_nursery() as nursery:
        await nursery.start(store.run_expiry)
        await store.set("late", 1.0, user="u", expires_ms=now + 60 * MINUTE_MS)
        await store.set("soon", 2.0, user="u", expires_ms=now + 2 * MINUTE_MS)
        await settle(store)  # the loop has seen "soon" and sleeps until it is due
        with bus.subscribe(EntityUpdated, name="t") as sub:
            mock_clock.jump(2 * 60)
            await settle(store)
            assert sub.receive_nowait() == EntityUpdated(
                ts_ms=now + 2 * MINUTE_MS, entity_id="soon", changed_fields=("override",)
            )
            assert [o.node_id for o in store.active()] == ["late"]
            mock_clock.jump(58 * 60 - 1)
            await settle(store)
            assert [o.node_id for o in store.active()] == ["late"]
            mock_clock.jump(1)
            await settle(store)
            assert sub.receive_nowait() == EntityUpdated(
                ts_ms=now + 60 * MINUTE_MS, entity_id="late", changed_fields=("override",)
            )
        assert store.active() == []
        nursery.cancel_scope.cancel()


async def test_release_returns_to_last_source_value_seen_during_override(
    points: PointStore, overrides: OverrideStore
) -> None:
    points.set("zone/sp", 21.0)
    await overrides.set("zone/sp", 18.0, user="alice")
    points.set("zone/sp", 21.5)  # the field keeps reporting
    visible = points.get("zone/sp")
    assert visible is not None
    assert visible.value == 18.0
    ended = await overrides.release("zone/sp", user="bob")
    assert ended.value == 18.0
    state = points.get("zone/sp")
    assert state is not None
    assert (state.value, state.status) == (21.5, PointStatus.OK)
    [entry] = await overrides.history()
    assert (entry.end_reason, entry.ended_by, entry.user) == (EndReason.RELEASED, "bob", "alice")
    with pytest.raises(NotFound, match="zone/sp is not overridden"):
        await overrides.release("zone/sp", user="bob")


async def test_reoverride_keeps_the_original_previous_value(
    points: PointStore, overrides: OverrideStore, clock: TrioClock
) -> None:
    points.set("p", 10.0)
    first = await overrides.set("p", 20.0, user="alice", expires_ms=clock.now_ms() + MINUTE_MS)
    second = await overrides.set("p", 30.0, user="bob", reason="second thoughts")
    assert second.previous == first.previous
    assert first.previous is not None
    assert first.previous.value == 10.0
    assert (second.user, second.reason, second.expires_ms) == ("bob", "second thoughts", None)
    [replaced] = await overrides.history("p")
    assert (replaced.end_reason, replaced.value, replaced.user) == (
        EndReason.REPLACED,
        20.0,
        "alice",
    )
    await overrides.release("p", user="bob")
    state = points.get("p")
    assert state is not None
    assert state.value == 10.0
    assert await row_count(overrides) == (0, 2)


async def test_overrides_persist_across_reopen_and_expired_ones_end_at_start(
    tmp_path: Path, clock: TrioClock, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "overrides.db"
    bus = EventBus()
    points = PointStore(bus, clock)
    points.set("kept", True)
    points.set("short", 5)
    async with OverrideStore(path, points=points, bus=bus, clock=clock).running() as store:
        await store.set("kept", False, user="alice", reason="maintenance")
        await store.set("short", 7, user="alice", expires_ms=clock.now_ms() + MINUTE_MS)
        await store.set("fresh", "manual", user="alice")  # a point with no value before

    await trio.sleep(5 * 60)  # down for five minutes: "short" expires meanwhile

    points = PointStore(bus, clock)  # a new process: nothing in memory
    async with OverrideStore(path, points=points, bus=bus, clock=clock).running() as store:
        assert [o.node_id for o in store.active()] == ["fresh", "kept"]
        kept = points.get("kept")
        assert kept is not None
        assert (kept.value, kept.status) == (False, PointStatus.OVERRIDDEN)
        short = points.get("short")
        assert short is not None
        assert (short.value, short.status) == (5, PointStatus.OK)
        [expired] = await store.history("short")
        assert expired.end_reason is EndReason.EXPIRED
        # Release after restart still returns to the value from before the override.
        await store.release("kept", user="bob")
        kept = points.get("kept")
        assert kept is not None
        assert (kept.value, kept.status) == (True, PointStatus.OK)
        await store.release("fresh", user="bob")
        fresh = points.get("fresh")
        assert fresh is not None
        assert (fresh.value, fresh.status) == (None, PointStatus.UNKNOWN)


async def test_kind_coerces_text_input(points: PointStore, overrides: OverrideStore) -> None:
    override = await overrides.set("p", "72", user="u", kind="number")
    assert override.value == 72.0
    assert await overrides.set("b", "on", user="u", kind="bool")
    state = points.get("b")
    assert state is not None
    assert state.value is True


async def test_bad_input_is_refused_and_nothing_stored(
    points: PointStore, overrides: OverrideStore, clock: TrioClock
) -> None:
    points.set("p", 1.0)
    original = await overrides.set("p", 2.0, user="alice", reason="hold")
    now = clock.now_ms()
    cases: list[tuple[dict[str, object], str]] = [
        ({"value": 3.0, "user": "u", "kind": "temperature"}, "unknown value kind 'temperature'"),
        ({"value": "hot", "user": "u", "kind": "number"}, "is not a valid number"),
        ({"value": 3.0, "user": "u", "expires_ms": now - 1}, "not in the future"),
        ({"value": 3.0, "user": "u", "expires_ms": now}, "not in the future"),
        ({"value": 3.0, "user": "u", "expires_ms": "soon"}, "epoch milliseconds"),
        ({"value": 3.0, "user": "u", "expires_ms": 2**63}, "out of range"),
        ({"value": 3.0, "user": ""}, "needs a user"),
        ({"value": math.nan, "user": "u"}, "finite"),
        ({"value": [1, 2], "user": "u"}, "number, boolean or string"),
        ({"value": None, "user": "u"}, "number, boolean or string"),
    ]
    for kwargs, message in cases:
        with pytest.raises(InvalidInput, match=message):
            await overrides.set("p", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="needs a node id"):
        await overrides.set(" ", 1.0, user="u")
    with pytest.raises(InvalidInput, match="needs a user"):
        await overrides.release("p", user="")

    assert overrides.active() == [original]
    assert await row_count(overrides) == (1, 0)
    state = points.get("p")
    assert state is not None
    assert (state.value, state.status) == (2.0, PointStatus.OVERRIDDEN)
    await overrides.release("p", user="alice")
    state = points.get("p")
    assert state is not None
    assert state.value == 1.0


async def test_caller_cancelled_mid_write_leaves_db_cache_and_point_agreeing(
    points: PointStore, overrides: OverrideStore
) -> None:
    points.set("p", 1.0)
    async with trio.open_nursery() as nursery:
        scope = trio.CancelScope()

        async def set_then_be_cancelled() -> None:
            with scope:
                await overrides.set("p", 5.0, user="alice")

        nursery.start_soon(set_then_be_cancelled)
        await trio.testing.wait_all_tasks_blocked()  # its write is queued or running
        scope.cancel()
    # The write was shielded: all three show the override.
    assert await row_count(overrides) == (1, 0)
    assert [o.value for o in overrides.active()] == [5.0]
    state = points.get("p")
    assert state is not None
    assert (state.value, state.status) == (5.0, PointStatus.OVERRIDDEN)


async def test_values_outside_the_points_range_are_refused_and_nothing_stored(
    points: PointStore, overrides: OverrideStore
) -> None:
    points.set("p", 21.0)
    limits = ValueRange(min_val=10.0, max_val=30.0)
    with pytest.raises(InvalidInput) as refused:
        await overrides.set("p", -1e300, user="u", value_range=limits)
    assert refused.value.message == (
        "override value -1e+300 for p is outside its range [10.0, 30.0] (minVal, maxVal)"
    )
    assert refused.value.detail == {
        "node_id": "p",
        "value": -1e300,
        "min_val": 10.0,
        "max_val": 30.0,
    }
    for bad in (30.5, "9.99", 1e300):
        with pytest.raises(InvalidInput, match="outside its range"):
            await overrides.set("p", bad, user="u", kind="number", value_range=limits)
    for not_finite in ("inf", "-Infinity", "nan", math.inf):
        with pytest.raises(InvalidInput, match="is not a valid number"):
            await overrides.set("p", not_finite, user="u", kind="number", value_range=limits)
    assert overrides.active() == []
    assert await row_count(overrides) == (0, 0)
    state = points.get("p")
    assert state is not None
    assert (state.value, state.status) == (21.0, PointStatus.OK)
    # Both ends are in range; an open end does not limit.
    assert (await overrides.set("p", 10, user="u", kind="number", value_range=limits)).value == 10
    assert (await overrides.set("p", 30.0, user="u", value_range=limits)).value == 30.0
    assert (await overrides.set("p", 1e6, user="u", value_range=ValueRange(min_val=0))).value
