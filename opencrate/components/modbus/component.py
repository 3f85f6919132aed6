"""The Modbus component: ``[modbus]`` devices, the bridge at level 40, ``simulate modbus``.

The bridge registers with the devices component's DeviceRegistry (its
devices in ``GET /api/devices``) and its writer with the CommandRouter
(``POST /api/points/{id}/write``, overrides, timed writes): those routes and
the ``opencrate devices`` / ``opencrate point`` commands are the devices
component's, shared with every bridge.

With a scenario simulated (``serve --demo``, or ``[scenario] simulate = true``),
every ``device_id`` of the scenario's Modbus points that ``[[modbus.device]]``
does not configure gets a simulated device: a Modbus TCP server on a loopback
port serving the points' signals (:mod:`.simulator`), polled by the bridge
like any real device. The demo's meter readings therefore come over TCP
through the client, the poller and the codec, not from the simulator directly.
"""

from __future__ import annotations

import logging
from pathlib import Path

import trio

from opencrate.components.devices.commands import CommandRouter
from opencrate.components.devices.registry import DeviceRegistry
from opencrate.components.modbus.bridge import ModbusBridge
from opencrate.components.modbus.devices import ModbusDevice, parse_devices
from opencrate.components.modbus.writes import ModbusWriter
from opencrate.components.nodes.store import NodeStore
from opencrate.components.points.store import PointStore
from opencrate.errors import ConfigError
from opencrate.runtime.component import BuildContext, Contribution, Parts
from opencrate.runtime.supervisor import Service

__all__ = ["build"]

log = logging.getLogger(__name__)

_KEYS = frozenset({"device"})

#: How the bridge polls a simulated device (the demo's signals change every 5-30 s).
_SIMULATED = {"host": "127.0.0.1", "poll_interval": "5s", "timeout": "1s", "backoff_max": "10s"}


def build(ctx: BuildContext) -> Parts:
    section = ctx.settings.sections.get("modbus") or {}
    for key in section:
        if key not in _KEYS:
            raise ConfigError(
                f"unknown key {key!r} in [modbus] (devices are [[modbus.device]] tables)",
                key=f"modbus.{key}",
            )
    devices = parse_devices(section.get("device", []), where="modbus.device")
    bridge = ModbusBridge(
        devices,
        nodes=ctx.get(NodeStore),
        points=ctx.get(PointStore),
        bus=ctx.bus,
        clock=ctx.clock,
    )
    writer = ModbusWriter(bridge.pollers, points=ctx.get(PointStore), clock=ctx.clock)
    ctx.get(DeviceRegistry).add(bridge)
    ctx.get(CommandRouter).add(writer, protocol=bridge.protocol)
    scenario = ctx.settings.scenario if ctx.settings.simulate else None

    async def run(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            if scenario is not None:
                await _simulate_devices(scenario, bridge, nursery)
            await nursery.start(bridge.run)
            task_status.started()

    service = Service(name="modbus", run=run)
    return Parts(
        provides=(bridge, writer), contributions=(Contribution(level=40, services=[service]),)
    )


async def _simulate_devices(scenario: Path, bridge: ModbusBridge, nursery: trio.Nursery) -> None:
    """Serve the scenario's unconfigured Modbus devices on loopback ports; add them to bridge."""
    from opencrate.components.modbus.server import serve_modbus
    from opencrate.components.modbus.simulator import ModbusSimulator
    from opencrate.components.scenario.parse import load_scenario

    simulator = ModbusSimulator(await trio.to_thread.run_sync(load_scenario, scenario))
    simulated = {k: b for k, b in simulator.banks.items() if k not in bridge.devices}
    if not simulated:
        return
    await nursery.start(simulator.run)
    for device_id, bank in sorted(simulated.items()):
        port: int = await nursery.start(serve_modbus, {1: bank}, "127.0.0.1", 0)
        table = {**_SIMULATED, "id": device_id, "port": port}
        bridge.add_device(ModbusDevice.from_table(table, where=f"simulated device {device_id}"))
        log.info("modbus: simulated device %s on 127.0.0.1:%d", device_id, port)
