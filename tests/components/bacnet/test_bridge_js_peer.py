"""OpenCrate's BACnet bridge against @bacnet-js/client, a stack that is not bacpypes3.

- Our :class:`BacnetBridge` (``tests/components/bacnet/bridge_harness.py``) against
  ``device.js``: discovery by directed Who-Is to a ``[[bacnet.device]]`` (identity, the object
  list whole from a device that segments and index by index from one that does not), accept,
  polling by ReadPropertyMultiple and by ReadProperty when the device has no RPM, COV with
  confirmed and unconfirmed notifications, a priority-8 write and its relinquish seen in the
  device's own priority array and in our priority view, and a device that stops answering
  going DeviceDown and DeviceRecovered.
- ``client.js`` against our simulator (office.toml's devices): Who-Is, ReadProperty, RPM,
  write at priority 8 and relinquish.

Real loopback sockets, the real clock, waits on facts (events, counters) under
``fail_after``; every stack on a port of its own. Skips without node or the npm packages;
fails instead with OPENCRATE_BACNET_JS=1 or OPENCRATE_REQUIRE_SERVICES=1 (CI).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from opencrate.components.bacnet.records import DeviceState
from opencrate.components.bacnet.simulator import BacnetSimulator
from opencrate.components.points.store import PointState
from opencrate.components.scenario.parse import load_scenario
from opencrate.model.node import NodeType
from opencrate.model.values import PointStatus
from opencrate.runtime.events import DeviceDown, DeviceRecovered
from tests.peers.bacnet_js_peer import (
    JsClientError,
    JsDevice,
    bacnet_js_device,
    free_udp_port,
    require_bacnet_js,
    run_js_client,
)

from .bridge_harness import Running, running_bridge

SAFETY_S = 30
OFFICE = Path(__file__).resolve().parents[3] / "opencrate/components/scenario/examples/office.toml"
JS_POINTS = ("analog-input-1", "analog-output-1", "binary-value-1", "multi-state-value-1")


@pytest.fixture(autouse=True)
def _needs_bacnet_js() -> None:
    require_bacnet_js()


async def wait_state(run: Running, point_id: str, good: Callable[[PointState], bool]) -> PointState:
    """The point's state once ``good`` holds (checked now, then at each change of it)."""
    with run.bus.subscribe(name="test", accept=lambda e: e.node() == point_id) as changes:
        while True:
            state = run.points.get(point_id)
            if state is not None and good(state):
                return state
            await changes.receive()


def known(device: JsDevice) -> list[tuple[int, str]]:
    return [(device.instance, device.address)]


# -- discovery ----------------------------------------------------------------------------
async def test_discovery_reads_the_identity_and_the_whole_object_list_of_a_segmenting_device(
    tmp_path: Path,
) -> None:
    async with (
        bacnet_js_device(instance=4401, name="JS AHU") as device,
        running_bridge(tmp_path, devices=known(device)) as run,
    ):
        found = await run.store.get("4401")
        points = {(p.object_type, p.object_instance): p for p in await run.store.points("4401")}
    assert found.state is DeviceState.DISCOVERED
    assert found.address == device.address
    assert (found.max_apdu, found.segmentation, found.vendor_id) == (1476, "segmented-both", 999)
    assert found.device_name == "JS AHU"
    assert found.model_name == "bacnet-js device.js"
    assert "@bacnet-js/client" in (found.vendor_name or "")
    assert found.object_count == 5  # the device object and four points
    assert set(points) == {
        ("analog-input", 1), ("analog-output", 1), ("binary-value", 1), ("multi-state-value", 1)
    }  # fmt: skip
    zone = points[("analog-input", 1)]
    assert (zone.object_name, zone.units, zone.present_value) == (
        "Zone Temp", "degrees-celsius", 20.0
    )  # fmt: skip
    assert zone.description == "Zone air temperature"
    assert zone.writable is False
    assert points[("analog-output", 1)].writable is True
    assert points[("binary-value", 1)].writable is True  # commandable: it has a priority array
    log = device.log()
    assert f"who-is 4401-4401 from {run.address}" in log  # directed, naming the instance
    assert f"read-property device,4401 object-list from {run.address}" in log  # whole
    assert "object-list[" not in log
    assert "read-property-multiple analog-input,1 object-name" in log


async def test_discovery_reads_the_object_list_index_by_index_without_segmentation(
    tmp_path: Path,
) -> None:
    objects = [
        {"type": "analog-value", "instance": i, "name": f"AV {i}", "units": "percent"}
        for i in range(1, 6)
    ]
    async with (
        bacnet_js_device(instance=4402, objects=objects, segmentation=False, rpm=False) as device,
        running_bridge(tmp_path, devices=known(device)) as run,
    ):
        found = await run.store.get("4402")
        points = await run.store.points("4402")
    assert found.segmentation == "no-segmentation"
    assert found.device_name == "bacnet-js 4402"  # read one property at a time: no RPM
    assert found.object_count == 6
    assert sorted((p.object_instance, p.object_name) for p in points) == [
        (i, f"AV {i}") for i in range(1, 6)
    ]
    log = device.log()
    assert "read-property device,4402 object-list[0] from" in log
    assert all(f"read-property device,4402 object-list[{i}] from" in log for i in range(1, 7))
    assert "read-property device,4402 object-list from" not in log  # never asked whole
    assert "rejected (--no-rpm)" in log


# -- accept and polling -------------------------------------------------------------------
async def test_accept_creates_the_nodes_and_polls_by_read_property_multiple(
    tmp_path: Path,
) -> None:
    async with (
        bacnet_js_device(instance=4403) as device,
        running_bridge(tmp_path, devices=known(device), cov=False) as run,
    ):
        with trio.fail_after(SAFETY_S):
            created = await run.bridge.discovery.accept("4403")
            assert set(created) == {"4403", *(f"4403/{p}" for p in JS_POINTS)}
            equip = run.nodes.get("4403")
            assert equip.node_type is NodeType.EQUIP
            point = run.nodes.get("4403/analog-input-1")
            assert point.node_type is NodeType.POINT
            assert point.protocol_binding is not None
            assert point.protocol_binding.config["device_instance"] == 4403
            assert (await run.store.get("4403")).state is DeviceState.ACCEPTED
            poller = run.bridge.poller("4403")
            await poller.wait_cycles(2)
            zone = await wait_state(run, "4403/analog-input-1", lambda s: s.value == 20.0)
            assert zone.status is PointStatus.OK
            mode = await wait_state(run, "4403/multi-state-value-1", lambda s: s.value == 1)
            assert mode.status is PointStatus.OK
            await device.set("analog-input,1", 23.5)
            await wait_state(run, "4403/analog-input-1", lambda s: s.value == 23.5)
            # The device's own fault flag is the point's status.
            await device.set("analog-input,1", status_flags=[False, True, False, False])
            await wait_state(run, "4403/analog-input-1", lambda s: s.status is PointStatus.FAULT)
        assert poller.rpm is True
        assert poller.subscribed == {}
        view = run.bridge.device_view("4403")
        assert view.details["rpm"] is True
        log = device.log()
        assert "read-property-multiple analog-input,1 present-value status-flags reliability" in log
        assert "read-property analog-input,1 present-value" not in log


async def test_a_device_without_rpm_is_polled_by_read_property(tmp_path: Path) -> None:
    async with (
        bacnet_js_device(instance=4404, rpm=False) as device,
        running_bridge(tmp_path, devices=known(device), cov=False) as run,
    ):
        with trio.fail_after(SAFETY_S):
            await run.bridge.discovery.accept("4404")
            poller = run.bridge.poller("4404")
            await poller.wait_cycles(2)
            assert poller.rpm is False
            await wait_state(run, "4404/analog-input-1", lambda s: s.value == 20.0)
            await device.set("analog-input,1", 21.25)
            await wait_state(run, "4404/analog-input-1", lambda s: s.value == 21.25)
        assert run.bridge.device_view("4404").details["rpm"] is False
        log = device.log()
        assert "read-property analog-input,1 present-value from" in log
        assert "read-property analog-input,1 status-flags from" in log


# -- COV ----------------------------------------------------------------------------------
@pytest.mark.parametrize("confirmed", [True, False], ids=["confirmed", "unconfirmed"])
async def test_cov_subscriptions_deliver_values(tmp_path: Path, confirmed: bool) -> None:
    async with (
        bacnet_js_device(instance=4405) as device,
        running_bridge(
            tmp_path, devices=known(device), cov_confirmed=confirmed, poll_interval="1h"
        ) as run,
    ):
        with trio.fail_after(SAFETY_S):
            await run.bridge.discovery.accept("4405")
            poller = run.bridge.poller("4405")
            await poller.wait_notifications(len(JS_POINTS))  # each initial notification
            held = await device.subscriptions()
            assert len(held) == len(JS_POINTS)
            assert {h["subscriber"] for h in held} == {run.address}
            assert {h["confirmed"] for h in held} == {confirmed}
            by_object = {h["object"]: h["process_id"] for h in held}
            assert set(poller.subscribed) == {f"4405/{p}" for p in JS_POINTS}
            await wait_state(run, "4405/analog-input-1", lambda s: s.value == 20.0)
            before = poller.notifications
            await device.set("analog-input,1", 24.0)
            await wait_state(run, "4405/analog-input-1", lambda s: s.value == 24.0)
            await device.set("binary-value,1", 1)
            await wait_state(run, "4405/binary-value-1", lambda s: s.value is True)
            assert poller.notifications >= before + 2
        stats = run.bridge.stack.statistics()
        assert stats.unknown_notifications == 0
        kind = "confirmed" if confirmed else "unconfirmed"
        log = device.log()
        assert f"subscribe-cov analog-input,1 process {by_object['analog-input,1']}" in log
        assert f"{kind} lifetime 300 from {run.address}" in log
        assert f"-> {kind} cov-notification analog-input,1 = 24" in log
        assert "failed" not in log  # every confirmed notification was acknowledged


# -- writes -------------------------------------------------------------------------------
async def test_a_priority_8_write_and_relinquish_show_in_the_devices_priority_array(
    tmp_path: Path,
) -> None:
    async with (
        bacnet_js_device(instance=4406) as device,
        running_bridge(tmp_path, devices=known(device), cov=False) as run,
    ):
        point = "4406/analog-output-1"

        async def js_array() -> list[Any]:
            answer = await run_js_client("read", device.address, "analog-output", "1",
                                         "priority-array")  # fmt: skip
            values: list[Any] = answer["values"]
            return values

        with trio.fail_after(SAFETY_S):
            await run.bridge.discovery.accept("4406")
            written = await run.writer.write(point, 55.0, priority=8, by="ann")
            assert written.read_back == 55.0
            array = await js_array()
            assert array[7] == 55.0
            assert array.count(None) == 15
            # Another client commands priority 12 on the device: ours at 8 still wins.
            assert await run_js_client(
                "write", device.address, "analog-output", "1", "20", "12"
            ) == {"ok": True}
            view = await run.writer.priority_view(point)
            assert (view.active_priority, view.value) == (8, 55.0)
            ours, theirs = view.slots[7], view.slots[11]
            assert ours is not None
            assert (ours.by, ours.value) == ("ann", 55.0)
            assert theirs is not None
            assert (theirs.by, theirs.value) == (None, 20.0)
            relinquished = await run.writer.write(point, None, priority=8, by="ann")
            assert relinquished.read_back == 20.0  # the device falls back to priority 12
            array = await js_array()
            assert array[7] is None
            assert array[11] == 20.0
            view = await run.writer.priority_view(point)
            assert (view.active_priority, view.value) == (12, 20.0)
            assert view.slots[7] is None
        log = device.log()
        assert "write-property analog-output,1 present-value = 55 @8" in log
        assert "write-property analog-output,1 present-value = null @8" in log


# -- health -------------------------------------------------------------------------------
async def test_a_device_that_stops_answering_goes_down_and_recovers(tmp_path: Path) -> None:
    async with (
        bacnet_js_device(instance=4407) as device,
        running_bridge(
            tmp_path, devices=known(device), cov=False, timeout="300ms", retries=0
        ) as run,
    ):
        with run.bus.subscribe(DeviceDown, DeviceRecovered, name="health") as health:
            with trio.fail_after(SAFETY_S):
                await run.bridge.discovery.accept("4407")
                await run.bridge.poller("4407").wait_cycles(1)
                device.pause()
                down = await health.receive()
                assert isinstance(down, DeviceDown)
                assert (down.device_key, down.protocol) == ("4407", "bacnet")
                state = await wait_state(
                    run, "4407/analog-input-1", lambda s: s.status is PointStatus.DOWN
                )
                assert state.value == 20.0  # the last value is kept, marked down
                assert run.bridge.device_view("4407").state == "down"
                device.resume()
                recovered = await health.receive()
                assert isinstance(recovered, DeviceRecovered)
                assert recovered.device_key == "4407"
                await wait_state(run, "4407/analog-input-1", lambda s: s.status is PointStatus.OK)


# -- client.js -> our simulator -------------------------------------------------------------
@pytest.fixture
async def office() -> AsyncIterator[BacnetSimulator]:
    scenario = await trio.to_thread.run_sync(load_scenario, OFFICE)
    simulator = BacnetSimulator.from_scenario(scenario, port=free_udp_port())
    async with trio.open_nursery() as nursery:
        await nursery.start(simulator.run)
        yield simulator
        nursery.cancel_scope.cancel()


async def test_js_client_finds_each_simulated_device_by_directed_who_is(
    office: BacnetSimulator,
) -> None:
    with trio.fail_after(SAFETY_S):
        for instance, address in office.devices():
            i_am = await run_js_client("whois", address)
            assert (i_am["device"], i_am["address"]) == (instance, address)
            assert i_am["segmentation"] == "segmented-both"
        ahu = dict(office.devices())[1001]
        ranged = await run_js_client("whois", ahu, "1000", "1001")
        assert ranged["device"] == 1001


async def test_js_client_reads_a_simulated_device(office: BacnetSimulator) -> None:
    ahu = dict(office.devices())[1001]
    with trio.fail_after(SAFETY_S):
        name = await run_js_client("read", ahu, "device", "1001", "object-name")
        assert name == {"values": ["AHU-1"]}
        supply = await run_js_client("read", ahu, "analog-input", "1", "present-value")
        (value,) = supply["values"]
        assert isinstance(value, float)
        count = (await run_js_client("read", ahu, "device", "1001", "object-list", "0"))["values"]
        listed = (await run_js_client("read", ahu, "device", "1001", "object-list"))["values"]
        assert len(listed) == count[0]
        assert {"device,1001", "analog-input,1", "analog-output,1"} <= set(listed)
        with pytest.raises(JsClientError, match="Class:1 - Code:31"):  # unknown-object
            await run_js_client("read", ahu, "analog-input", "999", "present-value")


async def test_js_client_reads_a_simulated_device_by_rpm(office: BacnetSimulator) -> None:
    ahu = dict(office.devices())[1001]
    with trio.fail_after(SAFETY_S):
        answer = await run_js_client(
            "rpm", ahu, "analog-input,1:present-value,status-flags,units",
            "device,1001:object-name,vendor-identifier",
        )  # fmt: skip
    rows = {(r["object"], r["property"]): r for r in answer["results"]}
    assert rows[("analog-input,1", "status-flags")]["values"] == [[False, False, False, False]]
    assert rows[("analog-input,1", "units")]["values"] == [62]  # degrees-celsius
    assert rows[("device,1001", "object-name")]["values"] == ["AHU-1"]
    assert isinstance(rows[("analog-input,1", "present-value")]["values"][0], float)


async def test_js_client_writes_at_priority_8_and_relinquishes_on_the_simulator(
    office: BacnetSimulator,
) -> None:
    vav = dict(office.devices())[1101]
    setpoint = ("analog-value", "1")  # Zone Cooling Setpoint: a constant 24.0 signal
    with trio.fail_after(SAFETY_S):
        assert await run_js_client("read", vav, *setpoint, "present-value") == {"values": [24.0]}
        assert await run_js_client("write", vav, *setpoint, "21.5", "8") == {"ok": True}
        assert await run_js_client("read", vav, *setpoint, "present-value") == {"values": [21.5]}
        array = (await run_js_client("read", vav, *setpoint, "priority-array"))["values"]
        assert array == [None] * 7 + [21.5] + [None] * 8
        local = await office.call(office.read_local, 1101, "analog-value", 1, "presentValue")
        assert local == 21.5
        assert await run_js_client("relinquish", vav, *setpoint, "8") == {"ok": True}
        assert await run_js_client("read", vav, *setpoint, "present-value") == {"values": [24.0]}
        array = (await run_js_client("read", vav, *setpoint, "priority-array"))["values"]
        assert array == [None] * 16
