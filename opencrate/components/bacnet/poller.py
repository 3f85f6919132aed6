"""One BACnet device's points: COV subscriptions where it can, ReadPropertyMultiple for the rest.

One :class:`DevicePoller` task per device, so a device that stops answering
holds only its own task (each request waits at most the stack's timeout x
retries; the backoff is the device's own).

**COV first.** Each point whose binding allows it (``cov``, default true) and
whose device accepts a SubscribeCOV is subscribed for ``cov_lifetime`` and
renewed at three quarters of it; its values then come from notifications
(:meth:`DevicePoller.on_notification`) and it is left out of polling. A
subscription the device refuses (no COV for that object, or none at all)
puts the point back into polling; the refusal is remembered for that device
so the bridge does not ask again every lifetime.

**Polling.** The other points are read every ``poll_interval`` with
ReadPropertyMultiple (present-value, status-flags, reliability), as many
objects a request as the device takes: ``max_per_request`` if configured,
else about what fits its max APDU when it cannot segment, 50 when it can. A
device that rejects RPM is read with ReadProperty from then on; one that
aborts a request as too long gets half as many objects a request.

**Status.** status-flags and reliability map to the point's status
(:func:`.values.point_status`); an object the device does not have, or a
value of the wrong type, is that point's ``fault``; a request that gets no
answer goes through :class:`DeviceHealth`: points ``stale``, then ``down``
and ``DeviceDown`` after ``down_after`` failures in a row, then
``DeviceRecovered`` and fresh values at the first answer.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Sequence

import trio
from attrs import frozen

from opencrate.clock import Clock
from opencrate.components.bacnet.adapter import BacnetStack, CovNotification, PropertyFailure
from opencrate.components.bacnet.points import BacnetPoint, from_device
from opencrate.components.bacnet.settings import BacnetSettings
from opencrate.components.bacnet.values import point_status
from opencrate.components.devices.health import DeviceHealth, DeviceStatistics
from opencrate.components.devices.outcomes import DeviceOutcomes
from opencrate.components.points.store import PointStore
from opencrate.errors import BridgeError, BridgeTimeout, DeviceError, InvalidInput
from opencrate.model.values import PointStatus
from opencrate.runtime.bus import EventBus

__all__ = ["BacnetDevice", "DevicePoller"]

#: The properties one poll reads of each object.
POLLED = ("present-value", "status-flags", "reliability")
#: About what one object's three answers take in an RPM reply, in bytes (a real, the
#: status flags, a reliability or its error, and the tags around them), rounded up.
_BYTES_PER_OBJECT = 50
#: Renew a subscription when this fraction of its lifetime has passed.
_RENEW_AT = 0.75


@frozen(kw_only=True)
class BacnetDevice:
    """Where a device is and what it can take (from its I-Am, or configured)."""

    instance: int
    address: str
    max_apdu: int = 480
    segmentation: str = "no-segmentation"
    max_per_request: int | None = None
    poll_interval_s: float | None = None

    @property
    def key(self) -> str:
        return str(self.instance)

    def batch_size(self) -> int:
        """Objects per ReadPropertyMultiple."""
        if self.max_per_request is not None:
            return self.max_per_request
        # What fits one APDU, even when the device could segment: a segmented answer
        # costs a window of acknowledgements, and bacpypes3 0.0.110's resend of
        # segments fails under load (benchmarks/bacnet.py saw it at 50 objects).
        return max(1, (self.max_apdu - 30) // _BYTES_PER_OBJECT)


#: What a device says when it has no such service (Reject, or an Error of class services).
_NO_SERVICE = (
    "unrecognized-service",
    "unrecognizedService",
    "service-request-denied",
    "optional-functionality-not-supported",
    "rejected",
)


def _rejects_service(exc: DeviceError) -> bool:
    text = str(exc)
    return any(marker in text for marker in _NO_SERVICE)


def _too_long(exc: DeviceError) -> bool:
    text = str(exc)
    return "segmentation-not-supported" in text or "buffer-overflow" in text


class DevicePoller:
    """Reads one device's points for ever (a supervised service); see the module docstring."""

    def __init__(
        self,
        device: BacnetDevice,
        points: Sequence[BacnetPoint],
        *,
        stack: BacnetStack,
        store: PointStore,
        bus: EventBus,
        clock: Clock,
        settings: BacnetSettings,
        process_ids: Iterator[int],
        rng: random.Random | None = None,
    ) -> None:
        self.device = device
        self.points = {p.point_id: p for p in points}
        self._by_object = {p.object: p for p in points}
        self.stack = stack
        self.store = store
        self.bus = bus
        self.clock = clock
        self.settings = settings
        self._process_ids = process_ids
        self.health = DeviceHealth(
            device.key,
            settings.health,
            protocol="bacnet",
            rng=rng or random.Random(device.instance),
        )
        self.outcomes = DeviceOutcomes(
            self.health, point_ids=lambda: self.points, store=store, bus=bus, clock=clock
        )
        self.rpm = True  # until the device rejects it
        self.cov_refused = not settings.cov  # the device accepts no subscription at all
        self._batch = device.batch_size()
        self.subscribed: dict[str, int] = {}  # point id -> process id of a live subscription
        self.cycles = 0  # polls completed (a fact tests can wait on)
        self.notifications = 0  # COV notifications applied
        self._cycled = trio.Event()
        self._notified = trio.Event()

    # -- facts for tests and the API -------------------------------------------------------
    def statistics(self) -> DeviceStatistics:
        return self.health.statistics()

    async def wait_cycles(self, count: int) -> None:
        """Return once at least ``count`` polls have completed."""
        while self.cycles < count:
            await self._cycled.wait()

    async def wait_notifications(self, count: int) -> None:
        """Return once at least ``count`` COV notifications have been applied."""
        while self.notifications < count:
            await self._notified.wait()

    # -- running ----------------------------------------------------------------------------
    async def run(self) -> None:
        """Subscribe what can be, poll the rest, until cancelled (subscriptions cancelled)."""
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._keep_subscriptions)
                await self._poll_forever()
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(2):
                await self._unsubscribe_all()

    def _interval(self, point: BacnetPoint) -> float:
        return point.poll_interval_s or self.device.poll_interval_s or self.settings.poll_interval_s

    async def _poll_forever(self) -> None:
        next_due: dict[str, float] = {pid: trio.current_time() for pid in self.points}
        while True:
            now = trio.current_time()
            due = [
                self.points[pid]
                for pid, at in next_due.items()
                if at <= now and pid not in self.subscribed
            ]
            if due:
                delay = await self.poll(due)
                after = trio.current_time()
                for point in due:
                    next_due[point.point_id] = (
                        after + delay if delay is not None else max(
                            next_due[point.point_id] + self._interval(point), after)
                    )  # fmt: skip
                if delay is not None:
                    for pid in next_due:
                        next_due[pid] = max(next_due[pid], after + delay)
            pending = [at for pid, at in next_due.items() if pid not in self.subscribed]
            wake = min(pending) if pending else trio.current_time() + self.settings.poll_interval_s
            await trio.sleep_until(max(wake, trio.current_time()))

    async def poll(self, points: Sequence[BacnetPoint]) -> float | None:
        """Read ``points`` once; the backoff delay when the device failed, else None."""
        start = 0
        while start < len(points):
            batch = points[start : start + (self._batch if self.rpm else 1)]
            try:
                if self.rpm:
                    await self._read_multiple(batch)
                else:
                    await self._read_single(batch[0])
            except DeviceError as exc:
                if self.rpm and _rejects_service(exc):
                    self.rpm = False  # read this device one property at a time from now on
                    continue
                if self.rpm and _too_long(exc) and len(batch) > 1:
                    self._batch = max(1, len(batch) // 2)
                    continue
                self._success()
                for point in batch:
                    self.store.set_status(point.point_id, PointStatus.FAULT)
            except BridgeError as exc:
                return self._failure(exc)
            start += len(batch)
        self.cycles += 1
        self._cycled.set()
        self._cycled = trio.Event()
        return None

    async def _read_multiple(self, batch: Sequence[BacnetPoint]) -> None:
        started = trio.current_time()
        answers = await self.stack.read_property_multiple(
            self.device.address, [(p.object, POLLED) for p in batch]
        )
        self._success(trio.current_time() - started)
        for point in batch:
            value = answers.get((point.object, point.property))
            flags = answers.get((point.object, "status-flags"))
            reliability = answers.get((point.object, "reliability"))
            self._apply(
                point,
                value,
                flags if isinstance(flags, list) else None,
                reliability if isinstance(reliability, str) else None,
            )

    async def _read_single(self, point: BacnetPoint) -> None:
        started = trio.current_time()
        value = await self.stack.read_property(self.device.address, point.object, point.property)
        self._success(trio.current_time() - started)
        try:
            flags = await self.stack.read_property(
                self.device.address, point.object, "status-flags"
            )
        except DeviceError:
            flags = None  # optional for this purpose: the value still counts
        self._apply(point, value, flags if isinstance(flags, list) else None, None)

    def _apply(
        self,
        point: BacnetPoint,
        raw: object,
        flags: list[bool] | None,
        reliability: str | None,
    ) -> None:
        if raw is None or isinstance(raw, PropertyFailure):
            self.store.set_status(point.point_id, PointStatus.FAULT)
            return
        try:
            value = from_device(point.object, raw)
        except DeviceError:
            self.store.set_status(point.point_id, PointStatus.FAULT)
            return
        status = point_status(flags, reliability, value=value)
        try:
            self.store.set_if_changed(
                point.point_id, value, status=status, ts_ms=self.clock.now_ms()
            )
        except InvalidInput:
            self.store.set_status(point.point_id, PointStatus.FAULT)

    # -- COV ---------------------------------------------------------------------------------
    def on_notification(self, note: CovNotification) -> None:
        """Apply a notification from this device (the bridge routes them here)."""
        point = self._by_object.get(note.object)
        if point is None or point.point_id not in self.subscribed:
            return
        values = note.values
        flags = values.get("status-flags")
        self._apply(
            point,
            values.get(point.property),
            flags if isinstance(flags, list) else None,
            None,
        )
        self._success()
        self.notifications += 1
        self._notified.set()
        self._notified = trio.Event()

    async def _keep_subscriptions(self) -> None:
        lifetime = max(2, int(self.settings.cov_lifetime_s))
        wanted = [p for p in self.points.values() if p.cov]
        refused: set[str] = set()
        while not self.cov_refused:
            for point in wanted:
                if point.point_id in refused or self.cov_refused:
                    continue
                if not await self._subscribe(point, lifetime):
                    refused.add(point.point_id)
            await trio.sleep(lifetime * _RENEW_AT)
        await trio.sleep_forever()

    async def _subscribe(self, point: BacnetPoint, lifetime: int) -> bool:
        """(Re)subscribe one point; False when the device will not give it COV."""
        process_id = self.subscribed.get(point.point_id) or next(self._process_ids)
        # Counted as subscribed before asking: the device sends its first notification
        # right after the acknowledgement, and it may arrive before the answer does.
        self.subscribed[point.point_id] = process_id
        try:
            await self.stack.subscribe_cov(
                self.device.address,
                point.object,
                process_id=process_id,
                confirmed=self.settings.cov_confirmed,
                lifetime_s=lifetime,
            )
        except DeviceError as exc:
            self.subscribed.pop(point.point_id, None)
            if _rejects_service(exc):
                self.cov_refused = True  # no COV on this device at all: stop asking
            return False
        except BridgeTimeout:
            self.subscribed.pop(point.point_id, None)  # poll it until the next renewal
            return True
        return True

    async def _unsubscribe_all(self) -> None:
        for point_id, process_id in list(self.subscribed.items()):
            point = self.points[point_id]
            try:
                await self.stack.unsubscribe_cov(
                    self.device.address, point.object, process_id=process_id
                )
            except BridgeError:
                pass  # it lapses at its lifetime anyway
        self.subscribed.clear()

    # -- health -------------------------------------------------------------------------------
    def record_check(self, error: BridgeError | None) -> None:
        """The monitor loop's check of this device: an answer, or the error it got."""
        if error is None:
            self._success()
        else:
            self._failure(error)

    def _success(self, rtt_s: float | None = None) -> None:
        self.outcomes.answered(rtt_s)

    def _failure(self, exc: BridgeError) -> float:
        return self.outcomes.failed(exc)


def process_id_source(start: int = 1) -> Iterator[int]:
    """Subscriber process ids for one stack: unique per subscription, 22-bit."""
    return (i % (1 << 22) or 1 for i in itertools.count(start))
