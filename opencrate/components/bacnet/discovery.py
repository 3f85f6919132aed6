"""Discovery: Who-Is scans and I-Ams into the DiscoveryStore, each device's objects read.

A scan (:meth:`DiscoveryService.scan`) asks in one of three ways:

* **global**: a Who-Is to everyone (through the BBMD when the stack is
  registered as a foreign device), collecting I-Ams for ``scan_timeout``;
* **ranged**: the same, for instances ``low``..``high`` only;
* **directed**: a Who-Is to one address (and, in a global scan, to every
  ``[[bacnet.device]]`` configured by address, which is how devices beyond a
  router without a BBMD are found; that one names the configured instance as
  its range, so only that device's I-Am answers it).

Every I-Am is recorded (:meth:`.DiscoveryStore.record_i_am`: vendor, max
APDU, segmentation; ``DeviceDiscovered`` for a device seen for the first
time). Then each device that is not ignored is read (:mod:`.inventory`:
identity, object list, each point object's name, type, units, description),
a few devices at a time so one slow device does not hold the rest, and the
scan ends with ``DiscoveryScanComplete`` (devices found, point objects read).

Unsolicited I-Ams (a device that starts up and announces itself) arrive
through :meth:`DiscoveryService.intake`. They are coalesced by instance and
recorded in batches, so an I-Am flood costs one row per distinct device, up
to the store's ``max_devices``, and never one write per packet.

A device already in the model (a node bound to its instance over BACnet, as
a scenario or an earlier accept made it) is accepted as soon as its objects
are read: its nodes are kept, any object the model lacks is added.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable

import trio
from attrs import frozen

from opencrate.clock import Clock
from opencrate.components.bacnet.accept import accept_device, ignore_device
from opencrate.components.bacnet.adapter import BacnetStack, IAm
from opencrate.components.bacnet.inventory import (
    DeviceIdentity,
    read_identity,
    read_object_list,
    read_objects,
)
from opencrate.components.bacnet.records import DeviceState, DiscoveredDevice, DiscoveredPoint
from opencrate.components.bacnet.settings import BacnetSettings
from opencrate.components.bacnet.store import DiscoveryStore
from opencrate.components.nodes.store import NodeStore
from opencrate.errors import BridgeError, Conflict, InvalidInput
from opencrate.runtime.bus import EventBus
from opencrate.runtime.events import DeviceDiscovered, DiscoveryScanComplete

__all__ = ["DiscoveryService", "ScanResult"]

log = logging.getLogger(__name__)

#: Devices whose objects are read at the same time during a scan.
_READ_CONCURRENCY = 4
#: I-Ams waiting to be recorded (one per distinct instance); more are dropped and counted.
_INTAKE_CAP = 10_000
#: Seconds between log lines about unsolicited I-Ams the store refused (a flood).
_REFUSAL_REPORT_S = 10.0


@frozen(kw_only=True)
class ScanResult:
    """What one scan found."""

    mode: str  # global | ranged | directed
    devices: tuple[str, ...]  # device keys that answered
    new_devices: tuple[str, ...]
    point_count: int  # point objects read, over all devices
    failed: tuple[str, ...]  # devices that answered the Who-Is but not the reads
    duration_s: float


class DiscoveryService:
    """Scans, intake and accept/ignore; see the module docstring."""

    def __init__(
        self,
        stack: BacnetStack,
        store: DiscoveryStore,
        nodes: NodeStore,
        *,
        settings: BacnetSettings,
        bus: EventBus,
        clock: Clock,
        on_accepted: Callable[[DiscoveredDevice], Awaitable[None]] | None = None,
    ) -> None:
        self.stack = stack
        self.store = store
        self.nodes = nodes
        self.settings = settings
        self.bus = bus
        self.clock = clock
        self._on_accepted = on_accepted
        self._scan_lock = trio.Lock()  # one scan at a time: a second waits for the first
        self._pending: dict[int, IAm] = {}
        self._pending_changed = trio.Event()
        self.scans = 0
        self.intake_dropped = 0  # I-Ams not recorded: intake full, or the store at max_devices
        self.recorded = 0  # unsolicited I-Ams recorded (a fact tests can wait on)
        self._last_refusal = ""
        self._reported = 0  # intake_dropped when last logged
        self._next_report = -math.inf
        self._recorded_event = trio.Event()

    # -- scans --------------------------------------------------------------------------------
    async def scan(
        self,
        *,
        low: int | None = None,
        high: int | None = None,
        address: str | None = None,
        timeout_s: float | None = None,
    ) -> ScanResult:
        """Who-Is (global, ranged or directed), record, read every answering device's objects.

        Raises InvalidInput for a bad range or address; BridgeError only if
        the stack itself fails (a device that does not answer is just not found).
        """
        timeout = self.settings.scan_timeout_s if timeout_s is None else timeout_s
        mode = "directed" if address is not None else "ranged" if low is not None else "global"
        async with self._scan_lock:
            started = trio.current_time()
            # What was known before asking: the I-Ams of this very scan also reach the
            # intake (they are I-Ams like any other), which may record them first.
            known_before = {d.device_key for d in await self.store.list(include_ignored=True)}
            answers: dict[int, IAm] = {}
            for i_am in await self.stack.who_is(low, high, address=address, timeout_s=timeout):
                answers[i_am.device_instance] = i_am
            if mode == "global":
                for known in self.settings.devices:
                    # Ask for that instance only: a Who-Is to an address without a range
                    # resolves on the first I-Am from there, which may be any instance
                    # (a router's, or one of a flood of made-up ones from a hostile host).
                    for i_am in await self.stack.who_is(
                        known.instance, known.instance, address=known.address,
                        timeout_s=min(timeout, 2.0),
                    ):  # fmt: skip
                        answers[i_am.device_instance] = i_am
            new: list[str] = []
            devices: list[DiscoveredDevice] = []
            refused = 0
            for i_am in answers.values():
                device, _ = await self._record(i_am)
                if device is None:
                    refused += 1
                    continue
                if device.device_key not in known_before:
                    new.append(device.device_key)
                devices.append(device)
            if refused:  # one line, however many answered (a flood during the scan)
                log.warning("bacnet: scan: %d I-Ams not recorded (the last: %s)",
                            refused, self._last_refusal)  # fmt: skip
            point_count = 0
            failed: list[str] = []
            limiter = trio.CapacityLimiter(_READ_CONCURRENCY)
            modelled = self._modelled()  # one pass over the model for the whole scan

            async def read(device: DiscoveredDevice) -> None:
                nonlocal point_count
                async with limiter:
                    try:
                        read_count = await self.read_device(device, modelled=modelled)
                    except BridgeError as exc:
                        log.warning("bacnet: device %s: reading its objects failed: %s",
                                    device.device_key, exc)  # fmt: skip
                        failed.append(device.device_key)
                    else:
                        point_count += read_count  # after the await: tasks interleave

            async with trio.open_nursery() as nursery:
                for device in devices:
                    if device.state is not DeviceState.IGNORED:
                        nursery.start_soon(read, device)
            self.scans += 1
            keys = tuple(sorted(d.device_key for d in devices))
            self.bus.publish(
                DiscoveryScanComplete(
                    ts_ms=self.clock.now_ms(),
                    protocol="bacnet",
                    device_count=len(keys),
                    point_count=point_count,
                )
            )
            return ScanResult(
                mode=mode,
                devices=keys,
                new_devices=tuple(sorted(new)),
                point_count=point_count,
                failed=tuple(sorted(failed)),
                duration_s=round(trio.current_time() - started, 3),
            )

    async def _record(self, i_am: IAm) -> tuple[DiscoveredDevice | None, bool]:
        """Record one I-Am; (None, False) when the store refuses it (full, or a bad field:
        counted in ``intake_dropped``; the callers log a summary, not one line each)."""
        try:
            sighting = await self.store.record_i_am(
                i_am.device_instance,
                address=i_am.address,
                network_id=self.settings.network_id,
                vendor_id=i_am.vendor_id,
                max_apdu=i_am.max_apdu,
                segmentation=i_am.segmentation,
            )
        except (Conflict, InvalidInput) as exc:
            self.intake_dropped += 1
            self._last_refusal = f"from {i_am.address}: {exc}"
            return None, False
        if sighting.new:
            self.bus.publish(
                DeviceDiscovered(
                    ts_ms=self.clock.now_ms(),
                    device_key=sighting.device.device_key,
                    protocol="bacnet",
                    network_id=sighting.device.network_id,
                )
            )
        return sighting.device, sighting.new

    async def read_device(
        self, device: DiscoveredDevice, *, modelled: frozenset[int] | None = None
    ) -> int:
        """Read ``device``'s identity and point objects into the store; the point count.

        Accepts it at once when its equipment is already in the model.
        """
        instance = device.device_instance
        if instance is None:
            raise InvalidInput(f"device {device.device_key} has no instance", field="device")
        identity: DeviceIdentity = await read_identity(self.stack, device.address, instance)
        await self.store.describe(
            device.device_key,
            vendor_name=identity.vendor_name or None,
            model_name=identity.model_name or None,
            device_name=identity.device_name or None,
        )
        segmented = (device.segmentation or identity.segmentation or "").startswith("segmented")
        objects, truncated = await read_object_list(
            self.stack, device.address, instance, segmented=segmented,
            max_objects=self.store.max_objects,
        )  # fmt: skip
        if truncated:
            log.warning("bacnet: device %s lists more than %d objects; the rest are left out",
                        device.device_key, self.store.max_objects)  # fmt: skip
        described = await read_objects(self.stack, device.address, objects)
        points = [
            DiscoveredPoint(
                device_key=device.device_key,
                object_type=d.object.object_type,
                object_instance=d.object.instance,
                object_name=d.name or None,
                description=d.description or None,
                units=d.units or None,
                present_value=_storable(d.present_value),
                writable=d.commandable,
                cov=None,
            )
            for d in described
        ]
        updated = await self.store.replace_points(
            device.device_key, points, object_count=len(objects)
        )
        known = self._modelled() if modelled is None else modelled
        if updated.state is DeviceState.DISCOVERED and instance in known:
            await self.accept(device.device_key)
        return len(points)

    def _modelled(self) -> frozenset[int]:
        """The device instances already in the model: bound to a node over BACnet."""
        found: set[int] = set()
        for node in self.nodes.all():
            binding = node.protocol_binding
            if binding is not None and binding.protocol == "bacnet":
                instance = binding.config.get("device_instance")
                if isinstance(instance, int):
                    found.add(instance)
        return frozenset(found)

    # -- accept / ignore --------------------------------------------------------------------
    async def accept(self, key: str, *, parent_id: str | None = None) -> list[str]:
        """Create the device's nodes (kept where they exist), mark it accepted; the new ids."""
        created = await accept_device(
            self.store, self.nodes, key, bus=self.bus, clock=self.clock, parent_id=parent_id
        )
        if self._on_accepted is not None:
            await self._on_accepted(await self.store.get(key))
        return created

    async def ignore(self, key: str) -> DiscoveredDevice:
        """Hide the device from later scans (its nodes, if any, are kept)."""
        return await ignore_device(self.store, key)

    # -- unsolicited I-Ams --------------------------------------------------------------------
    def intake(self, i_am: IAm) -> None:
        """Queue an unsolicited I-Am (the bridge calls this); coalesced by instance."""
        if i_am.device_instance not in self._pending and len(self._pending) >= _INTAKE_CAP:
            self.intake_dropped += 1
            return
        self._pending[i_am.device_instance] = i_am
        self._pending_changed.set()

    async def run_intake(self) -> None:
        """Record queued I-Ams, a batch at a time, for ever."""
        while True:
            await self._pending_changed.wait()
            self._pending_changed = trio.Event()
            batch, self._pending = self._pending, {}
            for i_am in batch.values():
                await self._record(i_am)
                self.recorded += 1
            self._report_refusals()
            self._recorded_event.set()
            self._recorded_event = trio.Event()

    def _report_refusals(self) -> None:
        """Log the I-Ams not recorded since the last report, at most every few seconds:
        a flood past ``max_devices`` is a few log lines, not one per I-Am."""
        now = trio.current_time()
        if self.intake_dropped == self._reported or now < self._next_report:
            return
        log.warning("bacnet: %d unsolicited I-Ams not recorded (the last: %s)",
                    self.intake_dropped - self._reported, self._last_refusal)  # fmt: skip
        self._reported = self.intake_dropped
        self._next_report = now + _REFUSAL_REPORT_S

    async def wait_recorded(self, count: int) -> None:
        """Return once at least ``count`` unsolicited I-Ams have been recorded (tests)."""
        while self.recorded < count:
            await self._recorded_event.wait()


def _storable(value: object) -> bool | int | float | str | None:
    if isinstance(value, bool | int | float | str):
        return value
    return None
