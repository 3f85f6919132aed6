"""The BACnet component: the DiscoveryStore at level 10, the bridge at level 40.

The bridge runs when the settings have a ``[bacnet]`` section (and it does not
say ``enabled = false``), or when a scenario with BACnet equipment is
simulated (``serve --demo``): then its devices are served by the simulator on
loopback (:mod:`.simulator`), the bridge registers with the simulator's BBMD
as a foreign device, and the start-up scan finds, reads and accepts them, so
the demo's BACnet points come in through the real stack. Without either the
store still opens (discovered devices stay listed) and the routes say the
bridge is not running.
"""

from __future__ import annotations

import logging

import trio

from opencrate.components.bacnet.bridge import BacnetBridge
from opencrate.components.bacnet.settings import parse_settings
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


def build(ctx: BuildContext) -> Parts:
    section = ctx.settings.sections.get("bacnet")
    settings = parse_settings(section or {})
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
    if section is not None and settings.enabled:

        async def run(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            await bridge.run(task_status=task_status)

        contributions = (Contribution(level=40, services=[Service(name="bacnet", run=run)]),)
    return Parts(provides=(store, bridge, writer), stores=(store,), contributions=contributions)
