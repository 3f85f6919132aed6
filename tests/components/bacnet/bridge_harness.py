"""A whole BacnetBridge on a free loopback port, for tests against real peers.

``async with running_bridge(tmp_path, devices=[(1234, "127.0.0.1:47901")]) as run`` starts
the DiscoveryStore, the NodeStore, the bridge (its stack bound) and the writer's expiry task,
waits for the start-up scan (the directed Who-Is to each ``[[bacnet.device]]``), and gives
``run.bridge``, ``run.writer``, ``run.points``, ``run.nodes``, ``run.store``, ``run.bus`` and
``run.address`` (where the bridge listens). Settings are fast by default (500 ms APDU
timeout, 100 ms polls); ``**settings`` overrides any ``[bacnet]`` key.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import trio
from attrs import frozen

from opencrate.clock import TrioClock
from opencrate.components.bacnet.bridge import BacnetBridge
from opencrate.components.bacnet.settings import parse_settings
from opencrate.components.bacnet.store import DiscoveryStore
from opencrate.components.bacnet.writes import BacnetWriter
from opencrate.components.nodes.store import NodeStore
from opencrate.components.points.store import PointStore
from opencrate.runtime.bus import EventBus

from .conftest import free_udp_port

__all__ = ["FAST", "Running", "running_bridge"]

#: Settings that make a loopback test quick (each is a ``[bacnet]`` key).
FAST: dict[str, Any] = {
    "timeout": "500ms",
    "retries": 1,
    "poll_interval": "100ms",
    "scan_timeout": "500ms",
    "monitor_interval": "200ms",
    "backoff_initial": "100ms",
    "backoff_max": "500ms",
    "down_after": 2,
}
STARTUP_S = 20


@frozen(kw_only=True)
class Running:
    """A running bridge and the stores around it."""

    bridge: BacnetBridge
    writer: BacnetWriter
    points: PointStore
    nodes: NodeStore
    store: DiscoveryStore
    bus: EventBus
    address: str  # "127.0.0.1:port" the bridge's stack listens on


@asynccontextmanager
async def running_bridge(
    tmp_path: Path,
    *,
    devices: Sequence[tuple[int, str]] = (),
    max_devices: int = 1000,
    wait_scan: bool = True,
    broadcast: bool = False,
    **settings: Any,
) -> AsyncIterator[Running]:
    """See the module docstring. ``devices``: ``(instance, "host:port")`` known by address;
    ``broadcast``: listen on ``127.0.0.1/8`` so a global Who-Is goes out (to 127.255.255.255
    on the bridge's own port, which no other test uses), else on ``127.0.0.1`` where it is
    skipped."""
    bus = EventBus()
    clock = TrioClock()
    port = free_udp_port()
    section: dict[str, Any] = {
        "address": f"127.0.0.1{'/8' if broadcast else ''}:{port}",
        **FAST,
        "max_devices": max_devices,
        "device": [{"instance": i, "address": a} for i, a in devices],
        **settings,
    }
    parsed = parse_settings(section)
    store = DiscoveryStore(tmp_path / "discovery.db", clock=clock, max_devices=max_devices)
    nodes = NodeStore(tmp_path / "nodes.db", bus=bus, clock=clock)
    points = PointStore(bus, clock)
    bridge = BacnetBridge(parsed, store=store, nodes=nodes, points=points, bus=bus, clock=clock)
    writer = BacnetWriter(bridge, points=points, clock=clock)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(store.running())
        await stack.enter_async_context(nodes.running())
        nursery = await stack.enter_async_context(trio.open_nursery())
        await nursery.start(bridge.run)
        nursery.start_soon(writer.run_expiry)
        if wait_scan:
            with trio.fail_after(STARTUP_S):
                await bridge.startup_scan.wait()
        yield Running(
            bridge=bridge,
            writer=writer,
            points=points,
            nodes=nodes,
            store=store,
            bus=bus,
            address=f"127.0.0.1:{port}",
        )
        nursery.cancel_scope.cancel()
