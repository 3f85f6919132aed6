"""The BACnet bridge: one stack, discovery, a poller per accepted device, the monitor loop.

:meth:`BacnetBridge.run` opens the stack (``[bacnet] address``, registering
as a foreign device when ``foreign_bbmd`` is set), then runs side by side:

* the dispatcher: I-Ams from the stack's channel to discovery's intake, COV
  notifications to the poller of the device that sent them;
* discovery's intake, and a first scan when ``scan_on_start``;
* one :class:`~.poller.DevicePoller` per accepted device that has points in
  the model, each in its own cancel scope, so a device accepted (or
  accepted again with more points) while running gets its poller (re)started
  at once, no restart needed;
* the monitor loop (:mod:`.monitor`).

Which points a device has comes from the NodeStore (points whose binding is
``bacnet`` with that ``device_instance``); where the device is comes from
its I-Am (the DiscoveryStore) or a ``[[bacnet.device]]`` address.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import trio

from opencrate.clock import Clock
from opencrate.components.bacnet.adapter import BacnetStack, CovNotification, IAm, StackSettings
from opencrate.components.bacnet.discovery import DiscoveryService
from opencrate.components.bacnet.monitor import DeviceMonitor
from opencrate.components.bacnet.points import BacnetPoint
from opencrate.components.bacnet.poller import BacnetDevice, DevicePoller, process_id_source
from opencrate.components.bacnet.records import DeviceState, DiscoveredDevice
from opencrate.components.bacnet.settings import BacnetSettings
from opencrate.components.bacnet.store import DiscoveryStore
from opencrate.components.devices.registry import DeviceView
from opencrate.components.nodes.store import NodeStore
from opencrate.components.points.store import PointStore
from opencrate.errors import BridgeError, Conflict, InvalidInput, NotFound, StoreError
from opencrate.model.node import NodeType
from opencrate.runtime.bus import EventBus

__all__ = ["BacnetBridge"]

log = logging.getLogger(__name__)


class BacnetBridge:
    """See the module docstring. ``stack``, ``discovery`` and ``monitor`` exist once running."""

    protocol = "bacnet"

    def __init__(
        self,
        settings: BacnetSettings,
        *,
        store: DiscoveryStore,
        nodes: NodeStore,
        points: PointStore,
        bus: EventBus,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.store = store
        self.nodes = nodes
        self.points = points
        self.bus = bus
        self.clock = clock
        self.pollers: dict[str, DevicePoller] = {}
        self._scopes: dict[str, trio.CancelScope] = {}
        self._stack: BacnetStack | None = None
        self._discovery: DiscoveryService | None = None
        self._monitor: DeviceMonitor | None = None
        self._nursery: trio.Nursery | None = None
        self._process_ids: Iterator[int] = process_id_source()
        self.startup_scan: trio.Event = trio.Event()  # set when the first scan has finished
        self.pollers_started = 0  # (re)starts of device pollers (a fact tests can wait on)
        self._poller_started = trio.Event()

    # -- running parts (routes reach them through these) -----------------------------------
    @property
    def stack(self) -> BacnetStack:
        if self._stack is None:
            raise _not_running()
        return self._stack

    @property
    def discovery(self) -> DiscoveryService:
        if self._discovery is None:
            raise _not_running()
        return self._discovery

    @property
    def monitor(self) -> DeviceMonitor:
        if self._monitor is None:
            raise _not_running()
        return self._monitor

    def poller(self, device_key: str) -> DevicePoller:
        """The poller of an accepted device; NotFound when none polls it."""
        try:
            return self.pollers[device_key]
        except KeyError:
            raise NotFound(
                f"no BACnet device {device_key!r} is polled", device_key=device_key
            ) from None

    # -- running -------------------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Open the stack and run until cancelled; started once the stack is bound."""
        settings = self.settings
        stack_settings = StackSettings(
            address=settings.address,
            device_instance=settings.device_instance,
            foreign_bbmd=settings.foreign_bbmd,
            foreign_ttl_s=int(settings.foreign_ttl_s),
            timeout_s=settings.timeout_s,
            retries=settings.retries,
        )
        async with BacnetStack.open(stack_settings) as stack, trio.open_nursery() as nursery:
            self._stack = stack
            self._nursery = nursery
            if not stack.can_broadcast:
                log.warning(
                    "bacnet: address %r has no broadcast address and no foreign_bbmd is set: "
                    "a global Who-Is reaches nobody; give the address its prefix "
                    "(like '10.0.0.5/24:47808') or list devices as [[bacnet.device]]",
                    settings.address,
                )
            self._discovery = DiscoveryService(
                stack, self.store, self.nodes, settings=settings, bus=self.bus,
                clock=self.clock, on_accepted=self.start_device,
            )  # fmt: skip
            self._monitor = DeviceMonitor(
                stack, self.store, bus=self.bus, clock=self.clock,
                interval_s=settings.monitor_interval_s, on_check=self._on_check,
            )  # fmt: skip
            nursery.start_soon(self._dispatch, stack)
            nursery.start_soon(self._discovery.run_intake)
            by_instance = self.bound_points()  # once for all: not one pass over the model each
            for device in await self.store.list(state=DeviceState.ACCEPTED):
                await self.start_device(
                    device, points=by_instance.get(device.device_instance or -1)
                )
            nursery.start_soon(self._monitor.run)
            nursery.start_soon(self._first_scan)
            task_status.started()
            try:
                await trio.sleep_forever()
            finally:
                self._stack = self._discovery = self._monitor = self._nursery = None

    async def _first_scan(self) -> None:
        try:
            if self.settings.scan_on_start:
                if self.settings.foreign_bbmd is not None:
                    await trio.sleep(0.5)  # let the foreign-device registration complete
                result = await self.discovery.scan()
                log.info("bacnet: start-up scan found %d devices, %d point objects",
                         len(result.devices), result.point_count)  # fmt: skip
        except (BridgeError, StoreError, InvalidInput) as exc:
            log.warning("bacnet: start-up scan failed: %s", exc)
        finally:
            self.startup_scan.set()

    async def _dispatch(self, stack: BacnetStack) -> None:
        async for event in stack.events:
            if isinstance(event, IAm):
                self.discovery.intake(event)
                poller = self.pollers.get(str(event.device_instance))
                if poller is not None and poller.device.address != event.address:
                    self._spawn(self._moved, event)
            elif isinstance(event, CovNotification):
                poller = self.pollers.get(str(event.device_instance))
                if poller is not None:
                    poller.on_notification(event)

    def _spawn(self, fn: Any, *args: Any) -> None:
        if self._nursery is not None:
            self._nursery.start_soon(fn, *args)

    async def _moved(self, i_am: IAm) -> None:
        """An accepted device announced itself from a new address (a DHCP lease, a
        replaced controller): record it and poll it there."""
        key = str(i_am.device_instance)
        poller = self.pollers.get(key)
        if poller is None or poller.device.address == i_am.address:
            return  # already handled by an earlier I-Am of the same move
        log.info("bacnet: device %s moved from %s to %s", key, poller.device.address,
                 i_am.address)  # fmt: skip
        try:
            await self.store.record_i_am(
                i_am.device_instance, address=i_am.address, network_id=self.settings.network_id,
                vendor_id=i_am.vendor_id, max_apdu=i_am.max_apdu, segmentation=i_am.segmentation,
            )  # fmt: skip
            record = await self.store.get(key)
        except (StoreError, InvalidInput, NotFound) as exc:
            log.warning("bacnet: device %s moved but could not be recorded: %s", key, exc)
            return
        if record.state is DeviceState.ACCEPTED:
            await self.start_device(record)

    def _on_check(self, device_key: str, error: BridgeError | None) -> None:
        poller = self.pollers.get(device_key)
        if poller is not None:
            poller.record_check(error)

    def bound_points(self) -> dict[int, list[BacnetPoint]]:
        """The model's BACnet points by device instance (a bad binding is logged and skipped)."""
        found: dict[int, list[BacnetPoint]] = defaultdict(list)
        for node in self.nodes.all():
            binding = node.protocol_binding
            if node.node_type is not NodeType.POINT or binding is None:
                continue
            if binding.protocol != "bacnet":
                continue
            try:
                point = BacnetPoint.from_binding(node.id, binding.config)
            except InvalidInput as exc:
                log.warning("bacnet: %s", exc)
                continue
            found[point.device_instance].append(point)
        return found

    def _device(self, record: DiscoveredDevice) -> BacnetDevice:
        known = {d.instance: d for d in self.settings.devices}.get(record.device_instance or -1)
        return BacnetDevice(
            instance=int(record.device_instance or 0),
            address=record.address,
            max_apdu=record.max_apdu or 480,
            segmentation=record.segmentation or "no-segmentation",
            max_per_request=None if known is None else known.max_per_request,
            poll_interval_s=None if known is None else known.poll_interval_s,
        )

    async def start_device(
        self, record: DiscoveredDevice, *, points: list[BacnetPoint] | None = None
    ) -> None:
        """(Re)start polling an accepted device with the points the model has for it now
        (``points``: already looked up by the caller)."""
        nursery = self._nursery
        if nursery is None or self._stack is None or record.device_instance is None:
            return
        key = record.device_key
        old = self._scopes.pop(key, None)
        if old is not None:
            old.cancel()
            self.pollers.pop(key, None)
        if points is None:
            points = self.bound_points().get(record.device_instance, [])
        if not points:
            log.info("bacnet: device %s accepted with no points in the model", key)
            return
        poller = DevicePoller(
            self._device(record), points, stack=self._stack, store=self.points, bus=self.bus,
            clock=self.clock, settings=self.settings, process_ids=self._process_ids,
        )  # fmt: skip
        self.pollers[key] = poller
        scope = trio.CancelScope()
        self._scopes[key] = scope

        async def run() -> None:
            with scope:
                await poller.run()

        nursery.start_soon(run)
        self.pollers_started += 1
        self._poller_started.set()
        self._poller_started = trio.Event()

    async def wait_pollers_started(self, count: int) -> None:
        """Return once device pollers have been (re)started at least ``count`` times."""
        while self.pollers_started < count:
            await self._poller_started.wait()

    # -- the device registry's view -------------------------------------------------------------
    def device_views(self) -> list[DeviceView]:
        """Each polled device as ``GET /api/devices`` shows it, by device key."""
        return [_view(self.pollers[key]) for key in sorted(self.pollers, key=_by_instance)]

    def device_view(self, key: str) -> DeviceView:
        """The polled device ``key``; NotFound when it is not polled."""
        return _view(self.poller(key))

    def statistics(self) -> dict[str, Any]:
        """Counts of the stack, discovery and pollers (for ``GET /api/discovery``)."""
        stack = self._stack
        return {
            "running": stack is not None,
            "devices_polled": len(self.pollers),
            "stack": None if stack is None else stack.statistics(),
        }


def _by_instance(key: str) -> tuple[int, str]:
    return (int(key), key) if key.isdigit() else (1 << 23, key)


def _view(poller: DevicePoller) -> DeviceView:
    device = poller.device
    return DeviceView.from_statistics(
        poller.statistics(),
        protocol="bacnet",
        address=device.address,
        points=len(poller.points),
        details={
            "instance": device.instance,
            "max_apdu": device.max_apdu,
            "segmentation": device.segmentation,
            "rpm": poller.rpm,
            "cov_subscriptions": len(poller.subscribed),
            "cov_notifications": poller.notifications,
            "polls": poller.cycles,
        },
    )


def _not_running() -> Conflict:
    return Conflict(
        "the BACnet bridge is not running (add a [bacnet] section to the settings, "
        "or run the demo: opencrate serve --demo)"
    )
