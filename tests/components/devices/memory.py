"""A bridge in memory, for the tests of what every bridge shares (no protocol, no sockets).

:class:`SlotDevice` keeps its own priority array per point, as a BACnet
commandable object does: a write sets or empties one slot, and its present
value is the winner (else its relinquish default). :class:`SlotWriter` is a
:class:`~opencrate.components.devices.commands.PriorityWriter` for it built
the way a BACnet writer is: ``_apply`` sends the slot that changed, and
``priority_view`` shows the device's slots. :class:`ListSource` is a
:class:`~opencrate.components.devices.registry.DeviceSource` of fixed views.
"""

from __future__ import annotations

import random

import trio
from attrs import define, field, frozen

from opencrate.clock import Clock
from opencrate.components.devices.commands import PrioritySlot, PriorityView, PriorityWriter
from opencrate.components.devices.health import DeviceHealth, HealthSettings
from opencrate.components.devices.registry import DeviceView
from opencrate.components.points.store import PointStore
from opencrate.errors import DeviceError, InvalidInput, NotFound
from opencrate.model.priority import PriorityArray
from opencrate.model.values import PointValue

RELINQUISH_DEFAULT = 0.0


@frozen(kw_only=True)
class SlotWrite:
    """One write the device received: a slot set (value) or emptied (None)."""

    point_id: str
    priority: int
    value: PointValue | None


@define
class SlotDevice:
    """Points with sixteen slots each, kept by the device (see the module docstring)."""

    slots: dict[str, dict[int, PointValue]] = field(factory=dict)
    writes: list[SlotWrite] = field(factory=list)
    refuse: bool = False  # answer every write with an error, as a device refusing it

    async def write(self, point_id: str, priority: int, value: PointValue | None) -> None:
        await trio.lowlevel.checkpoint()
        if self.refuse:
            raise DeviceError("write access denied", device="mem-1")
        self.writes.append(SlotWrite(point_id=point_id, priority=priority, value=value))
        slots = self.slots.setdefault(point_id, {})
        if value is None:
            slots.pop(priority, None)
        else:
            slots[priority] = value

    def present_value(self, point_id: str) -> PointValue:
        slots = self.slots.get(point_id, {})
        return slots[min(slots)] if slots else RELINQUISH_DEFAULT


class SlotWriter(PriorityWriter[str]):
    """Writes to a :class:`SlotDevice`: number points in ``writable``, ``read_only`` refused."""

    def __init__(
        self,
        device: SlotDevice,
        *,
        writable: set[str],
        read_only: frozenset[str] = frozenset(),
        points: PointStore,
        clock: Clock,
    ) -> None:
        super().__init__(points=points, clock=clock)
        self.device = device
        self.writable_points = writable
        self.read_only = read_only

    def _find(self, point_id: str) -> str:
        if point_id in self.read_only:
            raise InvalidInput(f"point {point_id} is an input, not writable", node_id=point_id)
        if point_id not in self.writable_points:
            raise NotFound(f"point {point_id!r} is not on the memory bridge", node_id=point_id)
        return point_id

    def _check(self, point: str, value: PointValue) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInput(f"point {point} takes a number, got {value!r}", node_id=point)

    async def _apply(self, point: str, array: PriorityArray, priority: int) -> PointValue | None:
        command = array.slots()[priority - 1]
        await self.device.write(point, priority, None if command is None else command.value)
        return self.device.present_value(point)

    async def priority_view(self, point_id: str) -> PriorityView:
        """The device's slots; who wrote one from the local array where its value matches."""
        local = self.array(point_id).slots()
        held = self.device.slots.get(point_id, {})
        slots: list[PrioritySlot | None] = []
        for priority in range(1, 17):
            value = held.get(priority)
            ours = local[priority - 1]
            if value is None:
                slots.append(None)
            elif ours is not None and ours.value == value:
                slots.append(PrioritySlot.of(ours))
            else:
                slots.append(
                    PrioritySlot(priority=priority, value=value, by=None, at_ms=None, until_ms=None)
                )
        active = min(held) if held else None
        return PriorityView(
            point_id=point_id,
            active_priority=active,
            value=self.device.present_value(point_id),
            slots=tuple(slots),
        )


def device_view(
    key: str,
    *,
    protocol: str = "memory",
    answered: int = 1,
    failed: int = 0,
    details: dict[str, object] | None = None,
) -> DeviceView:
    """The view of a device that answered ``answered`` times, then failed ``failed`` times."""
    health = DeviceHealth(
        key,
        HealthSettings(backoff_initial_s=1.0, backoff_max_s=8.0, down_after=2),
        protocol=protocol,
        rng=random.Random(0),
        jitter=0.0,
    )
    for n in range(answered):
        health.on_success(0.0042, now_ms=1_700_000_000_000 + n)
    for n in range(failed):
        health.on_failure("no answer in 3s", now_ms=1_700_000_001_000 + n)
    return DeviceView.from_statistics(
        health.statistics(),
        protocol=protocol,
        address=f"mem://{key}",
        points=3,
        details=dict(details or {"slots": 16}),
    )


class ListSource:
    """A bridge whose devices are the views given."""

    def __init__(self, protocol: str, views: list[DeviceView]) -> None:
        self.protocol = protocol
        self.views = {v.id: v for v in views}

    def device_views(self) -> list[DeviceView]:
        return list(self.views.values())

    def device_view(self, key: str) -> DeviceView:
        try:
            return self.views[key]
        except KeyError:
            raise NotFound(f"no {self.protocol} device {key!r}", device=key) from None
