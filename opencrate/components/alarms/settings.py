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

A limit rule (:class:`~opencrate.components.alarms.limit_rule.LimitRule`, re-exported
here) comes from a point's ``alarm`` property or from ``[alarms.limits]`` (the
settings win for a point named in both). Every error is a
:class:`~opencrate.errors.ConfigError` naming the key.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from attrs import field, frozen

from opencrate.components.alarms.limit_rule import LimitRule
from opencrate.config import duration_setting_ms
from opencrate.errors import ConfigError

__all__ = ["AlarmSettings", "LimitRule", "StaleAction"]


class StaleAction(enum.StrEnum):
    MARK = "mark"  # keep the alarm, flag it as stale (shown in the API)
    CLEAR = "clear"  # clear it: a stale point proves nothing either way


def _duration_s(data: Mapping[str, Any], key: str, default: float | None) -> float | None:
    ms = duration_setting_ms("alarms", data, key, None)
    return default if ms is None else ms / 1000


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
