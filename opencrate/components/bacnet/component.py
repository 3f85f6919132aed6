"""The BACnet component: the DiscoveryStore at level 10, the bridge at level 40.

The bridge runs when the settings have a ``[bacnet]`` section (and it does not
say ``enabled = false``), or when a scenario is simulated (``serve --demo``).
Simulating, the scenario's BACnet equipment is served by the simulator
(:mod:`.simulator`) on loopback - one device per equipment at 127.0.0.1,
127.0.0.2, ... on one free port, the first a BBMD - and, unless ``[bacnet]``
says otherwise, the bridge listens on another free loopback port and
registers with that BBMD as a foreign device. Its start-up scan then finds
and reads the devices and accepts them (their equipment is in the model), so
the demo's BACnet points come in through the real stack: Who-Is, I-Am,
ReadPropertyMultiple, COV. Without either, the store still opens (discovered
devices stay listed) and the routes say the bridge is not running.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import attrs
import trio

from opencrate.components.bacnet.bridge import BacnetBridge
from opencrate.components.bacnet.settings import BacnetSettings, parse_settings
from opencrate.components.bacnet.store import DiscoveryStore
from opencrate.components.bacnet.writes import BacnetWriter
from opencrate.components.devices.commands import CommandRouter
from opencrate.components.devices.registry import DeviceRegistry
from opencrate.components.nodes.store import NodeStore
from opencrate.components.points.store import PointStore
from opencrate.runtime.component import BuildContext, Contribution, Parts
from opencrate.runtime.supervisor import Service

__all__ = ["build"]

log = logging.getLogger(__name__)

#: How the bridge talks to the simulated devices (the demo's values change every few seconds).
_SIMULATED = {
    "timeout_s": 1.0,
    "retries": 1,
    "poll_interval_s": 5.0,
    "scan_timeout_s": 1.5,
    "monitor_interval_s": 30.0,
    "backoff_initial_s": 1.0,
    "backoff_max_s": 10.0,
}
#: Loopback addresses the simulator may use (one per device, from 127.0.0.1).
_MAX_SIMULATED = 50


def build(ctx: BuildContext) -> Parts:
    section = ctx.settings.sections.get("bacnet")
    settings = parse_settings(section or {})
    scenario = ctx.settings.scenario if ctx.settings.simulate else None
    simulator_port: int | None = None
    if scenario is not None:
        simulator_port = _free_port(_MAX_SIMULATED)
        settings = _simulated(settings, section is not None and "address" in section,
                              simulator_port)  # fmt: skip
    store = DiscoveryStore(
        ctx.settings.data_dir / "discovery.db", clock=ctx.clock, max_devices=settings.max_devices
    )
    bridge = BacnetBridge(
        settings,
        store=store,
        nodes=ctx.get(NodeStore),
        points=ctx.get(PointStore),
        bus=ctx.bus,
        clock=ctx.clock,
    )
    writer = BacnetWriter(bridge, points=ctx.get(PointStore), clock=ctx.clock)
    ctx.get(DeviceRegistry).add(bridge)
    ctx.get(CommandRouter).add(writer, protocol=bridge.protocol)
    contributions: tuple[Contribution, ...] = ()
    if settings.enabled and (section is not None or scenario is not None):

        async def run(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            async with trio.open_nursery() as nursery:
                if scenario is not None and simulator_port is not None:
                    await _simulate_devices(scenario, simulator_port, nursery)
                await nursery.start(bridge.run)
                task_status.started()

        contributions = (Contribution(level=40, services=[Service(name="bacnet", run=run)]),)
    return Parts(provides=(store, bridge, writer), stores=(store,), contributions=contributions)


def _simulated(
    settings: BacnetSettings, address_given: bool, simulator_port: int
) -> BacnetSettings:
    """The bridge's settings for the simulated devices (a configured address is kept)."""
    changes: dict[str, object] = dict(_SIMULATED)
    changes["foreign_bbmd"] = f"127.0.0.1:{simulator_port}"
    if not address_given:
        changes["address"] = f"127.0.0.1:{_free_port(1)}"
    return attrs.evolve(settings, **changes)  # type: ignore[arg-type]


def _free_port(hosts: int) -> int:
    """A UDP port free on 127.0.0.1 .. 127.0.0.<hosts> (bacpypes3's sockets share ports
    silently, so a port still held would split traffic instead of failing)."""
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        if all(_bindable(f"127.0.0.{n}", port) for n in range(2, hosts + 1)):
            return port
    raise OSError("no UDP port is free on the loopback addresses for the BACnet simulator")


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


async def _simulate_devices(scenario: Path, port: int, nursery: trio.Nursery) -> None:
    """Serve the scenario's BACnet equipment on loopback (nothing when it has none)."""
    from opencrate.components.bacnet.simulator import BacnetSimulator
    from opencrate.components.scenario.parse import load_scenario

    parsed = await trio.to_thread.run_sync(load_scenario, scenario)
    simulator = BacnetSimulator.from_scenario(parsed, host="127.0.0.1", port=port)
    if not simulator.devices():
        return
    await nursery.start(simulator.run)
    for instance, address in simulator.devices():
        log.info("bacnet: simulated device %d at %s", instance, address)
