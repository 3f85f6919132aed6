"""Limit rules: the high/low alarm limits of one numeric point.

A rule comes from a point's ``alarm`` property (checked by the NodeStore
before any write, see :mod:`opencrate.components.nodes.well_known`) or from the
``[alarms.limits]`` settings (:mod:`opencrate.components.alarms.settings`). It
lives here, beside the alarm records, so that both the stores and the engines
can read rules without the stores importing an engine.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from attrs import frozen

from opencrate.components.alarms.records import MAX_TEXT, Severity
from opencrate.errors import ConfigError, InvalidInput

__all__ = ["RULE_KEYS", "LimitRule"]

#: The keys a rule may have.
RULE_KEYS = frozenset({"high", "low", "deadband", "delay_s", "severity", "message"})


def _number(data: Mapping[str, Any], key: str, where: str) -> float | None:
    raw = data.get(key)
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise ConfigError(f"must be a finite number, got {raw!r}", key=f"{where}.{key}")
    return float(raw)


@frozen(kw_only=True)
class LimitRule:
    """High/low limits of one numeric point.

    The alarm raises when the value goes above ``high`` (below ``low``) and
    stays there for ``delay_s`` seconds; it clears when the value is back
    inside by ``deadband`` (below ``high - deadband``, above ``low + deadband``).
    """

    high: float | None = None
    low: float | None = None
    deadband: float = 0.0
    delay_s: float = 0.0
    severity: Severity = Severity.WARNING
    message: str | None = None

    @classmethod
    def from_mapping(cls, data: object, *, where: str) -> LimitRule:
        """Read a rule from its table form.

        Raises :class:`~opencrate.errors.ConfigError` whose ``key`` is
        ``where.<key>`` for the first thing wrong (``where`` itself when the
        rule is not a table or has neither limit): an unknown key, a limit or
        ``deadband`` / ``delay_s`` that is not a finite number, ``low`` not
        below ``high``, a negative ``deadband`` or ``delay_s``, an unknown
        ``severity`` or a ``message`` that is not a string or is longer than
        :data:`~opencrate.components.alarms.records.MAX_TEXT`.
        """
        if not isinstance(data, Mapping):
            raise ConfigError("must be a table of limit settings", key=where)
        unknown = sorted(map(str, set(data) - RULE_KEYS))
        if unknown:
            raise ConfigError(
                f"unknown limit setting (known: {', '.join(sorted(RULE_KEYS))})",
                key=f"{where}.{unknown[0]}",
            )
        high, low = _number(data, "high", where), _number(data, "low", where)
        if high is None and low is None:
            raise ConfigError("needs a high or a low limit", key=where)
        if high is not None and low is not None and low >= high:
            raise ConfigError(f"low {low} must be below high {high}", key=f"{where}.low")
        deadband = _number(data, "deadband", where) or 0.0
        delay = _number(data, "delay_s", where) or 0.0
        for key, value in (("deadband", deadband), ("delay_s", delay)):
            if value < 0:
                raise ConfigError(f"must be >= 0, got {value}", key=f"{where}.{key}")
        try:
            severity = Severity.parse(data.get("severity", "warning"))
        except InvalidInput as exc:
            raise ConfigError(exc.message, key=f"{where}.severity") from None
        message = data.get("message")
        if message is not None and not isinstance(message, str):
            raise ConfigError("must be a string", key=f"{where}.message")
        if message is not None and len(message) > MAX_TEXT:
            # The AlarmStore would refuse every raise with it.
            raise ConfigError(f"is longer than {MAX_TEXT} characters", key=f"{where}.message")
        return cls(
            high=high, low=low, deadband=deadband, delay_s=delay, severity=severity, message=message
        )
