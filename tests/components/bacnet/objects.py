"""bacpypes3 local objects for test devices, without repeating what every test object has."""

from __future__ import annotations

from typing import Any

from bacpypes3.local.analog import AnalogInputObject, AnalogOutputObject, AnalogValueObject
from bacpypes3.local.binary import BinaryValueObject

__all__ = ["bacnet_object"]

_CLASSES: dict[str, Any] = {
    "analog-input": AnalogInputObject,
    "analog-output": AnalogOutputObject,
    "analog-value": AnalogValueObject,
    "binary-value": BinaryValueObject,
}


def bacnet_object(
    object_type: str, instance: int, name: str, value: object, **properties: Any
) -> Any:
    """An object of ``object_type`` in service and normal, no status flags set, and (analog)
    a COV increment of 0.1 - bacpypes3's COV detection needs one - unless ``properties`` say
    otherwise (bacpypes3's own camelCase names: ``units``, ``reliability``, ...)."""
    defaults: dict[str, Any] = {
        "statusFlags": [0, 0, 0, 0],
        "eventState": "normal",
        "outOfService": False,
    }
    if object_type.startswith("analog"):
        defaults["covIncrement"] = 0.1
    return _CLASSES[object_type](
        objectIdentifier=(object_type, instance),
        objectName=name,
        presentValue=value,
        **{**defaults, **properties},
    )
