"""Commands to field points: one priority-array write path that every bridge shares.

A schedule at 12 and an operator at 8 must resolve the same way whether the
point is on a Modbus register or a BACnet object, and an operator override,
a timed write or a failed write must behave the same on both. So the
bookkeeping lives here, once, and a bridge supplies only what its protocol
does on the wire:

- :class:`PriorityWriter` keeps a
  :class:`~opencrate.model.priority.PriorityArray` per point (the same rules
  as BACnet's), takes one command at a time (one lock: the winner is computed
  and applied whole), puts a slot back as it was when the device refuses the
  command (a command the device never took must not win later by surprise),
  relinquishes timed slots (``duration_s``) when their time comes
  (:meth:`~PriorityWriter.run_expiry`), and writes what the device read back
  into the PointStore: an operator sees what the device holds, not what was
  asked. A bridge subclasses it with ``_find`` (which of its points, or
  NotFound / InvalidInput), ``_check`` (can the point hold the value) and
  ``_apply(point, array, priority)``, which gets the slot that changed: a
  Modbus device keeps no array, so the Modbus writer writes the array's
  winner; a BACnet device keeps its own, so the BACnet writer writes that
  slot (the value, or null to relinquish) at that priority.
- :class:`CommandRouter` holds every bridge's writer and sends each command
  to the one whose point it is (``POST /api/points/{id}/write``,
  ``opencrate point``), and follows operator overrides for all of them
  (:meth:`~CommandRouter.follow_overrides`: priority 8, by the user who set
  the override, relinquished when it ends; those active at start written
  again, so that after a restart the devices get them back).
"""

from __future__ import annotations

import abc
import logging
import math
from typing import Annotated, Any, Generic, TypeVar

import msgspec
import trio
from attrs import frozen

from opencrate.clock import Clock
from opencrate.components.overrides.store import OverrideStore
from opencrate.components.points.store import PointStore
from opencrate.errors import BridgeError, InvalidInput, NotFound
from opencrate.model.priority import DEFAULT_PRIORITY, Command, PriorityArray, check_priority
from opencrate.model.values import PointValue
from opencrate.runtime.bus import EventBus
from opencrate.runtime.events import EntityUpdated

__all__ = [
    "OVERRIDE_PRIORITY",
    "CommandRouter",
    "PrioritySlot",
    "PriorityView",
    "PriorityWriter",
    "WriteResult",
]

log = logging.getLogger(__name__)

#: The slot an operator override takes (BACnet's "manual operator").
OVERRIDE_PRIORITY = DEFAULT_PRIORITY

#: What a writer's ``_find`` answers: whatever its ``_check`` and ``_apply`` need.
P = TypeVar("P")


@frozen(kw_only=True)
class WriteResult:
    """What a write or relinquish did: the winning command and what the device holds now."""

    point_id: str
    priority: int  # the slot written or relinquished
    active_priority: int | None  # the winning slot afterwards (None: all empty)
    commanded: PointValue | None  # the winning value afterwards (None: nothing commands it)
    read_back: PointValue | None  # what the device answered after the write (None: not sent)


# msgspec Structs rather than attrs records: PriorityView is the priority
# route's answer as it stands, so its fields are the OpenAPI schema (and the
# docstrings the schemas' descriptions).
class PrioritySlot(msgspec.Struct, frozen=True, kw_only=True):
    """One occupied slot of a point's priority array.

    ``by``, ``at_ms`` and ``until_ms`` are what OpenCrate knows of the command:
    null for a slot that the device holds but OpenCrate did not write (a BACnet
    device commanded by another workstation).
    """

    priority: int
    value: float | bool | str
    by: str | None
    at_ms: int | None
    until_ms: int | None

    @classmethod
    def of(cls, command: Command) -> PrioritySlot:
        return cls(
            priority=command.priority,
            value=command.value,
            by=command.by,
            at_ms=command.at_ms,
            until_ms=command.until_ms,
        )


class PriorityView(msgspec.Struct, frozen=True, kw_only=True):
    """A point's sixteen slots (index 0 = priority 1), the winning slot and its value."""

    point_id: str
    active_priority: int | None
    value: float | bool | str | None
    slots: Annotated[tuple[PrioritySlot | None, ...], msgspec.Meta(min_length=16, max_length=16)]

    @classmethod
    def of(cls, point_id: str, array: PriorityArray) -> PriorityView:
        """The view of a local array (what a bridge whose devices keep none shows)."""
        active = array.active
        return cls(
            point_id=point_id,
            active_priority=None if active is None else active.priority,
            value=array.value,
            slots=tuple(None if c is None else PrioritySlot.of(c) for c in array.slots()),
        )


class PriorityWriter(abc.ABC, Generic[P]):
    """The priority arrays of one bridge's writable points; see the module docstring.

    Subclasses implement :meth:`_find`, :meth:`_check` and :meth:`_apply`, and
    may override :meth:`priority_view` (a device that keeps its own array).
    Each is called under the writer's lock, never two at once.
    """

    def __init__(self, *, points: PointStore, clock: Clock) -> None:
        self._points = points
        self._clock = clock
        self._arrays: dict[str, PriorityArray] = {}
        self._changed = trio.Event()
        self._lock = trio.Lock()
        self.written = 0  # commands applied to a device (a fact tests can wait on)
        self._applied = trio.Event()

    # -- what a bridge implements -------------------------------------------------------
    @abc.abstractmethod
    def _find(self, point_id: str) -> P:
        """The bridge's writable point ``point_id``.

        Raises NotFound when the bridge has no such point (another bridge may),
        InvalidInput naming the point when it has it but cannot write it.
        """

    @abc.abstractmethod
    def _check(self, point: P, value: PointValue) -> None:
        """InvalidInput when the point cannot hold ``value``; called before a slot is taken."""

    @abc.abstractmethod
    async def _apply(self, point: P, array: PriorityArray, priority: int) -> PointValue | None:
        """Send the change of ``priority``'s slot (already made in ``array``) to the device.

        Returns what the device reads back afterwards, or None when nothing
        was sent (nothing to command). Raises the device's BridgeError; the
        slot is then put back as it was.
        """

    # -- the shared path ----------------------------------------------------------------
    def handles(self, point_id: str) -> bool:
        """Is ``point_id`` this bridge's (writable or not: :meth:`write` says why not)."""
        try:
            self._find(point_id)
        except NotFound:
            return False
        except InvalidInput:
            return True
        return True

    def writable(self, point_id: str) -> bool:
        """Is ``point_id`` this bridge's and writable."""
        try:
            self._find(point_id)
        except (NotFound, InvalidInput):
            return False
        return True

    def array(self, point_id: str) -> PriorityArray:
        """The point's local priority array (empty if never written); errors as :meth:`_find`."""
        self._find(point_id)
        return self._arrays.setdefault(point_id, PriorityArray())

    async def priority_view(self, point_id: str) -> PriorityView:
        """The point's sixteen slots; errors as :meth:`_find`.

        This default shows the local array; a writer whose devices keep their
        own overrides it to read theirs.
        """
        return PriorityView.of(point_id, self.array(point_id))

    async def wait_written(self, count: int) -> None:
        """Return once at least ``count`` commands have been applied (tests, tools)."""
        while self.written < count:
            await self._applied.wait()

    async def write(
        self,
        point_id: str,
        value: PointValue | None,
        *,
        priority: int = DEFAULT_PRIORITY,
        by: str,
        duration_s: float | None = None,
    ) -> WriteResult:
        """Command ``value`` at ``priority`` (None: relinquish it) and apply it to the device.

        ``duration_s`` relinquishes the slot after that many seconds. Raises
        InvalidInput for a bad priority or duration, the errors of
        :meth:`_find` (NotFound, InvalidInput for a read-only point) and
        :meth:`_check` (a value the point cannot hold), and the BridgeError of
        the device (the slot is then not kept).
        """
        check_priority(priority)
        if duration_s is not None and not (math.isfinite(duration_s) and duration_s > 0):
            raise InvalidInput(
                f"duration must be a finite number of seconds above zero, got {duration_s!r}",
                field="duration",
            )
        point = self._find(point_id)
        if value is not None:
            self._check(point, value)  # InvalidInput before the slot is taken
        async with self._lock:
            array = self._arrays.setdefault(point_id, PriorityArray())
            before = array.slots()[priority - 1]
            now = self._clock.now_ms()
            if value is None:
                array.relinquish(priority)
            else:
                until = None if duration_s is None else now + int(duration_s * 1000)
                array.write(
                    Command(priority=priority, value=value, by=by, at_ms=now, until_ms=until)
                )
            try:
                read_back = await self._apply(point, array, priority)
            except BridgeError:
                _restore(array, priority, before)
                raise
            self._record(point_id, read_back)
            self._changed.set()
            active = array.active
            return WriteResult(
                point_id=point_id,
                priority=priority,
                active_priority=None if active is None else active.priority,
                commanded=array.value,
                read_back=read_back,
            )

    async def run_expiry(self) -> None:
        """Relinquish timed slots when their time comes, applying each; forever."""
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
            gone = self._arrays[point_id].expire(self._clock.now_ms())
            if not gone:
                return
            try:
                point = self._find(point_id)
            except (NotFound, InvalidInput):
                return  # no longer the bridge's writable point: nothing to send
            array = self._arrays[point_id]
            for command in sorted(gone, key=lambda c: c.priority):
                try:
                    read_back = await self._apply(point, array, command.priority)
                except BridgeError as exc:
                    log.warning(
                        "%s: applying the end of a timed command (priority %d) failed: %s",
                        point_id,
                        command.priority,
                        exc,
                    )
                    continue
                self._record(point_id, read_back)

    def _record(self, point_id: str, read_back: PointValue | None) -> None:
        if read_back is None:
            return  # nothing was sent
        self._points.set_if_changed(point_id, read_back, ts_ms=self._clock.now_ms())
        self.written += 1
        self._applied.set()
        self._applied = trio.Event()


class CommandRouter:
    """Every bridge's :class:`PriorityWriter`; each command goes to the one owning its point."""

    def __init__(self) -> None:
        self._writers: dict[str, PriorityWriter[Any]] = {}

    def add(self, writer: PriorityWriter[Any], *, protocol: str) -> None:
        """Register a bridge's writer; ValueError when ``protocol`` has one already."""
        if protocol in self._writers:
            raise ValueError(f"a {protocol} writer is registered already")
        self._writers[protocol] = writer

    @property
    def writers(self) -> dict[str, PriorityWriter[Any]]:
        """The registered writers by protocol, in registration order."""
        return dict(self._writers)

    def handles(self, point_id: str) -> bool:
        """Does some bridge's writer own ``point_id``."""
        return any(w.handles(point_id) for w in self._writers.values())

    def writer_for(self, point_id: str) -> PriorityWriter[Any]:
        """The writer owning ``point_id``; NotFound naming the point when none does."""
        for writer in self._writers.values():
            if writer.handles(point_id):
                return writer
        bridges = ", ".join(self._writers) or "none"
        raise NotFound(
            f"point {point_id!r} is not a point any bridge writes (bridges: {bridges})",
            node_id=point_id,
        )

    async def write(
        self,
        point_id: str,
        value: PointValue | None,
        *,
        priority: int = DEFAULT_PRIORITY,
        by: str,
        duration_s: float | None = None,
    ) -> WriteResult:
        """:meth:`PriorityWriter.write` of the owning writer; NotFound when none owns it."""
        return await self.writer_for(point_id).write(
            point_id, value, priority=priority, by=by, duration_s=duration_s
        )

    async def priority_view(self, point_id: str) -> PriorityView:
        """The owning writer's :meth:`~PriorityWriter.priority_view`; NotFound when none."""
        return await self.writer_for(point_id).priority_view(point_id)

    async def run(self, bus: EventBus, overrides: OverrideStore) -> None:
        """Every writer's :meth:`~PriorityWriter.run_expiry` and :meth:`follow_overrides`."""
        async with trio.open_nursery() as nursery:
            for protocol, writer in self._writers.items():
                nursery.start_soon(writer.run_expiry, name=f"{protocol}-command-expiry")
            nursery.start_soon(self.follow_overrides, bus, overrides)

    async def follow_overrides(self, bus: EventBus, overrides: OverrideStore) -> None:
        """Write operator overrides of bridged points at priority 8; relinquish when they end.

        Overrides already active at start (restored from ``overrides.db``) are
        written first: after a restart the devices get them again. An
        override of a point no bridge writes stays in the PointStore only.
        """
        with bus.subscribe(EntityUpdated, name="device-overrides") as events:
            for override in overrides.active():
                await self._follow(override.node_id, overrides)
            while True:
                event = await events.receive()
                if not isinstance(event, EntityUpdated) or "override" not in event.changed_fields:
                    continue  # Lagged too: a missed override is written at its next change
                await self._follow(event.entity_id, overrides)

    async def _follow(self, point_id: str, overrides: OverrideStore) -> None:
        writer = next((w for w in self._writers.values() if w.writable(point_id)), None)
        if writer is None:
            return  # not a writable bridged point: the override stays in the PointStore only
        override = overrides.get(point_id)
        value: Any = None if override is None else override.value
        by = "system:override" if override is None else override.user
        try:
            await writer.write(point_id, value, priority=OVERRIDE_PRIORITY, by=by)
        except (BridgeError, InvalidInput) as exc:
            log.warning("%s: writing the override failed: %s", point_id, exc)


def _restore(array: PriorityArray, priority: int, before: Command | None) -> None:
    if before is None:
        array.relinquish(priority)
    else:
        array.write(before)
