"""What a device has: its identity, its object list and each point object's description.

Used by discovery (before a device is accepted) and by the monitor loop
(the object count). All reads go through :class:`~.adapter.BacnetStack`:

* the device object's name, vendor, model, max APDU, segmentation;
* the object list: whole (one request, segmented if long) when the device
  can segment, else - or when the whole read is refused as too long - index
  by index (``object-list[0]`` is the count, then ``[1]`` .. ``[n]``);
* for each object of a type the bridge makes points of (analog, binary,
  multi-state input/output/value): name, description, units, present
  value, and whether it is commandable (it has a priority array). With
  ReadPropertyMultiple in batches where the device takes it, ReadProperty
  one by one where it does not.

A hostile or broken device cannot make this unbounded: at most
``max_objects`` entries are read (the rest is reported as ``truncated``),
and each request has the stack's deadline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from attrs import frozen

from opencrate.components.bacnet.adapter import BacnetStack, PropertyFailure
from opencrate.components.bacnet.values import COMMANDABLE, POINT_TYPES, ObjectRef
from opencrate.errors import BridgeError, DeviceError

__all__ = [
    "DeviceIdentity",
    "ObjectDescription",
    "read_identity",
    "read_object_count",
    "read_object_list",
    "read_objects",
]

#: The most objects read of one device (a real controller has hundreds, a large one thousands).
MAX_OBJECTS = 10_000
#: Objects described per ReadPropertyMultiple.
_DESCRIBE_BATCH = 16
_DESCRIBED = ("object-name", "description", "units", "present-value", "priority-array")


@frozen(kw_only=True)
class DeviceIdentity:
    """The device object's own description of itself."""

    device_name: str | None
    vendor_name: str | None
    vendor_id: int | None
    model_name: str | None
    max_apdu: int | None
    segmentation: str | None


@frozen(kw_only=True)
class ObjectDescription:
    """One point-worthy object as the device describes it."""

    object: ObjectRef
    name: str | None
    description: str | None
    units: str | None
    present_value: Any
    commandable: bool


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


async def read_identity(stack: BacnetStack, address: str, instance: int) -> DeviceIdentity:
    """The device object's name, vendor, model, APDU size and segmentation."""
    device = ObjectRef("device", instance)
    props = ("object-name", "vendor-name", "vendor-identifier", "model-name",
             "max-apdu-length-accepted", "segmentation-supported")  # fmt: skip
    try:
        got = await stack.read_property_multiple(address, [(device, props)])
    except DeviceError:
        got = {}
        for prop in props:
            try:
                got[(device, prop)] = await stack.read_property(address, device, prop)
            except DeviceError:
                continue
    return DeviceIdentity(
        device_name=_text(got.get((device, "object-name"))),
        vendor_name=_text(got.get((device, "vendor-name"))),
        vendor_id=_int(got.get((device, "vendor-identifier"))),
        model_name=_text(got.get((device, "model-name"))),
        max_apdu=_int(got.get((device, "max-apdu-length-accepted"))),
        segmentation=_text(got.get((device, "segmentation-supported"))),
    )


async def read_object_count(stack: BacnetStack, address: str, instance: int) -> int:
    """How many objects the device lists (``object-list[0]``)."""
    count = await stack.read_property(address, ObjectRef("device", instance), "object-list", 0)
    if not isinstance(count, int) or count < 0:
        raise DeviceError(f"device {instance}: object-list length {count!r} is not a count")
    return count


async def read_object_list(
    stack: BacnetStack,
    address: str,
    instance: int,
    *,
    segmented: bool,
    max_objects: int = MAX_OBJECTS,
) -> tuple[list[ObjectRef], bool]:
    """The device's object list and whether it was cut at ``max_objects``."""
    device = ObjectRef("device", instance)
    if segmented:
        try:
            whole = await stack.read_property(address, device, "object-list")
        except DeviceError:
            pass  # too long for one answer after all: read it index by index
        else:
            objects = [o for o in whole if isinstance(o, ObjectRef)]
            return objects[:max_objects], len(objects) > max_objects
    count = await read_object_count(stack, address, instance)
    objects = []
    for index in range(1, min(count, max_objects) + 1):
        item = await stack.read_property(address, device, "object-list", index)
        if isinstance(item, ObjectRef):
            objects.append(item)
    return objects, count > max_objects


async def read_objects(
    stack: BacnetStack, address: str, objects: Sequence[ObjectRef], *, rpm: bool = True
) -> list[ObjectDescription]:
    """Describe the point-worthy ``objects`` (others are skipped); see the module docstring."""
    wanted = [o for o in objects if o.object_type in POINT_TYPES]
    described: list[ObjectDescription] = []
    for start in range(0, len(wanted), _DESCRIBE_BATCH):
        batch = wanted[start : start + _DESCRIBE_BATCH]
        answers: Mapping[tuple[ObjectRef, str], Any] | None = None
        if rpm:
            try:
                answers = await stack.read_property_multiple(
                    address, [(o, _DESCRIBED) for o in batch]
                )
            except DeviceError:
                rpm = False  # no RPM (or not this much at once): one by one from here
        if answers is None:
            answers = await _read_one_by_one(stack, address, batch)
        described.extend(_description(o, answers) for o in batch)
    return described


async def _read_one_by_one(
    stack: BacnetStack, address: str, batch: Sequence[ObjectRef]
) -> dict[tuple[ObjectRef, str], Any]:
    answers: dict[tuple[ObjectRef, str], Any] = {}
    for obj in batch:
        for prop in _DESCRIBED:
            if prop == "priority-array" and obj.object_type in COMMANDABLE:
                answers[(obj, prop)] = True  # always there: no need to ask
                continue
            try:
                answers[(obj, prop)] = await stack.read_property(address, obj, prop)
            except DeviceError:
                continue  # an optional property the object does not have
            except BridgeError:
                raise
    return answers


def _description(obj: ObjectRef, answers: Mapping[tuple[ObjectRef, str], Any]) -> ObjectDescription:
    def get(prop: str) -> Any:
        value = answers.get((obj, prop))
        return None if isinstance(value, PropertyFailure) else value

    present = get("present-value")
    return ObjectDescription(
        object=obj,
        name=_text(get("object-name")),
        description=_text(get("description")),
        units=_text(get("units")),
        present_value=present if isinstance(present, bool | int | float | str) else None,
        commandable=obj.object_type in COMMANDABLE or get("priority-array") is not None,
    )
