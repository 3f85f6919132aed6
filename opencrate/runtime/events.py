"""The 18 event variants that travel on the event bus (seed 000), plus ``Lagged``.

Events are immutable and shared between subscribers, never copied. Every event
carries ``ts_ms``: when it happened, in epoch milliseconds. Subscribers pick
variants by type (``bus.subscribe(ValueChanged, AlarmRaised)``).

:func:`event_to_dict` / :func:`event_from_dict` give the JSON form used by the
websocket stream and the event log: ``{"type": "ValueChanged", "ts_ms": ..., ...}``.
:func:`event_json` is that form as JSON text, made once per event and kept on
it, so a stream fanned out to many websocket clients serializes it once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import attrs
from attrs import field, frozen

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


def _str_tuple(items: Iterable[str]) -> tuple[str, ...]:
    # A typed converter: mypy cannot infer the element type through ``converter=tuple``.
    return tuple(items)


class _JsonMemo:
    # A plain slot outside the attrs fields: not in __init__, eq, hash, repr,
    # asdict or pickles, so the memo never changes what an event is.
    __slots__ = ("_json",)
    _json: str  # unset until event_json makes it


@frozen(kw_only=True)
class Event(_JsonMemo):
    """Base of all bus events."""

    ts_ms: int

    def node(self) -> str | None:
        """The node id this event concerns, if any (used by subtree filters)."""
        return getattr(self, "node_id", None) or getattr(self, "entity_id", None)


@frozen(kw_only=True)
class ValueChanged(Event):
    node_id: str
    value: PointValue


@frozen(kw_only=True)
class StatusChanged(Event):
    node_id: str
    old_status: PointStatus = field(converter=PointStatus)
    new_status: PointStatus = field(converter=PointStatus)


@frozen(kw_only=True)
class AlarmRaised(Event):
    alarm_id: int
    node_id: str
    severity: str
    message: str


@frozen(kw_only=True)
class AlarmCleared(Event):
    alarm_id: int
    node_id: str


@frozen(kw_only=True)
class AlarmAcknowledged(Event):
    alarm_id: int
    user: str


@frozen(kw_only=True)
class ScheduleWritten(Event):
    schedule_id: str
    node_id: str
    value: PointValue


@frozen(kw_only=True)
class EntityCreated(Event):
    entity_id: str
    entity_type: str


@frozen(kw_only=True)
class EntityUpdated(Event):
    entity_id: str
    changed_fields: tuple[str, ...] = field(converter=_str_tuple)


@frozen(kw_only=True)
class EntityDeleted(Event):
    entity_id: str


@frozen(kw_only=True)
class DeviceDiscovered(Event):
    device_key: str
    protocol: str
    network_id: str | None = None


@frozen(kw_only=True)
class DeviceDown(Event):
    device_key: str
    protocol: str
    error: str


@frozen(kw_only=True)
class DeviceRecovered(Event):
    device_key: str
    protocol: str


@frozen(kw_only=True)
class DeviceAccepted(Event):
    device_key: str
    created_node_ids: tuple[str, ...] = field(converter=_str_tuple)


@frozen(kw_only=True)
class DiscoveryScanComplete(Event):
    protocol: str
    device_count: int
    point_count: int


@frozen(kw_only=True)
class DeviceMonitorCycle(Event):
    checked_count: int
    online_count: int
    offline_count: int


@frozen(kw_only=True)
class ObjectListChanged(Event):
    device_key: str
    old_count: int
    new_count: int


@frozen(kw_only=True)
class FddFaultRaised(Event):
    fault_id: int
    rule_id: str
    node_id: str
    severity: str
    message: str


@frozen(kw_only=True)
class FddFaultCleared(Event):
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
    """JSON-ready form: ``{"type": name, **fields}`` (tuples become lists, enums strings)."""
    out: dict[str, Any] = {"type": type(event).__name__}
    for name, value in attrs.asdict(event, recurse=False).items():
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, PointStatus):
            value = value.value
        out[name] = value
    return out


def event_json(event: Event) -> str:
    """``json.dumps(event_to_dict(event))``, computed on the first call and kept on the event.

    Events are immutable, so the text never goes stale; every later call (one
    per websocket client the event reaches) returns the same string object.
    """
    try:
        return event._json
    except AttributeError:
        text = json.dumps(event_to_dict(event))
        object.__setattr__(event, "_json", text)  # frozen: set the private slot directly
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
