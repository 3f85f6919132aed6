"""The Modbus bridge: the model's Modbus-bound points, polled per configured device.

At start level 40 the bridge reads every point whose ``protocol_binding`` is
``modbus`` from the NodeStore, checks its binding (a bad one is logged with
the point and key, and the point is set ``fault``: the others still run),
groups the points by ``device_id`` and starts one
:class:`~opencrate.components.modbus.poller.DevicePoller` per configured,
enabled device, their starts spread over their poll intervals so that
hundreds of devices do not poll in step. A point naming a device that is not
configured is logged once and left ``unknown``.

The bridge is the Modbus :class:`~opencrate.components.devices.registry.DeviceSource`:
its pollers' health and connection counts are what ``GET /api/devices``
shows of Modbus devices (:meth:`ModbusBridge.device_views`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import trio

from opencrate.clock import Clock
from opencrate.components.devices.health import DeviceStatistics
from opencrate.components.devices.registry import DeviceView
from opencrate.components.modbus.devices import DEVICE_KEYS, ModbusDevice
from opencrate.components.modbus.poller import BoundPoint, DevicePoller
from opencrate.components.modbus.stagger import device_offsets
from opencrate.components.nodes.store import NodeStore
from opencrate.components.points.store import PointStore
from opencrate.errors import InvalidInput, NotFound
from opencrate.model.binding import MODBUS
from opencrate.model.node import NodeType
from opencrate.model.values import PointStatus
from opencrate.runtime.bus import EventBus

__all__ = ["ModbusBridge"]

log = logging.getLogger(__name__)


class ModbusBridge:
    """Every configured Modbus device's poller, started from the model (see module docstring)."""

    protocol = MODBUS

    def __init__(
        self,
        devices: Mapping[str, ModbusDevice],
        *,
        nodes: NodeStore,
        points: PointStore,
        bus: EventBus,
        clock: Clock,
    ) -> None:
        self.devices = dict(devices)
        self.nodes = nodes
        self.points = points
        self.bus = bus
        self.clock = clock
        self.pollers: dict[str, DevicePoller] = {}

    def add_device(self, device: ModbusDevice) -> None:
        """Configure one more device before :meth:`run` (the demo's simulated ones)."""
        self.devices[device.id] = device

    def devices_from_model(
        self, by_device: Mapping[str, list[BoundPoint]]
    ) -> dict[str, ModbusDevice]:
        """Devices their points' equipment describes (see the module docstring); bad ones logged."""
        found: dict[str, ModbusDevice] = {}
        for device_id, points in by_device.items():
            point = self.nodes.get_or_none(points[0].point_id)
            equip = (
                None
                if point is None or point.parent_id is None
                else self.nodes.get_or_none(point.parent_id)
            )
            if (
                equip is None
                or equip.node_type is not NodeType.EQUIP
                or "host" not in equip.properties
            ):
                continue
            keys = {k: v for k, v in equip.properties.items() if k in DEVICE_KEYS}
            try:
                found[device_id] = ModbusDevice.from_table(
                    {**keys, "id": device_id}, where=f"equip {equip.id} properties"
                )
            except InvalidInput as exc:
                log.warning("modbus: %s", exc)
        return found

    def bound_points(self) -> dict[str, list[BoundPoint]]:
        """The model's Modbus points by device id; bad bindings logged and set ``fault``."""
        found: dict[str, list[BoundPoint]] = {}
        for node in self.nodes.find(node_type=NodeType.POINT):
            binding = node.protocol_binding
            if binding is None or binding.protocol != MODBUS:
                continue
            try:
                point = BoundPoint.from_binding(node.id, binding.config)
            except InvalidInput as exc:
                log.warning("modbus: %s", exc)
                self.points.set_status(node.id, PointStatus.FAULT)
                continue
            found.setdefault(point.device_id, []).append(point)
        return found

    def device_statistics(self) -> list[DeviceStatistics]:
        """Each polled device's health, by device id."""
        return [self.pollers[key].statistics() for key in sorted(self.pollers)]

    def device_views(self) -> list[DeviceView]:
        """Each polled device as ``GET /api/devices`` shows it, by device id."""
        return [_view(self.pollers[key]) for key in sorted(self.pollers)]

    def device_view(self, key: str) -> DeviceView:
        """The polled device ``key``; NotFound when it is not polled."""
        return _view(self.poller(key))

    def poller(self, device_id: str) -> DevicePoller:
        """The poller of ``device_id``; NotFound when it is not polled."""
        try:
            return self.pollers[device_id]
        except KeyError:
            raise NotFound(f"no Modbus device {device_id!r} is polled", device=device_id) from None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Start a poller per device with points, then run them until cancelled."""
        by_device = self.bound_points()
        for device_id, device in self.devices_from_model(by_device).items():
            self.devices.setdefault(device_id, device)
        for device_id in sorted(set(by_device) - set(self.devices)):
            log.warning(
                "modbus: %d point(s) bound to device %r, which is not configured "
                "([[modbus.device]] id = %r)",
                len(by_device[device_id]),
                device_id,
                device_id,
            )
        polled = [d for d in self.devices.values() if d.enabled and d.id in by_device]
        offsets = device_offsets(polled)
        async with trio.open_nursery() as nursery:
            for device in polled:
                poller = DevicePoller(
                    device,
                    by_device[device.id],
                    store=self.points,
                    bus=self.bus,
                    clock=self.clock,
                    start_offset_s=offsets.get(device.id, 0.0),
                )
                self.pollers[device.id] = poller
                nursery.start_soon(poller.run, name=f"modbus:{device.id}")
            log.info("modbus: polling %d device(s)", len(polled))
            task_status.started()


def _view(poller: DevicePoller) -> DeviceView:
    device = poller.device
    client = poller.client.statistics()
    host = f"[{device.host}]" if ":" in device.host else device.host  # an IPv6 address
    return DeviceView.from_statistics(
        poller.statistics(),
        protocol=MODBUS,
        address=f"{host}:{device.port} unit {device.unit_id}",
        points=len(poller.points),
        details={
            "host": device.host,
            "port": device.port,
            "unit_id": device.unit_id,
            "requests": client.requests,
            "timeouts": client.timeouts,
            "reconnects": client.reconnects,
            "connected": client.connected,
        },
    )
