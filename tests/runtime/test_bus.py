from __future__ import annotations

import json
import pickle

import msgspec
import pytest
import trio

from opencrate.errors import InvalidInput
from opencrate.model.values import PointStatus
from opencrate.runtime.bus import EventBus
from opencrate.runtime.events import (
    EVENT_TYPES,
    AlarmRaised,
    EntityUpdated,
    Lagged,
    StatusChanged,
    ValueChanged,
    event_from_dict,
    event_json,
    event_to_dict,
)


def vc(i: int, node: str = "1001/ai-1") -> ValueChanged:
    return ValueChanged(ts_ms=i, node_id=node, value=float(i))


def test_there_are_exactly_the_18_event_variants_of_seed_000() -> None:
    assert len(EVENT_TYPES) == 18


def test_events_round_trip_through_their_json_form() -> None:
    events = [
        vc(1),
        StatusChanged(ts_ms=2, node_id="n", old_status="ok", new_status="stale"),
        EntityUpdated(ts_ms=3, entity_id="n", changed_fields=["dis", "tags"]),
    ]
    for event in events:
        assert event_from_dict(event_to_dict(event)) == event
    assert event_to_dict(events[1])["new_status"] == "stale"
    # Names become PointStatus members and lists tuples, as the bus's subscribers expect.
    assert events[1].new_status is PointStatus.STALE
    assert events[2].changed_fields == ("dis", "tags")  # type: ignore[attr-defined]


def test_a_bad_event_is_refused_naming_what_was_wrong() -> None:
    with pytest.raises(InvalidInput, match="bad StatusChanged event: 'sideways'"):
        event_from_dict({"type": "StatusChanged", "ts_ms": 1, "node_id": "n",
                         "old_status": "ok", "new_status": "sideways"})  # fmt: skip
    with pytest.raises(InvalidInput, match="bad ValueChanged event: Missing required argument"):
        event_from_dict({"type": "ValueChanged", "ts_ms": 1, "node_id": "n"})
    with pytest.raises(InvalidInput, match="unknown event type 'Nope'"):
        event_from_dict({"type": "Nope"})
    with pytest.raises(AttributeError):
        vc(1).value = 2.0  # type: ignore[misc]  # events are immutable


def test_event_json_is_made_once_and_leaves_the_event_unchanged() -> None:
    event = StatusChanged(ts_ms=2, node_id="n", old_status="ok", new_status="stale")
    text = event_json(event)
    assert json.loads(text) == event_to_dict(event)
    assert event_json(event) is text  # kept on the event: the second call makes nothing
    # The memo is not part of the event: equality, hash, repr, fields and pickles ignore it.
    twin = StatusChanged(ts_ms=2, node_id="n", old_status="ok", new_status="stale")
    assert (event == twin, hash(event) == hash(twin), repr(event) == repr(twin)) == (True,) * 3
    assert msgspec.structs.asdict(event) == msgspec.structs.asdict(twin)
    assert pickle.loads(pickle.dumps(event)) == event
    # A changed copy is a new event with its own text.
    changed = msgspec.structs.replace(event, new_status=PointStatus.OK)
    assert json.loads(event_json(changed))["new_status"] == "ok"


async def test_lagging_subscriber_gets_lagged_marker_and_publisher_never_blocks() -> None:
    bus = EventBus()
    with bus.subscribe(ValueChanged, name="slow", capacity=4) as slow:
        for i in range(10):
            bus.publish(vc(i))  # never awaits: 6 of these are dropped for `slow`
        received = [slow.receive_nowait() for _ in range(4)]
        assert [e.ts_ms for e in received if isinstance(e, ValueChanged)] == [0, 1, 2, 3]
        bus.publish(vc(10))
        assert slow.receive_nowait() == Lagged(6)
        assert slow.receive_nowait() == vc(10)
        stats = bus.statistics().subscribers[0]
    assert (stats.dropped, stats.delivered, stats.lag_reports) == (6, 5, 1)


async def test_slow_subscriber_does_not_affect_a_fast_one() -> None:
    bus = EventBus()
    with bus.subscribe(name="slow", capacity=1) as slow, bus.subscribe(name="fast") as fast:
        for i in range(100):
            bus.publish(vc(i))
        batch = await fast.receive_batch()
        assert len(batch) == 100
        assert not any(isinstance(e, Lagged) for e in batch)
        assert slow.statistics().dropped == 99


async def test_subscribers_receive_only_the_types_they_asked_for() -> None:
    bus = EventBus()
    raised = AlarmRaised(ts_ms=1, alarm_id=1, node_id="n", severity="major", message="hot")
    with bus.subscribe(AlarmRaised) as alarms, bus.subscribe() as everything:
        bus.publish(vc(0))
        bus.publish(raised)
        assert await alarms.receive_batch() == [raised]
        assert await everything.receive_batch() == [vc(0), raised]


async def test_accept_predicate_filters_per_subscriber() -> None:
    bus = EventBus()
    with bus.subscribe(accept=lambda e: e.node() == "b") as only_b:
        bus.publish(vc(0, "a"))
        bus.publish(vc(1, "b"))
        assert await only_b.receive_batch() == [vc(1, "b")]


async def test_closed_subscription_is_forgotten_and_iteration_ends() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    got: list[object] = []

    async def consume() -> None:
        async for item in sub:
            got.append(item)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consume)
        bus.publish(vc(1))
        await trio.testing.wait_all_tasks_blocked()
        sub.close()
    assert got == [vc(1)]
    bus.publish(vc(2))
    assert bus.statistics().subscribers == ()
