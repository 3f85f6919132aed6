"""A BACnet-style priority array: who is commanding a point, and which command wins.

A writable point has sixteen slots, priority 1 (highest: manual life safety)
to 16 (lowest), and a relinquish default. Each writer owns a slot: an
operator writes at 8 (manual operator), a schedule at 12 or 16, a program
at its own level. The point's commanded value is the one in the lowest-
numbered occupied slot; when every slot is empty (relinquished) it is the
relinquish default, or nothing (the device keeps what it last had).

Modbus devices have no such array, so the Modbus bridge keeps one per point
in memory and writes the winner; BACnet devices keep their own, and the
same rules make a schedule at 12 and an operator at 8 resolve the same way
on both. A slot may carry an expiry (a timed override); :meth:`expire`
empties the slots whose time has come.

Pure: no I/O, no clock of its own (callers pass ``now_ms``).
"""

from __future__ import annotations

from typing import Final

from attrs import define, field, frozen

from opencrate.errors import InvalidInput
from opencrate.model.values import PointValue

__all__ = [
    "DEFAULT_PRIORITY",
    "PRIORITY_NAMES",
    "Command",
    "PriorityArray",
    "check_priority",
]

#: BACnet's "manual operator" level, used when a writer names none.
DEFAULT_PRIORITY: Final = 8

#: The names ASHRAE 135 (clause 19.2.1) gives the levels; the others are "available".
PRIORITY_NAMES: Final = {
    1: "manual life safety",
    2: "automatic life safety",
    5: "critical equipment control",
    6: "minimum on/off",
    8: "manual operator",
    16: "default",
}


def check_priority(priority: object) -> int:
    """``priority`` as an int 1..16; InvalidInput naming it otherwise."""
    if isinstance(priority, bool) or not isinstance(priority, int) or not 1 <= priority <= 16:
        raise InvalidInput(
            f"priority must be an integer from 1 (highest) to 16 (lowest), got {priority!r}",
            field="priority",
        )
    return priority


@frozen(kw_only=True)
class Command:
    """One occupied slot: the value, who wrote it and until when (None: until relinquished)."""

    priority: int
    value: PointValue
    by: str
    at_ms: int
    until_ms: int | None = None


@define
class PriorityArray:
    """The sixteen slots of one point, and its relinquish default."""

    relinquish_default: PointValue | None = None
    _slots: dict[int, Command] = field(factory=dict, init=False)

    def write(self, command: Command) -> PointValue | None:
        """Occupy ``command.priority``'s slot; the winning value afterwards."""
        check_priority(command.priority)
        self._slots[command.priority] = command
        return self.value

    def relinquish(self, priority: int) -> PointValue | None:
        """Empty the slot (no error when it was empty); the winning value afterwards."""
        self._slots.pop(check_priority(priority), None)
        return self.value

    def expire(self, now_ms: int) -> list[Command]:
        """Empty the slots whose ``until_ms`` has come; the commands taken out."""
        gone = [c for c in self._slots.values() if c.until_ms is not None and c.until_ms <= now_ms]
        for command in gone:
            del self._slots[command.priority]
        return gone

    @property
    def active(self) -> Command | None:
        """The winning command: the occupied slot with the lowest number, or None."""
        return self._slots[min(self._slots)] if self._slots else None

    @property
    def value(self) -> PointValue | None:
        """What the point should be commanded to: the winner, else the relinquish default."""
        active = self.active
        return active.value if active is not None else self.relinquish_default

    def next_expiry_ms(self) -> int | None:
        """When the next timed slot ends (None when none is timed)."""
        times = [c.until_ms for c in self._slots.values() if c.until_ms is not None]
        return min(times) if times else None

    def slots(self) -> list[Command | None]:
        """All sixteen slots, index 0 = priority 1 (the shape of BACnet's priority-array)."""
        return [self._slots.get(level) for level in range(1, 17)]
