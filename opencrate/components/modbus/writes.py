"""Commands to Modbus points: a priority array per point, the winner written, then read back.

Modbus devices keep no priority array, so the bridge keeps one per writable
point in memory (:class:`~opencrate.model.priority.PriorityArray`, the same
rules as BACnet's): a schedule at 12 and an operator at 8 resolve to the
operator's value; when the operator relinquishes, the schedule's comes back.
Each change of the winner is written to the device (FC 5 for a coil, FC 6 or
16 for registers, a read-modify-write FC 3 + FC 6 for a bit within a
register) and read back, and the read-back value is what the PointStore
shows: an operator sees what the device holds, not what was asked.

When every slot is empty the device keeps the last value written (Modbus has
no relinquish; a point may name a ``relinquish_default`` in its binding,
which is then written).

Operator overrides (``PUT /api/points/{id}/override``) of Modbus points are
written at priority 8 by the user who set them, and relinquished when the
override is released or expires: :meth:`ModbusWriter.follow_overrides`
follows the OverrideStore's announcements on the bus. Timed writes
(``duration``) relinquish their slot when the time comes.
"""

from __future__ import annotations

import logging
from typing import Any

import trio
from attrs import frozen

from opencrate.clock import Clock
from opencrate.components.modbus.datatypes import decode, encode, encode_bit
from opencrate.components.modbus.poller import BoundPoint, DevicePoller
from opencrate.components.overrides.store import OverrideStore
from opencrate.components.points.store import PointStore
from opencrate.errors import BridgeError, InvalidInput, NotFound
from opencrate.model.priority import DEFAULT_PRIORITY, Command, PriorityArray, check_priority
from opencrate.model.values import PointValue
from opencrate.runtime.bus import EventBus
from opencrate.runtime.events import EntityUpdated

__all__ = ["OVERRIDE_PRIORITY", "ModbusWriter", "WriteResult"]

log = logging.getLogger(__name__)

#: The slot an operator override takes (BACnet's "manual operator").
OVERRIDE_PRIORITY = DEFAULT_PRIORITY


@frozen(kw_only=True)
class WriteResult:
    """What a write or relinquish did: the winning command and what the device holds now."""

    point_id: str
    priority: int  # the slot written or relinquished
    active_priority: int | None  # the winning slot afterwards (None: all empty)
    commanded: PointValue | None  # the value the device was told (None: nothing written)
    read_back: PointValue | None  # what the device answered after the write


class ModbusWriter:
    """The priority arrays of the bridge's writable points; see the module docstring."""

    def __init__(
        self, pollers: dict[str, DevicePoller], *, points: PointStore, clock: Clock
    ) -> None:
        self._pollers = pollers  # the bridge's, filled when it runs
        self._points = points
        self._clock = clock
        self._arrays: dict[str, PriorityArray] = {}
        self._changed = trio.Event()
        self._lock = trio.Lock()  # one command at a time: the winner is computed and written whole
        self.written = 0  # commands applied to a device (a fact tests can wait on)
        self._applied = trio.Event()

    async def wait_written(self, count: int) -> None:
        """Return once at least ``count`` commands have been applied (tests, tools)."""
        while self.written < count:
            await self._applied.wait()

    def _find(self, point_id: str) -> tuple[DevicePoller, BoundPoint]:
        for poller in self._pollers.values():
            point = poller.points.get(point_id)
            if point is not None:
                if not point.format.writable:
                    raise InvalidInput(
                        f"point {point_id} is a {point.format.register_type} "
                        f"{'register' if not point.format.is_bit_table else 'bit'}, "
                        "which Modbus cannot write (only coils and holding registers)",
                        node_id=point_id,
                    )
                return poller, point
        raise NotFound(f"point {point_id!r} is not a polled Modbus point", node_id=point_id)

    def array(self, point_id: str) -> PriorityArray:
        """The point's priority array (empty if never written); NotFound / InvalidInput as write."""
        self._find(point_id)
        return self._arrays.setdefault(point_id, PriorityArray())

    async def write(
        self,
        point_id: str,
        value: PointValue | None,
        *,
        priority: int = DEFAULT_PRIORITY,
        by: str,
        duration_s: float | None = None,
    ) -> WriteResult:
        """Command ``value`` at ``priority`` (None: relinquish it); the winner is written.

        Raises NotFound for a point the bridge does not poll, InvalidInput for a
        read-only point, a bad priority or a value the register cannot hold,
        and the BridgeError of the device (the slot is then not kept: a command
        the device never took must not win later by surprise).
        """
        check_priority(priority)
        if duration_s is not None and not duration_s > 0:
            raise InvalidInput(f"duration must be above zero, got {duration_s!r}", field="duration")
        poller, point = self._find(point_id)
        async with self._lock:
            array = self._arrays.setdefault(point_id, PriorityArray())
            before = array.slots()[priority - 1]
            now = self._clock.now_ms()
            if value is None:
                array.relinquish(priority)
            else:
                until = None if duration_s is None else now + int(duration_s * 1000)
                _check_encodable(point, value)  # InvalidInput before the slot is taken
                array.write(
                    Command(priority=priority, value=value, by=by, at_ms=now, until_ms=until)
                )
            try:
                read_back = await self._apply(poller, point, array)
            except BridgeError:
                _restore(array, priority, before)
                raise
            self._changed.set()
            active = array.active
            return WriteResult(
                point_id=point_id,
                priority=priority,
                active_priority=None if active is None else active.priority,
                commanded=array.value,
                read_back=read_back,
            )

    async def _apply(
        self, poller: DevicePoller, point: BoundPoint, array: PriorityArray
    ) -> PointValue | None:
        """Write the array's winner to the device and read it back; None when nothing wins."""
        value = array.value
        if value is None:
            return None
        fmt, client, address = point.format, poller.client, point.address
        if fmt.is_bit_table:
            (bit,) = encode(fmt, value)
            await client.write_coil(address, bool(bit))
        elif fmt.bit is not None:
            (current,) = await client.read_holding_registers(address, 1)
            await client.write_register(address, encode_bit(fmt, current, bool(value)))
        else:
            words = [int(w) for w in encode(fmt, value)]
            if len(words) == 1:
                await client.write_register(address, words[0])
            else:
                await client.write_registers(address, words)
        read_back = decode(fmt, await client.read(fmt.register_type, address, fmt.count))
        self._points.set_if_changed(point.point_id, read_back, ts_ms=self._clock.now_ms())
        self.written += 1
        self._applied.set()
        self._applied = trio.Event()
        return read_back

    async def run_expiry(self) -> None:
        """Relinquish timed slots when their time comes, writing the next winner; forever."""
        while True:
            soonest = [
                (t, p) for p, a in self._arrays.items() if (t := a.next_expiry_ms()) is not None
            ]
            changed = self._changed = trio.Event()
            if not soonest:
                await changed.wait()
                continue
            when_ms, point_id = min(soonest)
            with trio.move_on_after(max(0.0, (when_ms - self._clock.now_ms()) / 1000)):
                await changed.wait()
                continue
            await self._expire(point_id)

    async def _expire(self, point_id: str) -> None:
        async with self._lock:
            array = self._arrays[point_id]
            gone = array.expire(self._clock.now_ms())
            if not gone:
                return
            poller, point = self._find(point_id)
            try:
                await self._apply(poller, point, array)
            except BridgeError as exc:
                log.warning(
                    "modbus: %s: writing after a timed command ended failed: %s", point_id, exc
                )

    async def follow_overrides(self, bus: EventBus, overrides: OverrideStore) -> None:
        """Write operator overrides of Modbus points at priority 8; relinquish when they end.

        Overrides already active at start (restored from ``overrides.db``) are
        written first: after a restart the devices get them again.
        """
        with bus.subscribe(EntityUpdated, name="modbus-overrides") as events:
            for override in overrides.active():
                await self._follow(override.node_id, overrides)
            while True:
                event = await events.receive()
                if not isinstance(event, EntityUpdated) or "override" not in event.changed_fields:
                    continue  # Lagged too: a missed override is written at its next change
                await self._follow(event.entity_id, overrides)

    async def _follow(self, point_id: str, overrides: OverrideStore) -> None:
        try:
            self._find(point_id)
        except (NotFound, InvalidInput):
            return  # not a writable Modbus point: the override stays in the PointStore only
        override = overrides.get(point_id)
        value: Any = None if override is None else override.value
        by = "system:override" if override is None else override.user
        try:
            await self.write(point_id, value, priority=OVERRIDE_PRIORITY, by=by)
        except (BridgeError, InvalidInput) as exc:
            log.warning("modbus: %s: writing the override failed: %s", point_id, exc)


def _check_encodable(point: BoundPoint, value: PointValue) -> None:
    if point.format.bit is not None:
        encode_bit(point.format, 0, value)  # type: ignore[arg-type]
    else:
        encode(point.format, value)


def _restore(array: PriorityArray, priority: int, before: Command | None) -> None:
    if before is None:
        array.relinquish(priority)
    else:
        array.write(before)
