"""Discovery over loopback against bacpypes3 devices: global via a BBMD, ranged, directed.

Two devices share one port on 127.0.0.1 and 127.0.0.2 (the first is a BBMD);
the client is a foreign device on another port, so a global Who-Is reaches
both (stack-feasibility §5). Real sockets, real clock, fact-waits only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from opencrate.clock import TrioClock
from opencrate.components.bacnet.adapter import BacnetStack, StackSettings, make_application
from opencrate.components.bacnet.discovery import DiscoveryService
from opencrate.components.bacnet.loop import AsyncioThread
from opencrate.components.bacnet.records import DeviceState
from opencrate.components.bacnet.settings import BacnetSettings
from opencrate.components.bacnet.store import DiscoveryStore
from opencrate.components.nodes.store import NodeStore
from opencrate.runtime.bus import EventBus
from opencrate.runtime.events import DeviceAccepted, DeviceDiscovered, DiscoveryScanComplete

from .conftest import free_udp_port
from .objects import bacnet_object

SAFETY_S = 20


def _objects(base: int) -> list[Any]:
    return [
        bacnet_object(
            "analog-input",
            1,
            f"Supply Air Temp {base}",
            float(base),
            units="degrees-celsius",
            description="discharge air",
        ),
        bacnet_object(
            "analog-output", 1, "Damper Cmd", 0.0, units="percent", relinquishDefault=0.0
        ),
        bacnet_object("binary-value", 1, "Fan Enable", "active"),
    ]


@asynccontextmanager
async def _devices(port: int) -> AsyncIterator[None]:
    """Device 1001 (a BBMD) at 127.0.0.1:port and device 1002 at 127.0.0.2:port."""
    async with AsyncioThread.open(name="devices") as loop:
        apps: list[Any] = []

        def build() -> None:
            for instance, host, bbmd in ((1001, "127.0.0.1", True), (1002, "127.0.0.2", False)):
                app = make_application(
                    StackSettings(
                        address=f"{host}/8:{port}", device_instance=instance,
                        device_name=f"AHU {instance}",
                        bbmd_peers=(f"{host}:{port}",) if bbmd else (),
                    )
                )  # fmt: skip
                for obj in _objects(instance):
                    app.add_object(obj)
                apps.append(app)

        await loop.call(build)
        try:
            yield
        finally:
            for app in apps:
                await loop.call(app.close)


@asynccontextmanager
async def _service(tmp_path: Path, port: int, **settings: Any) -> AsyncIterator[
    tuple[DiscoveryService, DiscoveryStore, NodeStore, EventBus]
]:  # fmt: skip
    bus = EventBus()
    clock = TrioClock()
    store = DiscoveryStore(tmp_path / "discovery.db", clock=clock)
    nodes = NodeStore(tmp_path / "nodes.db", bus=bus, clock=clock)
    stack_settings = StackSettings(
        address=f"127.0.0.1:{free_udp_port()}", foreign_bbmd=f"127.0.0.1:{port}",
        foreign_ttl_s=60, timeout_s=0.5, retries=1,
    )  # fmt: skip
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(store.running())
        await stack.enter_async_context(nodes.running())
        bacnet = await stack.enter_async_context(BacnetStack.open(stack_settings))
        await trio.sleep(0.3)  # foreign registration completes (stack-feasibility §5)
        service = DiscoveryService(
            bacnet, store, nodes, settings=BacnetSettings(scan_timeout_s=1.0, **settings),
            bus=bus, clock=clock,
        )  # fmt: skip
        yield service, store, nodes, bus


async def test_a_global_scan_through_the_bbmd_finds_both_devices_and_reads_their_objects(
    tmp_path: Path,
) -> None:
    port = free_udp_port()
    async with _devices(port), _service(tmp_path, port) as (service, store, _, bus):
        with bus.subscribe(DeviceDiscovered, DiscoveryScanComplete, name="t") as events:
            with trio.fail_after(SAFETY_S):
                result = await service.scan()
            assert result.devices == ("1001", "1002")
            assert result.new_devices == ("1001", "1002")
            assert result.point_count == 6
            seen = [events.receive_nowait() for _ in range(3)]
        device = await store.get("1002")
        points = await store.points("1002")
    assert [type(e).__name__ for e in seen] == [
        "DeviceDiscovered", "DeviceDiscovered", "DiscoveryScanComplete"
    ]  # fmt: skip
    assert device.address == f"127.0.0.2:{port}"
    assert device.device_name == "AHU 1002"
    assert device.segmentation == "segmented-both"
    assert device.state is DeviceState.DISCOVERED
    by_type = {p.object_type: p for p in points}
    assert by_type["analog-input"].object_name == "Supply Air Temp 1002"
    assert by_type["analog-input"].units == "degrees-celsius"
    assert by_type["analog-input"].description == "discharge air"
    assert by_type["analog-output"].writable
    assert not by_type["analog-input"].writable


async def test_ranged_and_directed_scans_find_only_what_they_ask_for(tmp_path: Path) -> None:
    port = free_udp_port()
    async with _devices(port), _service(tmp_path, port) as (service, _, _, _):
        with trio.fail_after(SAFETY_S):
            ranged = await service.scan(low=1002, high=1002)
            directed = await service.scan(address=f"127.0.0.1:{port}")
    assert (ranged.mode, ranged.devices) == ("ranged", ("1002",))
    assert (directed.mode, directed.devices) == ("directed", ("1001",))


async def test_accept_creates_equip_and_points_and_ignored_devices_are_not_read_again(
    tmp_path: Path,
) -> None:
    port = free_udp_port()
    async with _devices(port), _service(tmp_path, port) as (service, store, nodes, bus):
        with trio.fail_after(SAFETY_S):
            await service.scan()
            with bus.subscribe(DeviceAccepted, name="t") as events:
                created = await service.accept("1001")
                accepted = events.receive_nowait()
            await service.ignore("1002")
            again = await service.scan()
        assert isinstance(accepted, DeviceAccepted)
        assert set(accepted.created_node_ids) == set(created)
        assert "1001" in created
        assert "1001/analog-input-1" in created
        point = nodes.get("1001/analog-input-1")
        assert point.protocol_binding is not None
        assert point.protocol_binding.config["object_type"] == "analog-input"
        assert {"air", "temp", "sensor"} <= set(point.tags)
        assert (await store.get("1001")).state is DeviceState.ACCEPTED
        assert (await store.get("1002")).state is DeviceState.IGNORED
        assert again.point_count == 3  # 1001 read again, 1002 (ignored) not


async def test_a_device_already_in_the_model_is_accepted_when_found(tmp_path: Path) -> None:
    port = free_udp_port()
    async with _devices(port), _service(tmp_path, port) as (service, store, nodes, _):
        with trio.fail_after(SAFETY_S):
            await service.scan(address=f"127.0.0.1:{port}")
            await service.accept("1001")
            nodes_before = {n.id for n in nodes.all()}
            await service.scan()
        assert (await store.get("1001")).state is DeviceState.ACCEPTED
        assert (await store.get("1002")).state is DeviceState.DISCOVERED
        assert {n.id for n in nodes.all()} == nodes_before


async def test_an_i_am_flood_is_coalesced_and_bounded_by_the_store(tmp_path: Path) -> None:
    from opencrate.components.bacnet.adapter import IAm

    port = free_udp_port()
    async with _service(tmp_path, port) as (service, store, _, _):
        store.max_devices = 50
        async with trio.open_nursery() as nursery:
            nursery.start_soon(service.run_intake)
            for round_ in range(3):
                for instance in range(200):
                    service.intake(IAm(device_instance=instance, address=f"10.0.{round_}.1:47808",
                                       max_apdu=480, segmentation="no-segmentation",
                                       vendor_id=1))  # fmt: skip
            with trio.fail_after(SAFETY_S):
                await service.wait_recorded(200)
            nursery.cancel_scope.cancel()
        devices = await store.list()
    assert len(devices) == 50
    assert service.intake_dropped >= 150


@pytest.mark.parametrize("bad", [{"low": 5}, {"low": 9, "high": 3}])
async def test_a_bad_range_is_refused_before_anything_is_sent(
    tmp_path: Path, bad: dict[str, int]
) -> None:
    from opencrate.errors import InvalidInput

    async with _service(tmp_path, free_udp_port()) as (service, _, _, _):
        with pytest.raises(InvalidInput, match="range"):
            await service.scan(**bad)
