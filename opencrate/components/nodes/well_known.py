"""Checks for the well-known keys of a node's free ``properties``.

Most of ``Node.properties`` is free JSON, but some keys mean something to an
engine: ``alarm`` is a point's limit rule
(:class:`~opencrate.components.alarms.limit_rule.LimitRule`); ``minVal`` and
``maxVal`` (Haystack's value tags, where the legacy import puts them) are the
range a numeric point may be overridden to (:func:`value_range`). A bad value there must be
refused when it is written, not found later by the engine, so the NodeStore
runs :func:`check_properties` before every create and every change of
``properties`` (the API, ``opencrate nodes import``, scenario files all write
through it); the scenario parser runs it too, to name the file and line.

The check is not in the :class:`~opencrate.model.node.Node` constructor on
purpose: nodes are also built when the store loads its database, and a rule
stored before this check existed must not stop the store from opening (the
engine still logs and skips such a rule).

To add a well-known key, add a validator to :data:`WELL_KNOWN_PROPERTIES`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, TypeGuard

from opencrate.components.alarms.limit_rule import LimitRule
from opencrate.errors import ConfigError, InvalidInput
from opencrate.model.values import ValueRange

__all__ = [
    "ALARM_PROPERTY",
    "MAX_VAL_PROPERTY",
    "MIN_VAL_PROPERTY",
    "WELL_KNOWN_PROPERTIES",
    "PropertyCheck",
    "check_properties",
    "value_range",
]

#: The property holding a point's limit alarm rule.
ALARM_PROPERTY = "alarm"
#: The lowest and highest value of a numeric point (Haystack ``minVal`` / ``maxVal``).
MIN_VAL_PROPERTY = "minVal"
MAX_VAL_PROPERTY = "maxVal"

#: A validator: ``check(value, field)`` raises ConfigError whose key is
#: ``field`` or ``field.<key inside the value>``.
PropertyCheck = Callable[[Any, str], None]


def _check_alarm(value: Any, field: str) -> None:
    LimitRule.from_mapping(value, where=field)


def _is_finite_number(value: Any) -> TypeGuard[int | float]:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def _check_limit(value: Any, field: str) -> None:
    if not _is_finite_number(value):
        raise ConfigError(f"must be a finite number, got {value!r}", key=field)


#: Property key -> its validator.
WELL_KNOWN_PROPERTIES: Mapping[str, PropertyCheck] = MappingProxyType(
    {ALARM_PROPERTY: _check_alarm, MIN_VAL_PROPERTY: _check_limit, MAX_VAL_PROPERTY: _check_limit}
)


def value_range(properties: Mapping[str, Any]) -> ValueRange | None:
    """The ``minVal`` / ``maxVal`` range of a point's properties; None when it has neither.

    An end that is not a finite number (stored before the check existed) is
    left open rather than trusted.
    """
    raw_low, raw_high = properties.get(MIN_VAL_PROPERTY), properties.get(MAX_VAL_PROPERTY)
    low = float(raw_low) if _is_finite_number(raw_low) else None
    high = float(raw_high) if _is_finite_number(raw_high) else None
    if low is None and high is None:
        return None
    return ValueRange(min_val=low, max_val=high)


def check_properties(properties: Mapping[str, Any], *, field: str = "properties") -> None:
    """Check the well-known keys of ``properties``; other keys are free.

    Raises :class:`~opencrate.errors.InvalidInput` whose ``detail["field"]``
    names the bad key, e.g. ``properties.alarm.high``, and whose message is
    ``"<field>: <what is wrong>"``.
    """
    for key, check in WELL_KNOWN_PROPERTIES.items():
        if key not in properties:
            continue
        try:
            check(properties[key], f"{field}.{key}")
        except ConfigError as exc:
            where = exc.key or f"{field}.{key}"
            raise InvalidInput(f"{where}: {exc.reason}", field=where) from None
    low, high = properties.get(MIN_VAL_PROPERTY), properties.get(MAX_VAL_PROPERTY)
    if low is not None and high is not None and low > high:
        where = f"{field}.{MIN_VAL_PROPERTY}"
        raise InvalidInput(
            f"{where}: {low!r} is above {field}.{MAX_VAL_PROPERTY} ({high!r})", field=where
        )
