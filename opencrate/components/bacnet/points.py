"""A point bound to a BACnet object: where it is, and its values both ways (no I/O).

A point's binding (seed 000)::

    {"protocol": "bacnet", "config": {"device_instance": 1001, "object_type": "analog-input",
     "object_instance": 1, "network_id": "ip-main"}}

may also say ``"cov": false`` (always poll it), ``"poll_interval": "10s"``, and
``"property"`` (default ``present-value``). Values cross as:

* analog objects: ``float``; a write takes any number;
* binary objects: ``bool`` (``active`` is True); a write takes a bool or 0/1;
* multi-state objects: ``int`` state numbers from 1; a write takes an int >= 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from attrs import frozen

from opencrate.components.bacnet.values import ANALOG, BINARY, MULTISTATE, POINT_TYPES, ObjectRef
from opencrate.errors import DeviceError, InvalidInput
from opencrate.model.values import PointValue
from opencrate.validation import parse_duration_s

__all__ = ["BacnetPoint", "from_device", "point_node_id", "to_device"]


def point_node_id(device_instance: int, obj: ObjectRef) -> str:
    """The seed's node id convention: ``"1001/analog-input-1"``."""
    return f"{device_instance}/{obj.point_suffix}"


@frozen(kw_only=True)
class BacnetPoint:
    """One point's BACnet address and how the bridge reads it."""

    point_id: str
    device_instance: int
    object: ObjectRef
    property: str = "present-value"
    cov: bool = True  # subscribe when the device supports it
    poll_interval_s: float | None = None  # None: the bridge's

    @classmethod
    def from_binding(cls, point_id: str, config: Mapping[str, Any]) -> BacnetPoint:
        """The point's BACnet binding ``config``; InvalidInput naming the point and key."""
        where = f"point {point_id}"
        object_type = config.get("object_type")
        if object_type not in POINT_TYPES:
            raise InvalidInput(
                f"{where}: object_type {object_type!r} is not one the bridge reads "
                f"(expected one of {sorted(POINT_TYPES)})",
                node_id=point_id,
                field="object_type",
            )
        prop = config.get("property", "present-value")
        if not isinstance(prop, str) or not prop:
            raise InvalidInput(f"{where}: bad property {prop!r}", node_id=point_id)
        cov = config.get("cov", True)
        if not isinstance(cov, bool):
            raise InvalidInput(f"{where}: cov must be true or false", node_id=point_id)
        raw_interval = config.get("poll_interval")
        interval = (
            None
            if raw_interval is None
            else parse_duration_s(raw_interval, key=f"{where}.poll_interval")
        )
        return cls(
            point_id=point_id,
            device_instance=int(config["device_instance"]),
            object=ObjectRef(object_type, int(config["object_instance"])),
            property=prop,
            cov=cov,
            poll_interval_s=interval,
        )


def from_device(obj: ObjectRef, raw: Any) -> PointValue:
    """A present-value as read (plain Python) as the point's value.

    Raises DeviceError for a value of the wrong type for the object, or a
    real that is not finite (the device has no reading).
    """
    kind = obj.object_type
    if kind in ANALOG and isinstance(raw, int | float) and not isinstance(raw, bool):
        value = float(raw)
        if not math.isfinite(value):
            raise DeviceError(f"{obj}: present-value is {value}")
        return value
    if kind in BINARY and raw in ("active", "inactive"):
        return bool(raw == "active")
    if kind in BINARY and isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    if kind in MULTISTATE and isinstance(raw, int) and not isinstance(raw, bool) and raw >= 1:
        return raw
    raise DeviceError(f"{obj}: unexpected present-value {raw!r}")


def to_device(obj: ObjectRef, value: PointValue) -> Any:
    """A value to write to ``obj``'s present-value; InvalidInput for one it cannot take."""
    kind = obj.object_type
    if kind in ANALOG and isinstance(value, int | float) and not isinstance(value, bool):
        if math.isfinite(value):
            return float(value)
    elif kind in BINARY and (isinstance(value, bool) or value in (0, 1)):
        return "active" if value else "inactive"
    elif kind in MULTISTATE and _is_state(value):
        return value
    raise InvalidInput(
        f"{obj} cannot take {value!r} (analog: a number; binary: true/false; "
        "multi-state: a state number from 1)",
        field="value",
    )


def _is_state(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1
