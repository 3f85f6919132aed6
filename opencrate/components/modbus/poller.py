"""The poll loop of one Modbus device: read requests on time, values into the PointStore.

One :class:`DevicePoller` task per device, so a device that stops answering
holds only its own task: the others keep their times (each waits at most its
own ``timeout_s`` per request, and its retries are its own backoff).

Every cycle sends the read groups of the poll classes that are due
(:func:`~opencrate.components.modbus.groups.schedule`: contiguous addresses
merged under the device's limits, one class per poll interval), decodes each
point's words (:func:`~opencrate.components.modbus.datatypes.decode`) and
writes them with :meth:`.PointStore.set_if_changed` (change of value, the
point's deadband honoured).

Failures go through :class:`~opencrate.components.devices.health.DeviceHealth`:
the device's points turn ``stale`` on the first failed request and ``down``
with :class:`~opencrate.runtime.events.DeviceDown` after ``down_after`` in a
row; the next attempt waits the backoff. The first good answer publishes
:class:`~opencrate.runtime.events.DeviceRecovered` and the values (status
``ok``) again. A device that answers but refuses one request (a Modbus
exception: say an address it does not have) is not down: only the points of
that request turn ``fault``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

import trio
from attrs import frozen

from opencrate.clock import Clock
from opencrate.components.devices.health import DeviceHealth, DeviceStatistics
from opencrate.components.devices.outcomes import DeviceOutcomes
from opencrate.components.modbus.client import ModbusClient
from opencrate.components.modbus.datatypes import RegisterFormat, decode
from opencrate.components.modbus.devices import ModbusDevice, parse_poll_interval
from opencrate.components.modbus.groups import (
    GroupMember,
    PointSpan,
    PollClass,
    ReadGroup,
    schedule,
)
from opencrate.components.points.store import PointStore
from opencrate.errors import BridgeError, DeviceError, InvalidInput
from opencrate.model.values import PointStatus
from opencrate.runtime.bus import EventBus

__all__ = ["BoundPoint", "DevicePoller"]

#: The Modbus exception a device answers for an address it does not have.
ILLEGAL_DATA_ADDRESS = 2


@frozen(kw_only=True)
class BoundPoint:
    """A point bound to a register of a device: where it is and how to read it."""

    point_id: str
    device_id: str
    address: int
    format: RegisterFormat
    poll_interval_s: float | None  # None: the device's

    @classmethod
    def from_binding(cls, point_id: str, config: Mapping[str, Any]) -> BoundPoint:
        """The point's Modbus binding ``config``; InvalidInput naming the point and key."""
        try:
            return cls(
                point_id=point_id,
                device_id=str(config["device_id"]),
                address=int(config["address"]),
                format=RegisterFormat.from_binding(config),
                poll_interval_s=parse_poll_interval(config, where=f"point {point_id}"),
            )
        except InvalidInput as exc:
            raise InvalidInput(f"point {point_id}: {exc}", node_id=point_id, **exc.detail) from None

    @property
    def span(self) -> PointSpan:
        return PointSpan(
            point_id=self.point_id,
            register_type=self.format.register_type,
            address=self.address,
            count=self.format.count,
        )


class DevicePoller:
    """Polls one device for ever (run it as a supervised service); see the module docstring."""

    def __init__(
        self,
        device: ModbusDevice,
        points: Sequence[BoundPoint],
        *,
        store: PointStore,
        bus: EventBus,
        clock: Clock,
        client: ModbusClient | None = None,
        grouping: bool = True,
        start_offset_s: float = 0.0,
        rng: random.Random | None = None,
    ) -> None:
        self.device = device
        self.points = {p.point_id: p for p in points}
        self.store = store
        self.bus = bus
        self.clock = clock
        self.client = client or ModbusClient(
            device.host,
            device.port,
            unit_id=device.unit_id,
            timeout_s=device.timeout_s,
            device=device.id,
        )
        self.classes: list[PollClass] = schedule(
            [(p.span, p.poll_interval_s) for p in points], device, grouping=grouping
        )
        self.health = DeviceHealth(
            device.id, device.health, protocol="modbus", rng=rng or random.Random(device.id)
        )
        self.outcomes = DeviceOutcomes(
            self.health, point_ids=lambda: self.points, store=store, bus=bus, clock=clock
        )
        self.start_offset_s = start_offset_s
        self.cycles = 0  # poll classes read (a fact tests can wait on)
        self._cycled = trio.Event()
        for group in (g for c in self.classes for g in c.groups if g.error):
            for member in group.members:
                # A point no request can read (larger than the device's limit): say so once.
                self.store.set_status(member.point_id, PointStatus.FAULT)

    def statistics(self) -> DeviceStatistics:
        return self.health.statistics()

    async def wait_cycles(self, count: int) -> None:
        """Return once at least ``count`` poll classes have been read (tests, benchmarks)."""
        while self.cycles < count:
            await self._cycled.wait()

    async def run(self) -> None:
        """Poll until cancelled; closes the connection on the way out."""
        try:
            await self._run()
        finally:
            with trio.CancelScope(shield=True):
                await self.client.aclose()

    async def _run(self) -> None:
        if not self.classes:
            await trio.sleep_forever()
        start = trio.current_time() + self.start_offset_s
        due = [start for _ in self.classes]
        while True:
            now = max(trio.current_time(), min(due))
            await trio.sleep_until(min(due))
            for index, poll_class in enumerate(self.classes):
                if due[index] > now:
                    continue
                delay = await self.poll(poll_class)
                if delay is not None:
                    # The device failed: every class waits the backoff, then all are due.
                    retry_at = trio.current_time() + delay
                    due = [retry_at for _ in due]
                    break
                # Keep the phase: the next read is one interval after this one was due,
                # unless the poll overran it (then from now, never a burst to catch up).
                due[index] = max(due[index] + poll_class.interval_s, trio.current_time())

    async def poll(self, poll_class: PollClass) -> float | None:
        """Read one class's groups; the backoff delay when the device failed, else None."""
        for group in poll_class.groups:
            if group.error:
                continue
            try:
                words = await self.client.read(group.register_type, group.address, group.count)
            except DeviceError as exc:
                # It answered: alive, but this request is refused.
                self._record_success()
                if (
                    exc.detail.get("exception_code") == ILLEGAL_DATA_ADDRESS
                    and len(group.members) > 1
                ):
                    # A device without some register inside the merged span (a gap
                    # read through): read its points one by one, so only the
                    # missing ones turn fault.
                    failed = await self._read_one_by_one(group)
                    if failed is not None:
                        return failed
                    continue
                for member in group.members:
                    self.store.set_status(member.point_id, PointStatus.FAULT)
                continue
            except BridgeError as exc:
                return self._record_failure(exc)
            self._record_success()
            self._store(group, words)
        self.cycles += 1
        self._cycled.set()
        self._cycled = trio.Event()
        return None

    async def _read_one_by_one(self, group: ReadGroup) -> float | None:
        """Each member of ``group`` in its own request; the backoff if the device failed."""
        for member in group.members:
            point = self.points[member.point_id]
            single = ReadGroup(
                register_type=group.register_type,
                address=point.address,
                count=member.count,
                members=(GroupMember(point_id=member.point_id, offset=0, count=member.count),),
            )
            try:
                words = await self.client.read(single.register_type, single.address, single.count)
            except DeviceError:
                self.store.set_status(member.point_id, PointStatus.FAULT)
                continue
            except BridgeError as exc:
                return self._record_failure(exc)
            self._store(single, words)
        return None

    def _store(self, group: ReadGroup, words: Sequence[int] | Sequence[bool]) -> None:
        ts_ms = self.clock.now_ms()
        for point_id, point_words in group.split(words).items():
            point = self.points[point_id]
            try:
                value = decode(point.format, point_words)
            except DeviceError:
                # NaN / infinity from the device: not a reading.
                self.store.set_status(point_id, PointStatus.FAULT)
                continue
            self.store.set_if_changed(point_id, value, ts_ms=ts_ms)

    def _record_success(self) -> None:
        self.outcomes.answered(self.client.statistics().last_rtt_s)

    def _record_failure(self, exc: BridgeError) -> float:
        return self.outcomes.failed(exc)
