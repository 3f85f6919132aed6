"""Checks for the well-known keys of a node's free ``properties``.

Most of ``Node.properties`` is free JSON, but some keys mean something to an
engine: ``alarm`` is a point's limit rule
(:class:`~opencrate.components.alarms.limit_rule.LimitRule`). A bad value there must be
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

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from opencrate.components.alarms.limit_rule import LimitRule
from opencrate.errors import ConfigError, InvalidInput

__all__ = ["ALARM_PROPERTY", "WELL_KNOWN_PROPERTIES", "PropertyCheck", "check_properties"]

#: The property holding a point's limit alarm rule.
ALARM_PROPERTY = "alarm"

#: A validator: ``check(value, field)`` raises ConfigError whose key is
#: ``field`` or ``field.<key inside the value>``.
PropertyCheck = Callable[[Any, str], None]


def _check_alarm(value: Any, field: str) -> None:
    LimitRule.from_mapping(value, where=field)


#: Property key -> its validator.
WELL_KNOWN_PROPERTIES: Mapping[str, PropertyCheck] = MappingProxyType(
    {ALARM_PROPERTY: _check_alarm}
)


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
