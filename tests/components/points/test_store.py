from __future__ import annotations

import math

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from opencrate.clock import TrioClock
from opencrate.components.points.store import PointState, PointStore
from opencrate.errors import InvalidInput
from opencrate.model.values import PointStatus
from opencrate.runtime.bus import EventBus
from opencrate.runtime.events import Event, Lagged, StatusChanged, ValueChanged
from opencrate.runtime.fanout import Subscription


def drain(sub: Subscription[Event]) -> list[Event]:
    """Everything the subscriber has queued (PointStore never awaits, so it is all there)."""
    items: list[Event] = []
    while True:
        try:
            item = sub.receive_nowait()
        except trio.WouldBlock:
            return items
        assert not isinstance(item, Lagged)
        items.append(item)


@pytest.fixture
def points(bus: EventBus, clock: TrioClock) -> PointStore:
    return PointStore(bus, clock)


async def test_set_always_publishes_value_and_status_only_when_it_changes(
    bus: EventBus, points: PointStore, clock: TrioClock, autojump_clock: trio.testing.MockClock
) -> None:
    # autojump_clock: time stands still unless the test sleeps, so "now" is one value.
    with bus.subscribe(name="t") as sub:
        first = points.set("1001/ai-1", 21.5)
        points.set("1001/ai-1", 21.5)  # same value: still an update
        points.set("1001/ai-1", 21.5, status=PointStatus.FAULT, ts_ms=5)
        events = drain(sub)

    now = clock.now_ms()
    assert first == PointState(node_id="1001/ai-1", value=21.5, status=PointStatus.OK, ts_ms=now)
    assert events == [
        ValueChanged(ts_ms=now, node_id="1001/ai-1", value=21.5),
        StatusChanged(
            ts_ms=now,
            node_id="1001/ai-1",
            old_status=PointStatus.UNKNOWN,
            new_status=PointStatus.OK,
        ),
        ValueChanged(ts_ms=now, node_id="1001/ai-1", value=21.5),
        ValueChanged(ts_ms=5, node_id="1001/ai-1", value=21.5),
        StatusChanged(
            ts_ms=5, node_id="1001/ai-1", old_status=PointStatus.OK, new_status=PointStatus.FAULT
        ),
    ]
    assert points.get("1001/ai-1") == PointState(
        node_id="1001/ai-1", value=21.5, status=PointStatus.FAULT, ts_ms=5
    )


async def test_set_if_changed_respects_deadband_measured_from_last_published(
    bus: EventBus, points: PointStore
) -> None:
    points.set_deadband("p", 0.5)
    with bus.subscribe(ValueChanged, name="t") as sub:
        published = [
            points.set_if_changed("p", value, ts_ms=i)
            for i, value in enumerate([20.0, 20.2, 20.4, 20.5, 20.6, 19.9])
        ]
        values = [e.value for e in drain(sub) if isinstance(e, ValueChanged)]
    # 20.2 and 20.4 are within 0.5 of 20.0; 20.5 crosses; 20.6 is within 0.5 of 20.5.
    assert published == [True, False, False, True, False, True]
    assert values == [20.0, 20.5, 19.9]
    state = points.get("p")
    assert state is not None
    assert (state.value, state.ts_ms) == (19.9, 5)
    stats = points.statistics()
    assert stats.cov_suppressed == 3
    assert stats.updates == 6


async def test_set_if_changed_without_deadband_and_for_other_kinds(points: PointStore) -> None:
    assert points.set_if_changed("n", 1.0)
    assert not points.set_if_changed("n", 1.0)
    assert points.set_if_changed("n", 1.0000001)
    assert points.set_if_changed("b", True)
    assert not points.set_if_changed("b", True)
    # 1 == True in Python, but a change of kind is a change.
    assert points.set_if_changed("b", 1)
    points.set_deadband("s", 10.0)  # ignored for text
    assert points.set_if_changed("s", "occupied")
    assert points.set_if_changed("s", "unoccupied")
    # A status change publishes even when the value is the same.
    assert points.set_if_changed("s", "unoccupied", status=PointStatus.STALE)
    points.set_deadband("n", None)
    assert not points.set_if_changed("n", 1.0000001)
    points.set_deadband("n", 0)  # zero: any change, but a repeat is still no change
    assert not points.set_if_changed("n", 1.0000001)
    assert points.set_if_changed("n", 1.0000002)


async def test_set_status_publishes_only_status_and_creates_valueless_points(
    bus: EventBus, points: PointStore
) -> None:
    with bus.subscribe(name="t") as sub:
        points.set_status("never-read", PointStatus.DOWN)
        points.set_status("never-read", PointStatus.DOWN)
        events = drain(sub)
    assert [type(e) for e in events] == [StatusChanged]
    state = points.get("never-read")
    assert state is not None
    assert (state.value, state.status) == (None, PointStatus.DOWN)
    # A later reading keeps working from there.
    points.set("never-read", 3)
    assert points.get("never-read") is not None


async def test_restore_fills_only_empty_points_and_publishes_nothing(
    bus: EventBus, points: PointStore
) -> None:
    points.set_status("down", PointStatus.DOWN)
    points.set("live", 1.0)
    with bus.subscribe(name="t") as sub:
        assert points.restore("empty", 7.5, ts_ms=100)
        assert points.restore("down", 2.0, ts_ms=100, status=PointStatus.STALE)
        assert not points.restore("live", 9.0, ts_ms=100)
        assert not points.restore("empty", 8.0, ts_ms=200)
        assert drain(sub) == []
    assert points.get("empty") == PointState(
        node_id="empty", value=7.5, status=PointStatus.OK, ts_ms=100
    )
    live = points.get("live")
    assert live is not None
    assert live.value == 1.0
    assert points.statistics().restored == 2


async def test_bad_values_are_refused_and_nothing_stored(points: PointStore) -> None:
    points.set("p", 1.0)
    for bad in (math.nan, math.inf, -math.inf, None, [1], {"a": 1}, b"x"):
        with pytest.raises(InvalidInput, match="point p: value"):
            points.set("p", bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidInput):
            points.set_if_changed("p", bad)  # type: ignore[arg-type]
    for bad_band in (-1.0, math.nan, "1", True):
        with pytest.raises(InvalidInput, match="deadband"):
            points.set_deadband("p", bad_band)  # type: ignore[arg-type]
    state = points.get("p")
    assert state is not None
    assert state.value == 1.0
    assert points.snapshot().keys() == {"p"}


async def test_override_wins_over_source_writes_and_release_returns_latest_source(
    bus: EventBus, points: PointStore
) -> None:
    points.set("sp", 21.0, ts_ms=1)
    with bus.subscribe(name="t") as sub:
        points.override("sp", 18.0, ts_ms=2)
        # The poller keeps writing; none of it is visible or published.
        points.set("sp", 21.5, ts_ms=3)
        assert not points.set_if_changed("sp", 22.0, ts_ms=4)
        points.set_status("sp", PointStatus.STALE)
        assert points.is_overridden("sp")
        visible = points.get("sp")
        source = points.source("sp")
        released = points.release_override("sp", ts_ms=10)
        events = drain(sub)

    assert visible == PointState(node_id="sp", value=18.0, status=PointStatus.OVERRIDDEN, ts_ms=2)
    assert source is not None
    assert (source.value, source.status) == (22.0, PointStatus.STALE)
    assert released == PointState(node_id="sp", value=22.0, status=PointStatus.STALE, ts_ms=10)
    assert events == [
        ValueChanged(ts_ms=2, node_id="sp", value=18.0),
        StatusChanged(
            ts_ms=2, node_id="sp", old_status=PointStatus.OK, new_status=PointStatus.OVERRIDDEN
        ),
        ValueChanged(ts_ms=10, node_id="sp", value=22.0),
        StatusChanged(
            ts_ms=10, node_id="sp", old_status=PointStatus.OVERRIDDEN, new_status=PointStatus.STALE
        ),
    ]
    assert not points.is_overridden("sp")
    assert points.statistics().shadowed == 2


async def test_reoverride_keeps_the_original_source_layer(points: PointStore) -> None:
    points.set("sp", 21.0, ts_ms=1)
    points.override("sp", 18.0)
    points.override("sp", 16.0)
    assert points.statistics().overridden == 1
    state = points.get("sp")
    assert state is not None
    assert state.value == 16.0
    released = points.release_override("sp")
    assert released is not None
    assert (released.value, released.status) == (21.0, PointStatus.OK)
    assert points.release_override("sp") is None


async def test_release_of_point_without_source_value_goes_back_to_unknown(
    bus: EventBus, points: PointStore
) -> None:
    points.override("virtual", True)
    with bus.subscribe(name="t") as sub:
        released = points.release_override("virtual", ts_ms=9)
        events = drain(sub)
    assert released == PointState(
        node_id="virtual", value=None, status=PointStatus.UNKNOWN, ts_ms=9
    )
    assert [type(e) for e in events] == [StatusChanged]


async def test_restore_on_overridden_point_fills_the_source_layer(points: PointStore) -> None:
    points.override("sp", 18.0)
    assert points.restore("sp", 21.0, ts_ms=1)
    assert not points.restore("sp", 25.0, ts_ms=2)
    released = points.release_override("sp")
    assert released is not None
    assert released.value == 21.0


async def test_remove_forgets_value_deadband_and_override(points: PointStore) -> None:
    points.set_deadband("p", 5.0)
    points.override("p", 1.0)
    points.remove("p")
    points.remove("p")  # silent when absent
    assert points.get("p") is None
    assert not points.is_overridden("p")
    assert points.set_if_changed("p", 1.0)
    assert points.set_if_changed("p", 1.5)  # the old deadband is gone
    assert points.statistics().points == 1


@given(
    value=st.one_of(
        st.floats(allow_nan=False, allow_infinity=False),
        st.integers(),
        st.booleans(),
        st.text(),
    )
)
def test_any_valid_value_round_trips_through_set_and_get(
    value: float | int | bool | str,
) -> None:
    points = PointStore(EventBus())
    points.set("p", value, ts_ms=1)
    state = points.get("p")
    assert state is not None
    assert state.value == value
    assert type(state.value) is type(value)


async def test_set_many_is_set_for_each_reading(bus: EventBus, clock: TrioClock) -> None:
    readings: list[tuple[str, float | str, int | None]] = [
        ("1001/ai-1", 20.5, 1),
        ("1001/ai-2", "on", 2),
        ("1001/ai-1", 21.0, None),  # stamped now
    ]
    one, many = EventBus(), EventBus()
    subs = [one.subscribe(name="one"), many.subscribe(name="many")]
    singly, batched = PointStore(one, clock), PointStore(many, clock)
    for node_id, value, ts in readings:
        singly.set(node_id, value, ts_ms=ts)
    assert batched.set_many(readings) == 3
    assert drain(subs[0]) == drain(subs[1])  # the same events, in the same order
    assert singly.snapshot() == batched.snapshot()
    assert batched.statistics() == singly.statistics()
    overridden = PointStore(EventBus(), clock)
    overridden.override("1001/ai-1", 5.0, ts_ms=0)
    overridden.set_many([("1001/ai-1", 9.0, 3)])
    assert overridden.get("1001/ai-1").value == 5.0  # the source layer took it
    assert overridden.statistics().shadowed == 1
    with pytest.raises(InvalidInput, match="1001/ai-9"):
        batched.set_many([("1001/ai-3", 1.0, 4), ("1001/ai-9", math.nan, 5)])
    assert batched.get("1001/ai-3").value == 1.0  # readings before the bad one are kept
