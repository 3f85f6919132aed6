"""The alarm records: :class:`Alarm`, its :class:`Severity` and :class:`AlarmState`.

Plain values with no I/O, shared by the :class:`~opencrate.components.alarms.store.AlarmStore`,
the alarm engines, the API and the CLI. The lifecycle they describe is in
:mod:`opencrate.components.alarms.store`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, ClassVar

from attrs import frozen

from opencrate.errors import InvalidInput
from opencrate.runtime.records import Derived, column, enum_codec

__all__ = ["MAX_TEXT", "Alarm", "AlarmState", "AlarmStatistics", "Severity"]

#: Longest alarm type, message, user or comment the AlarmStore takes.
MAX_TEXT = 2000


class Severity(enum.StrEnum):
    """The five severities, most severe first."""

    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """0 for critical .. 4 for info: smaller is more severe."""
        return _RANK[self]

    @classmethod
    def parse(cls, raw: object, *, field: str = "severity") -> Severity:
        """A severity from its name; InvalidInput naming ``field`` and the choices otherwise."""
        if isinstance(raw, Severity):
            return raw
        try:
            if not isinstance(raw, str):
                raise ValueError
            return cls(raw.strip().lower())
        except ValueError:
            raise InvalidInput(
                f"{field} must be one of {', '.join(s.value for s in cls)}, got {raw!r}",
                field=field,
            ) from None


_RANK = {severity: i for i, severity in enumerate(Severity)}


_BOOLEAN: Mapping[str, Any] = {"type": "boolean"}


class AlarmState(enum.StrEnum):
    ACTIVE_UNACKED = "active-unacked"
    ACTIVE_ACKED = "active-acked"
    CLEARED_UNACKED = "cleared-unacked"
    CLOSED = "closed"


_SEVERITY = enum_codec(Severity)


@frozen(kw_only=True)
class Alarm:
    """One alarm, open or closed (``closed_ms`` set: it is in the history).

    Stored in the ``alarm`` table while open and ``alarm_history`` once closed
    (only that one has ``closed_ms``); its JSON shape is :func:`to_json`.
    """

    id: int = column(sql_type="INTEGER")
    node_id: str = column(sql_type="TEXT")
    alarm_type: str = column(sql_type="TEXT", json="type")
    severity: Severity = column(sql_type="TEXT", codec=_SEVERITY)
    message: str = column(sql_type="TEXT")
    count: int = column(sql_type="INTEGER")
    raised_ms: int = column(sql_type="INTEGER")
    updated_ms: int = column(sql_type="INTEGER")
    cleared_ms: int | None = column(sql_type="INTEGER", default=None)
    acked_ms: int | None = column(sql_type="INTEGER", default=None)
    acked_by: str | None = column(sql_type="TEXT", default=None)
    ack_comment: str = column(sql_type="TEXT", default="")
    shelved_until_ms: int | None = column(sql_type="INTEGER", default=None)
    shelved_by: str | None = column(sql_type="TEXT", default=None)
    stale_ms: int | None = column(sql_type="INTEGER", default=None)
    closed_ms: int | None = column(sql_type="INTEGER", default=None)

    __json_derived__: ClassVar[tuple[Derived, ...]] = (
        Derived(
            name="state",
            get=lambda alarm: alarm.state.value,
            after="message",
            schema={"type": "string", "enum": [state.value for state in AlarmState]},
        ),
        Derived(name="active", get=lambda a: a.active, after="message", schema=_BOOLEAN),
        Derived(name="acked", get=lambda a: a.acked, after="message", schema=_BOOLEAN),
    )

    @property
    def active(self) -> bool:
        """The condition is present (raised and not cleared since)."""
        return self.cleared_ms is None

    @property
    def acked(self) -> bool:
        return self.acked_ms is not None

    @property
    def state(self) -> AlarmState:
        if self.closed_ms is not None:
            return AlarmState.CLOSED
        if self.active:
            return AlarmState.ACTIVE_ACKED if self.acked else AlarmState.ACTIVE_UNACKED
        return AlarmState.CLEARED_UNACKED

    def shelved(self, now_ms: int) -> bool:
        """Whether the alarm is shelved at ``now_ms``."""
        return self.shelved_until_ms is not None and self.shelved_until_ms > now_ms


@frozen(kw_only=True)
class AlarmStatistics:
    open: int  # alarms not yet closed
    active: int  # of those, not cleared
    unacked: int  # of those, not acknowledged
    raised_events: int  # AlarmRaised published this run
    suppressed_raises: int  # raises of shelved alarms (no event)
    closed: int  # alarms moved to the history this run
