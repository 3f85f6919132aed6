"""Commands to BACnet points: WriteProperty at a priority, relinquish by writing null.

The shared write path (:class:`~opencrate.components.devices.commands.PriorityWriter`)
keeps the slots OpenCrate itself commands (who, when, until when), so that
timed writes end on time and a refused write is undone. Unlike a Modbus
register, a commandable BACnet object keeps its own priority array: the
writer sends exactly the slot that changed - ``present-value`` at that
priority, with the value, or with null to relinquish it - and the device
decides the winner among every writer on the network (a schedule in the
controller, a BMS front end, OpenCrate). The present value read back
afterwards is what the PointStore shows.

:meth:`BacnetWriter.priority_view` therefore reads the device's own
``priority-array``: the sixteen slots as the device holds them, with
``by`` / ``at_ms`` / ``until_ms`` filled in where the slot holds what
OpenCrate wrote there (a slot some other client wrote shows its value with
no author). A value object that is not commandable has no priority array:
the device takes the write as a plain write of present-value (the priority
is ignored, as the standard says), or refuses it if the value is read-only
(a DeviceError: 502), and its view shows OpenCrate's own slots.
"""

from __future__ import annotations

from opencrate.clock import Clock
from opencrate.components.bacnet.bridge import BacnetBridge
from opencrate.components.bacnet.points import BacnetPoint, from_device, to_device
from opencrate.components.bacnet.poller import DevicePoller
from opencrate.components.bacnet.values import COMMANDABLE
from opencrate.components.devices.commands import PrioritySlot, PriorityView, PriorityWriter
from opencrate.components.points.store import PointStore
from opencrate.errors import DeviceError, InvalidInput, NotFound
from opencrate.model.priority import PriorityArray
from opencrate.model.values import PointValue

__all__ = ["BacnetWriter"]

_READ_ONLY = frozenset({"analog-input", "binary-input", "multi-state-input"})


class BacnetWriter(PriorityWriter[tuple[DevicePoller, BacnetPoint]]):
    """The BACnet bridge's writer; see the module docstring."""

    def __init__(self, bridge: BacnetBridge, *, points: PointStore, clock: Clock) -> None:
        super().__init__(points=points, clock=clock)
        self._bridge = bridge

    def _find(self, point_id: str) -> tuple[DevicePoller, BacnetPoint]:
        for poller in self._bridge.pollers.values():
            point = poller.points.get(point_id)
            if point is not None:
                if point.object.object_type in _READ_ONLY:
                    raise InvalidInput(
                        f"point {point_id} is a BACnet {point.object.object_type}, "
                        "which cannot be commanded (outputs and values can)",
                        node_id=point_id,
                    )
                return poller, point
        raise NotFound(f"point {point_id!r} is not a polled BACnet point", node_id=point_id)

    def _check(self, point: tuple[DevicePoller, BacnetPoint], value: PointValue) -> None:
        to_device(point[1].object, value)

    async def _apply(
        self, point: tuple[DevicePoller, BacnetPoint], array: PriorityArray, priority: int
    ) -> PointValue | None:
        poller, bound = point
        command = array.slots()[priority - 1]
        address = poller.device.address
        value = None if command is None else to_device(bound.object, command.value)
        await poller.stack.write_property(
            address, bound.object, bound.property, value, priority=priority
        )
        raw = await poller.stack.read_property(address, bound.object, bound.property)
        return from_device(bound.object, raw)

    async def priority_view(self, point_id: str) -> PriorityView:
        """The device's own sixteen slots, ours annotated; see the module docstring."""
        poller, bound = self._find(point_id)
        local = self.array(point_id)
        try:
            raw = await poller.stack.read_property(
                poller.device.address, bound.object, "priority-array"
            )
        except DeviceError:
            if bound.object.object_type in COMMANDABLE:
                raise
            return PriorityView.of(point_id, local)  # a value object without an array
        if not isinstance(raw, list) or len(raw) != 16:
            raise DeviceError(f"{bound.object}: priority-array is not 16 slots: {raw!r}")
        ours = local.slots()
        slots: list[PrioritySlot | None] = []
        for index, item in enumerate(raw):
            if item is None:
                slots.append(None)
                continue
            try:
                value = from_device(bound.object, item)
            except DeviceError:
                slots.append(None)
                continue
            mine = ours[index]
            if mine is not None and mine.value == value:
                slots.append(PrioritySlot.of(mine))
            else:
                slots.append(
                    PrioritySlot(priority=index + 1, value=value, by=None, at_ms=None,
                                 until_ms=None)
                )  # fmt: skip
        active = next((s for s in slots if s is not None), None)
        return PriorityView(
            point_id=point_id,
            active_priority=None if active is None else active.priority,
            value=None if active is None else active.value,
            slots=tuple(slots),
        )
