"""The ``[alarms]`` settings section and limit rules.

.. code-block:: toml

    [alarms]
    stale_check_interval = "30s"  # how often the stale check runs
    stale_max_age = "15m"         # a point older than this is stale (absent: status only)
    stale_action = "mark"         # "mark" the alarm, or "clear" it

    [alarms.limits."1101/analog-input-1"]   # same keys as node.properties["alarm"]
    high = 26.0
    low = 16.0
    deadband = 0.5
    delay_s = 60
    severity = "minor"

A limit rule (:class:`LimitRule`) comes from a point's ``alarm`` property or
from ``[alarms.limits]`` (the settings win for a point named in both). Every
error is a :class:`~opencrate.errors.ConfigError` naming the key.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from typing import Any

from attrs import field, frozen

from opencrate.clock import parse_duration_ms
from opencrate.errors import ConfigError, InvalidInput
from opencrate.stores.alarms import Severity

__all__ = ["AlarmSettings", "LimitRule", "StaleAction"]

_RULE_KEYS = frozenset({"high", "low", "deadband", "delay_s", "severity", "message"})


class StaleAction(enum.StrEnum):
    MARK = "mark"  # keep the alarm, flag it as stale (shown in the API)
    CLEAR = "clear"  # clear it: a stale point proves nothing either way


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
        """Read a rule; ConfigError naming ``where.key`` for anything wrong."""
        if not isinstance(data, Mapping):
            raise ConfigError("must be a table of limit settings", key=where)
        unknown = sorted(set(data) - _RULE_KEYS)
        if unknown:
            raise ConfigError(
                f"unknown limit setting (known: {', '.join(sorted(_RULE_KEYS))})",
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
            raise ConfigError(str(exc), key=f"{where}.severity") from None
        message = data.get("message")
        if message is not None and not isinstance(message, str):
            raise ConfigError("must be a string", key=f"{where}.message")
        return cls(
            high=high, low=low, deadband=deadband, delay_s=delay, severity=severity, message=message
        )


def _duration_s(data: Mapping[str, Any], key: str, default: float | None) -> float | None:
    raw = data.get(key)
    if raw is None:
        return default
    try:
        ms = parse_duration_ms(raw) if isinstance(raw, str) else None
    except InvalidInput:
        ms = None
    if ms is None or ms <= 0:
        raise ConfigError(
            f"must be a duration like '30s' or '15m', got {raw!r}", key=f"alarms.{key}"
        )
    return ms / 1000


@frozen(kw_only=True)
class AlarmSettings:
    stale_check_interval_s: float = 30.0
    stale_max_age_s: float | None = None
    stale_action: StaleAction = StaleAction.MARK
    limits: Mapping[str, LimitRule] = field(factory=dict)

    @classmethod
    def from_section(cls, section: object) -> AlarmSettings:
        """Read the ``[alarms]`` table (``None``: defaults); ConfigError naming the key."""
        if section is None:
            return cls()
        if not isinstance(section, Mapping):
            raise ConfigError("must be a table", key="alarms")
        known = {"stale_check_interval", "stale_max_age", "stale_action", "limits"}
        for key in section:
            if key not in known:
                raise ConfigError("unknown setting", key=f"alarms.{key}")
        interval = _duration_s(section, "stale_check_interval", 30.0)
        assert interval is not None
        try:
            action = StaleAction(section.get("stale_action", "mark"))
        except ValueError:
            raise ConfigError("must be 'mark' or 'clear'", key="alarms.stale_action") from None
        limits_raw = section.get("limits", {})
        if not isinstance(limits_raw, Mapping):
            raise ConfigError("must be a table of point ids", key="alarms.limits")
        limits = {
            str(node_id): LimitRule.from_mapping(rule, where=f"alarms.limits.{node_id}")
            for node_id, rule in limits_raw.items()
        }
        return cls(
            stale_check_interval_s=interval,
            stale_max_age_s=_duration_s(section, "stale_max_age", None),
            stale_action=action,
            limits=limits,
        )
