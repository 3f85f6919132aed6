"""The simulator's objects as bacpypes3 0.0.110 local objects (device, analog, binary, multi-state).

:func:`build_objects` makes a :class:`~.sim_objects.SimDevice`'s DeviceObject (maximum APDU
1476, segmentation both ways) and one object per :class:`~.sim_objects.SimObject`, with its
name, description, units, status flags, reliability, COV criteria and, when commandable, a
priority array and a relinquish default. They must be made on the asyncio loop that will serve
them (bacpypes3 objects schedule their own set-up on the running loop).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from bacpypes3.basetypes import PriorityValue, Segmentation
from bacpypes3.errors import PropertyError
from bacpypes3.local.analog import (
    AnalogInputObject,
    AnalogOutputObject,
    AnalogValueObject,
    AnalogValueObjectCmd,
)
from bacpypes3.local.binary import BinaryInputObject, BinaryOutputObject, BinaryValueObject
from bacpypes3.local.cmd import Commandable
from bacpypes3.local.cov import GenericCriteria
from bacpypes3.local.device import DeviceObject
from bacpypes3.local.multistate import (
    MultiStateInputObject,
    MultiStateOutputObject,
    MultiStateValueObject,
)

from opencrate.components.bacnet.sim_objects import SimDevice, SimObject
from opencrate.components.bacnet.units import engineering_units
from opencrate.model.values import PointValue, ValueKind

__all__ = ["MAX_APDU", "OBJECT_CLASSES", "bacnet_value", "build_objects"]

MAX_APDU = 1476


class _Guarded:
    """Writes only where a real device takes them: present-value of a commandable object.
    Anything else is refused with write-access-denied (bacpypes3 itself lets a client write
    any property, an input's present value or an object's name included)."""

    _sim_writable: frozenset[str] = frozenset()
    _property_identifier_class: Any

    async def write_property(
        self, attr: Any, value: Any, index: int | None = None, priority: int | None = None
    ) -> None:
        name = self._property_identifier_class(attr).attr if isinstance(attr, int) else attr
        if name not in self._sim_writable:
            raise PropertyError("writeAccessDenied")
        await super().write_property(attr, value, index, priority)  # type: ignore[misc]


# The served classes. Besides the guard they put two things of bacpypes3 0.0.110 right: it gives
# multi-state objects the analog COV criteria (they have no covIncrement, so a subscription
# fails), and builds BinaryValueObjectCmd without the local object base (no COV, no propertyList).
class _AI(_Guarded, AnalogInputObject):  # type: ignore[misc]
    pass


class _AO(_Guarded, AnalogOutputObject):  # type: ignore[misc]
    pass


class _AV(_Guarded, AnalogValueObject):  # type: ignore[misc]
    pass


class _AVCmd(_Guarded, AnalogValueObjectCmd):  # type: ignore[misc]
    pass


class _BI(_Guarded, BinaryInputObject):  # type: ignore[misc]
    pass


class _BO(_Guarded, BinaryOutputObject):  # type: ignore[misc]
    pass


class _BV(_Guarded, BinaryValueObject):  # type: ignore[misc]
    pass


class _BVCmd(_Guarded, Commandable, BinaryValueObject):  # type: ignore[misc]
    pass


class _MSI(_Guarded, MultiStateInputObject):  # type: ignore[misc]
    _cov_criteria = GenericCriteria


class _MSO(_Guarded, MultiStateOutputObject):  # type: ignore[misc]
    _cov_criteria = GenericCriteria


class _MSV(_Guarded, MultiStateValueObject):  # type: ignore[misc]
    _cov_criteria = GenericCriteria


class _MSVCmd(_Guarded, Commandable, MultiStateValueObject):  # type: ignore[misc]
    _cov_criteria = GenericCriteria


#: Object type -> (plain class, commandable class or None if never commandable).
#: Outputs are always commandable: their plain class is the commandable one.
OBJECT_CLASSES: Mapping[str, tuple[type[Any], type[Any] | None]] = {
    "analog-input": (_AI, None),
    "analog-output": (_AO, _AO),
    "analog-value": (_AV, _AVCmd),
    "binary-input": (_BI, None),
    "binary-output": (_BO, _BO),
    "binary-value": (_BV, _BVCmd),
    "multi-state-input": (_MSI, None),
    "multi-state-output": (_MSO, _MSO),
    "multi-state-value": (_MSV, _MSVCmd),
}


def bacnet_value(obj: SimObject, value: PointValue) -> Any:
    """A point value as the object's presentValue: a float, ``"active"``/``"inactive"``, 1..N."""
    if obj.kind is ValueKind.BOOL:
        return "active" if value else "inactive"
    if obj.kind is ValueKind.ENUM:
        return int(value)
    return float(value)


@functools.cache
def _null_slot() -> PriorityValue:
    return PriorityValue(null=())


def build_objects(device: SimDevice) -> list[Any]:
    """The bacpypes3 local objects of ``device``: its DeviceObject first, then one per object.

    Must run on the asyncio loop that will serve them (bacpypes3 objects schedule their own
    post-initialisation on the running loop).
    """
    built: list[Any] = [
        DeviceObject(
            objectIdentifier=("device", device.instance),
            objectName=device.name,
            vendorName=device.vendor_name,
            vendorIdentifier=device.vendor_id,
            modelName=device.model,
            description=f"OpenCrate simulated device {device.instance}",
            maxApduLengthAccepted=MAX_APDU,
            segmentationSupported=Segmentation.segmentedBoth,
            maxSegmentsAccepted=64,
        )
    ]
    for obj in device.objects:
        plain, commandable = OBJECT_CLASSES[obj.object_type]
        cls = commandable if obj.commandable and commandable is not None else plain
        present = bacnet_value(obj, obj.initial)
        kwargs: dict[str, Any] = {
            "objectIdentifier": obj.object_id,
            "objectName": obj.name,
            "description": obj.description,
            "presentValue": present,
            "eventState": "normal",
            "outOfService": False,
            "reliability": "no-fault-detected",
        }
        if obj.kind is ValueKind.NUMBER:
            kwargs["units"] = engineering_units(obj.unit)
            kwargs["covIncrement"] = obj.cov_increment
        elif obj.object_type in ("binary-input", "binary-output"):  # values have no polarity
            kwargs["polarity"] = "normal"
        if obj.kind is ValueKind.ENUM:
            kwargs["numberOfStates"] = len(obj.states)
            kwargs["stateText"] = list(obj.states)
        if cls is commandable:
            kwargs["relinquishDefault"] = present
            # Sixteen fresh nulls cost ~2 ms an object in bacpypes3; one shared null is safe, as
            # a write replaces a slot's PriorityValue and never changes it in place.
            kwargs["priorityArray"] = [_null_slot()] * 16
        made = cls(**kwargs)
        if obj.commandable:
            made._sim_writable = frozenset({"presentValue"})
        built.append(made)
    return built
