"""Which bus events the event log keeps, where, at what level and for how long.

The ``[events]`` section of the settings file (``Settings.sections["events"]``)
overrides the defaults below per event type; every key is optional::

    [events]
    purge_interval = "10m"   # how often the purge job runs
    purge_batch = 1000       # rows deleted per purge command
    purge_pause = "50ms"     # pause between two purge commands (writers get in)

    [events.rules.ValueChanged]
    persist = true           # default false: the history store records values
    table = "change"         # general | info | alert | change
    level = "debug"          # debug | info | notice | warning | error | fatal
    ttl = "1d"               # how long a row lives before the purge may delete it
    permissions = "operator" # role needed to see it; absent = the type's default

Defaults (:data:`DEFAULT_RULES`): alarms, faults and device health go to the
alert table and live a year; model and discovery events go to the info table
for 90 days; StatusChanged goes to its device's change table for 30 days;
ScheduleWritten to the general table. ValueChanged and DeviceMonitorCycle are
not persisted by default: the first arrives at full poll rate and is history's
job, the second is a periodic heartbeat.

Alarm and fault events carry a ``severity``; when it is one of the names in
:data:`SEVERITY_LEVELS` it sets the level, otherwise the rule's level applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import evolve, frozen

from opencrate.clock import parse_duration_ms
from opencrate.components.eventlog.records import EventLevel, check_text
from opencrate.components.eventlog.tables import TableKind
from opencrate.errors import ConfigError, InvalidInput
from opencrate.runtime.events import EVENT_TYPES, Event, event_to_dict
from opencrate.validation import is_int

__all__ = [
    "DEFAULT_RULES",
    "MAX_TTL_MS",
    "SEVERITY_LEVELS",
    "EventLogSettings",
    "EventRule",
    "context_of",
    "data_of",
    "level_of",
]

_DAY_MS = 86_400_000
#: Longest rule ttl: far beyond any need, and keeps ``expires_ms`` a 64-bit integer.
MAX_TTL_MS = 1000 * 365 * _DAY_MS


@frozen(kw_only=True)
class EventRule:
    """How one event type is persisted."""

    persist: bool
    table: TableKind
    level: EventLevel
    ttl_ms: int
    permissions: str | None = None


def _rule(persist: bool, table: str, level: str, days: int) -> EventRule:
    return EventRule(
        persist=persist,
        table=TableKind(table),
        level=EventLevel.parse(level),
        ttl_ms=days * _DAY_MS,
    )


DEFAULT_RULES: Mapping[str, EventRule] = {
    "ValueChanged": _rule(False, "change", "debug", 1),
    "StatusChanged": _rule(True, "change", "notice", 30),
    "AlarmRaised": _rule(True, "alert", "warning", 365),
    "AlarmCleared": _rule(True, "alert", "info", 365),
    "AlarmAcknowledged": _rule(True, "alert", "info", 365),
    "ScheduleWritten": _rule(True, "general", "info", 90),
    "EntityCreated": _rule(True, "info", "info", 90),
    "EntityUpdated": _rule(True, "info", "info", 90),
    "EntityDeleted": _rule(True, "info", "notice", 90),
    "DeviceDiscovered": _rule(True, "info", "info", 90),
    "DeviceDown": _rule(True, "alert", "error", 365),
    "DeviceRecovered": _rule(True, "alert", "notice", 365),
    "DeviceAccepted": _rule(True, "info", "notice", 90),
    "DiscoveryScanComplete": _rule(True, "info", "info", 90),
    "DeviceMonitorCycle": _rule(False, "general", "debug", 1),
    "ObjectListChanged": _rule(True, "info", "warning", 90),
    "FddFaultRaised": _rule(True, "alert", "warning", 365),
    "FddFaultCleared": _rule(True, "alert", "info", 365),
}

SEVERITY_LEVELS: Mapping[str, EventLevel] = {
    "critical": EventLevel.FATAL,
    "fatal": EventLevel.FATAL,
    "high": EventLevel.ERROR,
    "major": EventLevel.ERROR,
    "error": EventLevel.ERROR,
    "medium": EventLevel.WARNING,
    "minor": EventLevel.WARNING,
    "warning": EventLevel.WARNING,
    "low": EventLevel.NOTICE,
    "notice": EventLevel.NOTICE,
    "info": EventLevel.INFO,
    "debug": EventLevel.DEBUG,
}


@frozen(kw_only=True)
class EventLogSettings:
    """The ``[events]`` section, parsed."""

    rules: Mapping[str, EventRule] = DEFAULT_RULES
    purge_interval_ms: int = 600_000
    purge_batch: int = 1000
    purge_pause_ms: int = 50

    @classmethod
    def from_section(cls, section: Mapping[str, Any] | None) -> EventLogSettings:
        """Parse ``[events]``; ConfigError naming the key for anything unknown or ill-typed."""
        if section is None:
            return cls()
        if not isinstance(section, Mapping):
            raise ConfigError("must be a table", key="events")
        values: dict[str, Any] = {}
        for key, value in section.items():
            if key == "rules":
                values["rules"] = _parse_rules(value)
            elif key in ("purge_interval", "purge_pause"):
                values[f"{key}_ms"] = _duration(value, f"events.{key}")
            elif key == "purge_batch":
                if not is_int(value, minimum=1):
                    raise ConfigError(
                        f"must be a positive integer, got {value!r}", key="events.purge_batch"
                    )
                values["purge_batch"] = value
            else:
                raise ConfigError("unknown setting", key=f"events.{key}")
        return cls(**values)


def _duration(value: object, key: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str):
        try:
            ms = parse_duration_ms(value)
        except InvalidInput as exc:
            raise ConfigError(exc.message, key=key) from None
        if ms > 0:
            return ms
    raise ConfigError(f"must be a positive duration like '10m', got {value!r}", key=key)


def _parse_rules(table: object) -> Mapping[str, EventRule]:
    if not isinstance(table, Mapping):
        raise ConfigError("must be a table of event types", key="events.rules")
    rules = dict(DEFAULT_RULES)
    for type_name, overrides in table.items():
        where = f"events.rules.{type_name}"
        if type_name not in EVENT_TYPES:
            raise ConfigError(f"unknown event type (known: {', '.join(EVENT_TYPES)})", key=where)
        if not isinstance(overrides, Mapping):
            raise ConfigError("must be a table", key=where)
        changes: dict[str, Any] = {}
        for key, value in overrides.items():
            try:
                if key == "persist":
                    if not isinstance(value, bool):
                        raise InvalidInput(f"must be true or false, got {value!r}")
                    changes["persist"] = value
                elif key == "table":
                    choices = ", ".join(k.value for k in TableKind)
                    if value not in {k.value for k in TableKind}:
                        raise InvalidInput(f"must be one of {choices}, got {value!r}")
                    changes["table"] = TableKind(value)
                elif key == "level":
                    changes["level"] = EventLevel.parse(value)
                elif key == "ttl":
                    changes["ttl_ms"] = _duration(value, f"{where}.ttl")
                    if changes["ttl_ms"] > MAX_TTL_MS:
                        raise InvalidInput(f"must be at most 1000 years, got {value!r}")
                elif key == "permissions":
                    # The same check NewEvent makes, so a rule cannot refuse every event.
                    changes["permissions"] = check_text(value, "permissions")
                else:
                    raise ConfigError("unknown setting", key=f"{where}.{key}")
            except ConfigError:
                raise
            except InvalidInput as exc:
                raise ConfigError(exc.message, key=f"{where}.{key}") from None
        rules[type_name] = evolve(rules[type_name], **changes)
    return rules


def context_of(event: Event) -> str:
    """The context an event is logged under.

    The node for point, alarm, fault, schedule and entity events; the device
    key for device events (the equipment node id by the id convention);
    ``alarm/<id>`` for AlarmAcknowledged (which names no node);
    ``discovery/<protocol>`` for scan results; ``monitor`` for monitor cycles.
    """
    node = event.node()
    if node:
        return node
    device_key = getattr(event, "device_key", None)
    if device_key:
        return str(device_key)
    name = type(event).__name__
    if name == "AlarmAcknowledged":
        return f"alarm/{getattr(event, 'alarm_id', '')}"
    if name == "DiscoveryScanComplete":
        return f"discovery/{getattr(event, 'protocol', '')}"
    return "monitor"


def data_of(event: Event) -> dict[str, Any]:
    """The event's payload as JSON (without ``type`` and ``ts_ms``, which are columns)."""
    data = event_to_dict(event)
    del data["type"], data["ts_ms"]
    return data


def level_of(event: Event, rule: EventRule) -> EventLevel:
    """The rule's level, unless the event's ``severity`` names a known level."""
    severity = getattr(event, "severity", None)
    if isinstance(severity, str):
        return SEVERITY_LEVELS.get(severity.strip().lower(), rule.level)
    return rule.level
