"""The 18 event variants that travel on the event bus (seed 000), plus ``Lagged``.

Events are immutable and shared between subscribers, never copied. Every event
carries ``ts_ms``: when it happened, in epoch milliseconds. Subscribers pick
variants by type (``bus.subscribe(ValueChanged, AlarmRaised)``).

:func:`event_to_dict` / :func:`event_from_dict` give the JSON form used by the
websocket stream and the event log: ``{"type": "ValueChanged", "ts_ms": ..., ...}``.
:func:`event_json` is that form as JSON text, made once per event and kept on
it, so a stream fanned out to many websocket clients serializes it once.

Events are ``msgspec.Struct`` classes (frozen, keyword-only), not attrs records:
every reading makes a ``ValueChanged``, and a Struct is built in C, about a fifth
of the time of a frozen attrs record (``benchmarks/ingest.py``: it was a sixth
of the whole ingest path). Conversions that attrs did with ``converter=`` (status
names to :class:`PointStatus`, any iterable of ids to a tuple) happen in
``__post_init__``.
"""

from __future__ import annotations

import json
import weakref
from typing import Any

import msgspec
from attrs import frozen
from msgspec.structs import force_setattr

from opencrate.errors import InvalidInput
from opencrate.model.values import PointStatus, PointValue

__all__ = [
    "EVENT_TYPES",
    "AlarmAcknowledged",
    "AlarmCleared",
    "AlarmRaised",
    "DeviceAccepted",
    "DeviceDiscovered",
    "DeviceDown",
    "DeviceMonitorCycle",
    "DeviceRecovered",
    "DiscoveryScanComplete",
    "EntityCreated",
    "EntityDeleted",
    "EntityUpdated",
    "Event",
    "FddFaultCleared",
    "FddFaultRaised",
    "Lagged",
    "ObjectListChanged",
    "ScheduleWritten",
    "StatusChanged",
    "ValueChanged",
    "event_from_dict",
    "event_json",
    "event_to_dict",
]


class Event(msgspec.Struct, frozen=True, kw_only=True, weakref=True):
    """Base of all bus events (weak-referenceable: :func:`event_json` keeps its text by them)."""

    ts_ms: int

    def node(self) -> str | None:
        """The node id this event concerns, if any (used by subtree filters)."""
        return getattr(self, "node_id", None) or getattr(self, "entity_id", None)


class ValueChanged(Event, frozen=True, kw_only=True):
    node_id: str
    value: PointValue


class StatusChanged(Event, frozen=True, kw_only=True):
    node_id: str
    old_status: PointStatus
    new_status: PointStatus

    def __post_init__(self) -> None:
        # Status names ("ok") are accepted, as from JSON; an unknown one is a ValueError.
        force_setattr(self, "old_status", PointStatus(self.old_status))
        force_setattr(self, "new_status", PointStatus(self.new_status))


class AlarmRaised(Event, frozen=True, kw_only=True):
    alarm_id: int
    node_id: str
    severity: str
    message: str


class AlarmCleared(Event, frozen=True, kw_only=True):
    alarm_id: int
    node_id: str


class AlarmAcknowledged(Event, frozen=True, kw_only=True):
    alarm_id: int
    user: str


class ScheduleWritten(Event, frozen=True, kw_only=True):
    schedule_id: str
    node_id: str
    value: PointValue


class EntityCreated(Event, frozen=True, kw_only=True):
    entity_id: str
    entity_type: str


class EntityUpdated(Event, frozen=True, kw_only=True):
    entity_id: str
    changed_fields: tuple[str, ...]

    def __post_init__(self) -> None:
        force_setattr(self, "changed_fields", tuple(self.changed_fields))  # any iterable


class EntityDeleted(Event, frozen=True, kw_only=True):
    entity_id: str


class DeviceDiscovered(Event, frozen=True, kw_only=True):
    device_key: str
    protocol: str
    network_id: str | None = None


class DeviceDown(Event, frozen=True, kw_only=True):
    device_key: str
    protocol: str
    error: str


class DeviceRecovered(Event, frozen=True, kw_only=True):
    device_key: str
    protocol: str


class DeviceAccepted(Event, frozen=True, kw_only=True):
    device_key: str
    created_node_ids: tuple[str, ...]

    def __post_init__(self) -> None:
        force_setattr(self, "created_node_ids", tuple(self.created_node_ids))  # any iterable


class DiscoveryScanComplete(Event, frozen=True, kw_only=True):
    protocol: str
    device_count: int
    point_count: int


class DeviceMonitorCycle(Event, frozen=True, kw_only=True):
    checked_count: int
    online_count: int
    offline_count: int


class ObjectListChanged(Event, frozen=True, kw_only=True):
    device_key: str
    old_count: int
    new_count: int


class FddFaultRaised(Event, frozen=True, kw_only=True):
    fault_id: int
    rule_id: str
    node_id: str
    severity: str
    message: str


class FddFaultCleared(Event, frozen=True, kw_only=True):
    fault_id: int
    rule_id: str
    node_id: str


@frozen
class Lagged:
    """Not an event: the marker a subscriber receives after it missed ``count`` events.

    It arrives exactly where the gap is: after the events that were delivered
    before the drop, before the first event delivered after it.
    """

    count: int


#: The 18 variants of seed 000, by name.
EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        ValueChanged,
        StatusChanged,
        AlarmRaised,
        AlarmCleared,
        AlarmAcknowledged,
        ScheduleWritten,
        EntityCreated,
        EntityUpdated,
        EntityDeleted,
        DeviceDiscovered,
        DeviceDown,
        DeviceRecovered,
        DeviceAccepted,
        DiscoveryScanComplete,
        DeviceMonitorCycle,
        ObjectListChanged,
        FddFaultRaised,
        FddFaultCleared,
    )
}


def event_to_dict(event: Event) -> dict[str, Any]:
    """JSON-ready form: ``{"type": name, "ts_ms": ..., **fields}`` (tuples become lists,
    enums strings), fields in their declared order."""
    out: dict[str, Any] = {"type": type(event).__name__, "ts_ms": event.ts_ms}
    for name in event.__struct_fields__:
        value = getattr(event, name)
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, PointStatus):
            value = value.value
        out[name] = value
    return out


# Each event's JSON text while the event lives (events are immutable: it never goes stale).
_JSON_TEXT: weakref.WeakKeyDictionary[Event, str] = weakref.WeakKeyDictionary()


def event_json(event: Event) -> str:
    """``json.dumps(event_to_dict(event))``, computed on the first call and kept for the event.

    Every later call (one per websocket client the event reaches) returns the
    same string object; the text goes when the event does.
    """
    text = _JSON_TEXT.get(event)
    if text is None:
        text = _JSON_TEXT[event] = json.dumps(event_to_dict(event))
    return text


def event_from_dict(data: dict[str, Any]) -> Event:
    """Inverse of :func:`event_to_dict`; raises InvalidInput naming what was wrong."""
    fields = dict(data)
    name = fields.pop("type", None)
    cls = EVENT_TYPES.get(str(name))
    if cls is None:
        raise InvalidInput(f"unknown event type {name!r}", known=sorted(EVENT_TYPES))
    try:
        return cls(**fields)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"bad {name} event: {exc}") from None
