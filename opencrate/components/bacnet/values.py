"""BACnet values as plain Python, and a point's status from its flags (no I/O).

bacpypes3 answers with its own types (``Real``, ``Enumerated``,
``ObjectIdentifier``, ``StatusFlags``, ``PriorityValue`` choices, arrays).
Everything above the adapter works with plain Python instead, so that no
bacpypes3 type reaches the PointStore, the DiscoveryStore or JSON:

=======================  ==========================================
BACnet                   Python
=======================  ==========================================
Null                     ``None``
Boolean                  ``bool``
Unsigned, Integer        ``int``
Real, Double             ``float`` (a Real as its shortest decimal)
CharacterString          ``str``
Enumerated               its name (``"active"``, ``"degrees-celsius"``)
ObjectIdentifier         :class:`ObjectRef`
BitString                ``list[bool]`` (``StatusFlags``: in-alarm,
                         fault, overridden, out-of-service)
Choice                   the chosen value (a ``PriorityValue`` slot)
Array, List              ``list``
Sequence                 ``dict`` of its present elements
=======================  ==========================================
"""

from __future__ import annotations

import math
from typing import Any

from attrs import frozen
from bacpypes3.constructeddata import Any as BacnetAny
from bacpypes3.constructeddata import Array, Choice, List, Sequence
from bacpypes3.primitivedata import (
    BitString,
    Boolean,
    CharacterString,
    Date,
    Double,
    Enumerated,
    Integer,
    Null,
    ObjectIdentifier,
    OctetString,
    Real,
    Time,
    Unsigned,
)

from opencrate.errors import InvalidInput
from opencrate.model.values import PointStatus, shortest_float32

__all__ = [
    "ANALOG",
    "BINARY",
    "COMMANDABLE",
    "MULTISTATE",
    "POINT_TYPES",
    "ObjectRef",
    "point_status",
    "to_python",
]

#: The object types the bridge turns into points, by value family.
ANALOG = frozenset({"analog-input", "analog-output", "analog-value"})
BINARY = frozenset({"binary-input", "binary-output", "binary-value"})
MULTISTATE = frozenset({"multi-state-input", "multi-state-output", "multi-state-value"})
POINT_TYPES = ANALOG | BINARY | MULTISTATE
#: Types that always have a priority array (values may: the bridge asks them).
COMMANDABLE = frozenset({"analog-output", "binary-output", "multi-state-output"})


@frozen(order=True)
class ObjectRef:
    """A BACnet object identifier: ``ObjectRef("analog-input", 1)``."""

    object_type: str
    instance: int

    @classmethod
    def parse(cls, text: str) -> ObjectRef:
        """``"analog-input,1"`` or ``"analog-input-1"`` -> ObjectRef; InvalidInput otherwise."""
        kind, sep, number = text.replace(":", ",").rpartition(",")
        if not sep:
            kind, sep, number = text.rpartition("-")
        if not sep or not kind or not number.isdigit():
            raise InvalidInput(
                f"bad BACnet object {text!r}: expected 'object-type,instance' "
                "like 'analog-input,1'",
                field="object",
            )
        return cls(kind, int(number))

    @property
    def point_suffix(self) -> str:
        """The part of a point node id after the device: ``analog-input-1``."""
        return f"{self.object_type}-{self.instance}"

    def __str__(self) -> str:
        return f"{self.object_type},{self.instance}"


def to_python(value: Any) -> Any:
    """``value`` (a bacpypes3 element, or already plain) as plain Python; see the table."""
    if value is None or isinstance(value, Null):
        return None
    if isinstance(value, ObjectIdentifier):
        return ObjectRef(str(value[0]), int(value[1]))
    if isinstance(value, Boolean):
        return bool(value)
    if isinstance(value, Enumerated):
        return str(value)
    if isinstance(value, (Unsigned, Integer)):
        return int(value)
    if isinstance(value, Double):
        return float(value)
    if isinstance(value, Real):
        return shortest_float32(float(value))  # 21.4, not the 21.399999618530273 it widens to
    if isinstance(value, CharacterString):
        return str(value)
    if isinstance(value, BitString):
        return [bool(bit) for bit in value]
    if isinstance(value, (OctetString, Date, Time)):
        return str(value)
    if isinstance(value, Choice):
        chosen = getattr(value, "_choice", None)
        return None if chosen is None else to_python(getattr(value, chosen, None))
    if isinstance(value, (Array, List, list, tuple)):
        return [to_python(item) for item in value]
    if isinstance(value, Sequence):
        return {
            name: to_python(getattr(value, name))
            for name in getattr(value, "_order", ())
            if getattr(value, name, None) is not None
        }
    if isinstance(value, BacnetAny):
        return None  # a value the bridge has no type for: nothing it can show
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


def point_status(
    status_flags: list[bool] | None, reliability: str | None, *, value: object = 0
) -> PointStatus:
    """A point's status from its ``status-flags``, ``reliability`` and value.

    fault (flag or a reliability other than ``no-fault-detected``) wins over
    out-of-service (``disabled``), which wins over overridden
    (``overridden``); a real that is not finite is a ``fault`` too.
    """
    flags = list(status_flags or []) + [False] * 4
    in_alarm, fault, overridden, out_of_service = flags[:4]
    del in_alarm  # an alarm is the alarm engine's business, not the value's status
    if fault or (reliability not in (None, "no-fault-detected")):
        return PointStatus.FAULT
    if isinstance(value, float) and not math.isfinite(value):
        return PointStatus.FAULT
    if out_of_service:
        return PointStatus.DISABLED
    if overridden:
        return PointStatus.OVERRIDDEN
    return PointStatus.OK
