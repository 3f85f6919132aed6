"""Commands to Modbus points: the winner of the point's priority array written, then read back.

Modbus devices keep no priority array, so the bridge keeps one per writable
point in memory: :class:`ModbusWriter` is a
:class:`~opencrate.components.devices.commands.PriorityWriter`, which holds the
arrays, the lock, timed expiry and the read-back into the PointStore (and,
through the CommandRouter, operator overrides). What is Modbus's is here:
which points can be written (coils and holding registers, unless the binding
says ``writable = false``), whether a value fits the register, and the
requests. Whichever slot changed, the array's winner is written (FC 5 for a
coil, FC 6 or 16 for registers, a read-modify-write FC 3 + FC 6 for a bit
within a register) and read back.

When every slot is empty the device keeps the last value written: Modbus has
no relinquish, so nothing is sent.
"""

from __future__ import annotations

from opencrate.clock import Clock
from opencrate.components.devices.commands import PriorityWriter
from opencrate.components.modbus.datatypes import decode, encode, encode_bit
from opencrate.components.modbus.poller import BoundPoint, DevicePoller
from opencrate.components.points.store import PointStore
from opencrate.errors import InvalidInput, NotFound
from opencrate.model.priority import PriorityArray
from opencrate.model.values import PointValue

__all__ = ["ModbusTarget", "ModbusWriter"]

#: Where a command goes: the device's poller (its connection) and the point's register.
ModbusTarget = tuple[DevicePoller, BoundPoint]


class ModbusWriter(PriorityWriter[ModbusTarget]):
    """The bridge's writable points' priority arrays; see the module docstring."""

    def __init__(
        self, pollers: dict[str, DevicePoller], *, points: PointStore, clock: Clock
    ) -> None:
        super().__init__(points=points, clock=clock)
        self._pollers = pollers  # the bridge's, filled when it runs

    def _find(self, point_id: str) -> ModbusTarget:
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

    def _check(self, point: ModbusTarget, value: PointValue) -> None:
        fmt = point[1].format
        if fmt.bit is not None:
            encode_bit(fmt, 0, value)  # type: ignore[arg-type]
        else:
            encode(fmt, value)

    async def _apply(
        self, point: ModbusTarget, array: PriorityArray, priority: int
    ) -> PointValue | None:
        """Write the array's winner (whatever ``priority`` did) and read it back."""
        value = array.value
        if value is None:
            return None
        poller, bound = point
        fmt, client, address = bound.format, poller.client, bound.address
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
        return decode(fmt, await client.read(fmt.register_type, address, fmt.count))
