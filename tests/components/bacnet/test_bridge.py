"""The whole bridge against a bacpypes3 device: scan, accept, poll, command, monitor.

The device is configured by address (``[[bacnet.device]]``), so the start-up
scan's directed Who-Is finds it without broadcast. Real sockets, real clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
from bacpypes3.local.analog import AnalogInputObject, AnalogOutputObject, AnalogValueObject

from opencrate.clock import TrioClock
from opencrate.components.bacnet.bridge import BacnetBridge
from opencrate.components.bacnet.records import DeviceState
from opencrate.components.bacnet.settings import parse_settings
from opencrate.components.bacnet.store import DiscoveryStore
from opencrate.components.bacnet.writes import BacnetWriter
from opencrate.components.nodes.store import NodeStore
from opencrate.components.points.store import PointStore
from opencrate.errors import InvalidInput, NotFound
from opencrate.runtime.bus import EventBus
from opencrate.runtime.events import DeviceMonitorCycle, ObjectListChanged

from .conftest import bacpypes_device, free_udp_port

SAFETY_S = 20


def _objects() -> list[Any]:
    return [
        AnalogInputObject(
            objectIdentifier=("analog-input", 1), objectName="Zone Temp", presentValue=21.5,
            statusFlags=[0, 0, 0, 0], eventState="normal", outOfService=False,
            units="degrees-celsius", covIncrement=0.1,
        ),
        AnalogOutputObject(
            objectIdentifier=("analog-output", 1), objectName="Damper Cmd", presentValue=0.0,
            statusFlags=[0, 0, 0, 0], eventState="normal", outOfService=False,
            units="percent", relinquishDefault=0.0, covIncrement=0.1,
        ),
    ]  # fmt: skip


class Running:
    def __init__(self, bridge: BacnetBridge, writer: BacnetWriter, points: PointStore,
                 store: DiscoveryStore, bus: EventBus) -> None:  # fmt: skip
        self.bridge, self.writer, self.points, self.store, self.bus = (
            bridge, writer, points, store, bus
        )  # fmt: skip


@asynccontextmanager
async def _bridge(tmp_path: Path, device_port: int, **extra: Any) -> AsyncIterator[Running]:
    bus = EventBus()
    clock = TrioClock()
    store = DiscoveryStore(tmp_path / "discovery.db", clock=clock)
    nodes = NodeStore(tmp_path / "nodes.db", bus=bus, clock=clock)
    points = PointStore(bus, clock)
    settings = parse_settings(
        {"address": f"127.0.0.1:{free_udp_port()}", "timeout": "500ms", "retries": 1,
         "poll_interval": "100ms", "scan_timeout": "500ms", "monitor_interval": "200ms",
         "backoff_initial": "100ms", "backoff_max": "500ms", "down_after": 2,
         "device": [{"instance": 1001, "address": f"127.0.0.1:{device_port}"}], **extra}
    )  # fmt: skip
    bridge = BacnetBridge(settings, store=store, nodes=nodes, points=points, bus=bus, clock=clock)
    writer = BacnetWriter(bridge, points=points, clock=clock)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(store.running())
        await stack.enter_async_context(nodes.running())
        nursery = await stack.enter_async_context(trio.open_nursery())
        await nursery.start(bridge.run)
        nursery.start_soon(writer.run_expiry)
        with trio.fail_after(SAFETY_S):
            await bridge.startup_scan.wait()
        yield Running(bridge, writer, points, store, bus)
        nursery.cancel_scope.cancel()


async def test_accept_starts_polling_and_a_write_goes_to_the_devices_priority_array(
    tmp_path: Path,
) -> None:
    port = free_udp_port()
    async with bacpypes_device(1001, port, _objects()), _bridge(tmp_path, port) as run:
        assert (await run.store.get("1001")).state is DeviceState.DISCOVERED
        with trio.fail_after(SAFETY_S):
            await run.bridge.discovery.accept("1001")
            poller = run.bridge.poller("1001")
            await poller.wait_notifications(2)  # both objects subscribed and reported
            ai = run.points.get("1001/analog-input-1")
            assert ai is not None
            assert ai.value == 21.5
            result = await run.writer.write("1001/analog-output-1", 55.0, priority=8, by="ann")
            assert result.read_back == 55.0
            view = await run.writer.priority_view("1001/analog-output-1")
            assert view.active_priority == 8
            assert view.value == 55.0
            slot = view.slots[7]
            assert slot is not None
            assert slot.by == "ann"
            await run.writer.write("1001/analog-output-1", 20.0, priority=12, by="schedule")
            again = await run.writer.priority_view("1001/analog-output-1")
            assert again.value == 55.0  # 8 beats 12, as the device decides
            relinquished = await run.writer.write(
                "1001/analog-output-1", None, priority=8, by="ann"
            )
            assert relinquished.read_back == 20.0
            timed = await run.writer.write(
                "1001/analog-output-1", 70.0, priority=5, by="ann", duration_s=0.3
            )
            assert timed.read_back == 70.0
            await run.writer.wait_written(run.writer.written + 1)  # the expiry's write
            view = await run.writer.priority_view("1001/analog-output-1")
            assert view.active_priority == 12
            devices = run.bridge.device_views()
        assert [d.id for d in devices] == ["1001"]
        assert devices[0].protocol == "bacnet"
        assert devices[0].details["cov_subscriptions"] == 2


async def test_inputs_and_unknown_points_are_refused_with_their_names(tmp_path: Path) -> None:
    port = free_udp_port()
    async with bacpypes_device(1001, port, _objects()), _bridge(tmp_path, port) as run:
        with trio.fail_after(SAFETY_S):
            await run.bridge.discovery.accept("1001")
        with pytest.raises(InvalidInput, match=r"1001/analog-input-1.*cannot be commanded"):
            await run.writer.write("1001/analog-input-1", 1.0, by="ann")
        with pytest.raises(NotFound, match="nope"):
            await run.writer.write("nope", 1.0, by="ann")
        with pytest.raises(InvalidInput, match="cannot take"):
            await run.writer.write("1001/analog-output-1", "warm", by="ann")


async def test_the_monitor_counts_devices_and_reports_a_changed_object_list(
    tmp_path: Path,
) -> None:
    port = free_udp_port()
    async with (
        bacpypes_device(1001, port, _objects()) as (app, loop),
        _bridge(tmp_path, port) as run,
    ):
        with run.bus.subscribe(DeviceMonitorCycle, ObjectListChanged, name="t") as events:
            with trio.fail_after(SAFETY_S):
                await run.bridge.discovery.accept("1001")
                while True:
                    cycle = await events.receive()
                    if isinstance(cycle, DeviceMonitorCycle) and cycle.checked_count == 1:
                        break
                assert (cycle.online_count, cycle.offline_count) == (1, 0)
                extra = AnalogValueObject(
                    objectIdentifier=("analog-value", 7), objectName="New Setpoint",
                    presentValue=1.0, statusFlags=[0, 0, 0, 0], eventState="normal",
                    outOfService=False, units="degrees-celsius",
                )  # fmt: skip
                await loop.call(app.add_object, extra)
                while not isinstance(changed := await events.receive(), ObjectListChanged):
                    pass
        assert changed.device_key == "1001"
        assert changed.new_count == changed.old_count + 1
        assert (await run.store.get("1001")).object_list_stale


async def test_a_device_that_moves_to_a_new_address_is_polled_there(tmp_path: Path) -> None:
    from bacpypes3.pdu import Address

    first, second = free_udp_port(), free_udp_port()
    async with _bridge(tmp_path, first) as run:
        async with bacpypes_device(1001, first, _objects()):
            with trio.fail_after(SAFETY_S):
                await run.bridge.discovery.scan()
                await run.bridge.discovery.accept("1001")
                await run.bridge.poller("1001").wait_notifications(2)
        async with bacpypes_device(1001, second, _objects()) as (app, loop):
            bridge_address = Address(run.bridge.settings.address)
            with trio.fail_after(SAFETY_S):
                started = run.bridge.pollers_started
                await loop.call(app.i_am, bridge_address)  # a device announces itself
                await run.bridge.wait_pollers_started(started + 1)
                moved = run.bridge.poller("1001")
                assert moved.device.address == f"127.0.0.1:{second}"
                await moved.wait_notifications(2)  # subscribed again, at the new address
        assert (await run.store.get("1001")).address == f"127.0.0.1:{second}"
        assert moved.statistics().state.value == "online"
