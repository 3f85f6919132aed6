"""The alarm records: :class:`Alarm`, its :class:`Severity` and :class:`AlarmState`.

Plain values with no I/O, shared by the :class:`~opencrate.components.alarms.store.AlarmStore`,
the alarm engines, the API and the CLI. The lifecycle they describe is in
:mod:`opencrate.components.alarms.store`.
"""

from __future__ import annotations

import enum

from attrs import frozen

from opencrate.errors import InvalidInput

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


class AlarmState(enum.StrEnum):
    ACTIVE_UNACKED = "active-unacked"
    ACTIVE_ACKED = "active-acked"
    CLEARED_UNACKED = "cleared-unacked"
    CLOSED = "closed"


@frozen(kw_only=True)
class Alarm:
    """One alarm, open or closed (``closed_ms`` set: it is in the history)."""

    id: int
    node_id: str
    alarm_type: str
    severity: Severity
    message: str
    raised_ms: int
    updated_ms: int
    count: int
    cleared_ms: int | None = None
    acked_ms: int | None = None
    acked_by: str | None = None
    ack_comment: str = ""
    shelved_until_ms: int | None = None
    shelved_by: str | None = None
    stale_ms: int | None = None
    closed_ms: int | None = None

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
