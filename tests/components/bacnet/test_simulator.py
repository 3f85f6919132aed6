"""The BACnet simulator, read by a separate bacpypes3 stack over real loopback sockets.

The simulator serves office.toml's six BACnet devices on one port (127.0.0.1..6, the first a
BBMD). The client is a bacpypes3 Application on its own asyncio thread and its own port: it
registers as a foreign device with the BBMD to find every device with a global Who-Is, and uses
directed Who-Is per address. Its maximum APDU is 50 bytes, so the object list comes back in
segments. Waits are on facts (replies, notifications) under ``fail_after``.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio
from bacpypes3.apdu import ErrorRejectAbortNack
from bacpypes3.pdu import Address
from bacpypes3.primitivedata import Null, ObjectIdentifier

from opencrate.components.bacnet.sim_objects import EXTRA_FIRST_INSTANCE
from opencrate.components.bacnet.simulator import BacnetSimulator
from opencrate.components.scenario.parse import load_scenario, parse_scenario
from opencrate.errors import ConfigError, InvalidInput, NotFound
from tests.components.bacnet.peers import Client, free_udp_port, open_client

OFFICE = Path(__file__).resolve().parents[3] / "opencrate/components/scenario/examples/office.toml"
OFFICE_DEVICES = {
    1001: "AHU-1",
    1101: "VAV-101",
    1102: "VAV-102",
    1201: "VAV-201",
    1202: "VAV-202",
    2001: "Boiler-1",
}
SAFETY_S = 15


@pytest.fixture
async def office() -> AsyncIterator[BacnetSimulator]:
    scenario = await trio.to_thread.run_sync(load_scenario, OFFICE)
    simulator = BacnetSimulator.from_scenario(scenario, port=free_udp_port())
    async with trio.open_nursery() as nursery:
        await nursery.start(simulator.run)
        yield simulator
        nursery.cancel_scope.cancel()


@pytest.fixture
async def client(office: BacnetSimulator) -> AsyncIterator[Client]:
    async with open_client(office.bbmd_address) as client:
        yield client


async def test_a_global_who_is_through_the_bbmd_finds_all_six_devices(
    office: BacnetSimulator, client: Client
) -> None:
    with trio.fail_after(SAFETY_S):
        found = await client.who_is(timeout=2.0)  # a global Who-Is waits it all out
    assert found == dict(office.devices())
    assert set(found) == set(OFFICE_DEVICES)
    assert sorted(found.values()) == [f"127.0.0.{n}:{office.port}" for n in range(1, 7)]


async def test_a_directed_who_is_finds_each_device_at_its_own_address(
    office: BacnetSimulator, client: Client
) -> None:
    with trio.fail_after(SAFETY_S):
        for instance, address in office.devices():
            assert await client.who_is(address=address) == {instance: address}


async def test_device_properties_and_the_segmented_object_list(
    office: BacnetSimulator, client: Client
) -> None:
    where = dict(office.devices())
    with trio.fail_after(SAFETY_S):
        for instance, name in OFFICE_DEVICES.items():
            device = f"device,{instance}"
            assert await client.read(where[instance], device, "object-name") == name
        ahu = where[1001]
        objects = await client.read(ahu, "device,1001", "object-list")
        assert await client.read(ahu, "device,1001", "model-name") == "AX-40"
        assert await client.read(ahu, "device,1001", "vendor-name") == "Example Air"
        assert await client.read(ahu, "device,1001", "max-apdu-length-accepted") == 1476
        segmentation = await client.read(ahu, "device,1001", "segmentation-supported")
    # 17 points, the device and its network port: 19 * 5 bytes, more than one 50-byte APDU
    assert len(objects) == 19
    ids = {(str(t), i) for t, i in objects}
    assert {
        ("device", 1001),
        ("network-port", 1),
        ("analog-input", 8),
        ("binary-output", 1),
        ("multi-state-value", 1),
        ("analog-value", 2),
    } <= ids
    assert str(segmentation) == "segmented-both"


async def test_names_units_values_and_status_of_objects(
    office: BacnetSimulator, client: Client
) -> None:
    ahu = dict(office.devices())[1001]
    with trio.fail_after(SAFETY_S):
        name = await client.read(ahu, "analog-input,1", "object-name")
        description = await client.read(ahu, "analog-input,1", "description")
        units = await client.read(ahu, "analog-input,1", "units")
        supply = await client.read(ahu, "analog-input,1", "present-value")
        humidity_units = await client.read(ahu, "analog-input,6", "units")
        flags = await client.read(ahu, "analog-input,1", "status-flags")
        reliability = await client.read(ahu, "analog-input,1", "reliability")
        fan = await client.read(ahu, "binary-output,1", "present-value")
        mode = await client.read(ahu, "multi-state-value,1", "present-value")
        states = await client.read(ahu, "multi-state-value,1", "state-text")
        local = await office.call(office.read_local, 1001, "analog-input", 1, "presentValue")
    assert (name, description) == ("Supply Air Temp", "AHU-1 Supply Air Temp")
    assert (str(units), str(humidity_units)) == ("degrees-celsius", "percent-relative-humidity")
    # The scenario's sine around 13.5 ± 0.6 with a little noise, as the device holds it.
    assert 12.5 < supply < 14.5
    assert supply == pytest.approx(local)
    assert list(flags) == [0, 0, 0, 0]
    assert str(reliability) == "no-fault-detected"
    assert str(fan) == "active"  # the schedule's first step
    assert mode == 1
    assert list(states) == ["occupied", "unoccupied", "standby"]


async def test_a_command_at_priority_8_then_relinquish_returns_to_the_default(
    office: BacnetSimulator, client: Client
) -> None:
    vav = dict(office.devices())[1101]
    setpoint = "analog-value,1"  # Zone Cooling Setpoint: a constant 24.0 signal
    with trio.fail_after(SAFETY_S):
        assert await client.read(vav, setpoint, "present-value") == 24.0
        await client.write(vav, setpoint, 21.5, priority=8)
        present = await client.read(vav, setpoint, "present-value")
        slots = await client.read(vav, setpoint, "priority-array")
        # The objects' empty slots start out shared: a command must not reach another object.
        other = await client.read(vav, "analog-value,2", "priority-array")
        await client.write(vav, setpoint, Null(()), priority=8)
        after = await client.read(vav, setpoint, "present-value")
        default = await client.read(vav, setpoint, "relinquish-default")
        after_slots = await client.read(vav, setpoint, "priority-array")
    assert present == 21.5
    values = [getattr(slot, slot._choice) if slot._choice != "null" else None for slot in slots]
    assert values == [None] * 7 + [21.5] + [None] * 8
    assert after == default == 24.0
    assert all(slot._choice == "null" for slot in other)
    assert all(slot._choice == "null" for slot in after_slots)


async def test_a_commanded_output_is_not_overwritten_by_its_signal(
    office: BacnetSimulator, client: Client
) -> None:
    ahu = dict(office.devices())[1001]
    with trio.fail_after(SAFETY_S):
        await client.write(ahu, "binary-output,1", "inactive", priority=8)
        # The signal drives the relinquish default only; the command still wins.
        await office.call(office.set_value, 1001, "binary-output", 1, True)
        fan = await client.read(ahu, "binary-output,1", "present-value")
        default = await client.read(ahu, "binary-output,1", "relinquish-default")
        await client.write(ahu, "binary-output,1", Null(()), priority=8)
        released = await client.read(ahu, "binary-output,1", "present-value")
    assert (str(fan), str(default), str(released)) == ("inactive", "active", "active")


async def test_cov_subscribers_are_notified_of_changes(
    office: BacnetSimulator, client: Client
) -> None:
    boiler = Address(dict(office.devices())[2001])
    values: list[Any] = []

    async def subscribe() -> None:
        obj = ObjectIdentifier("analog-input,1")
        async with client.app.change_of_value(boiler, obj, 41, False, 60) as subscription:
            values.append(await subscription.get_value())  # the notification on subscribing
            # Ask for the change only once subscribed (the test thread waits on nothing).
            await _set_from_loop(office, 2001, "analog-input", 1, 99.5)
            while True:
                prop, value = await subscription.get_value()
                if str(prop) == "present-value" and value == 99.5:
                    values.append((prop, value))
                    return

    with trio.fail_after(SAFETY_S):
        await client.thread.run(subscribe)
    assert str(values[0][0]) in {"present-value", "status-flags"}
    assert values[-1][1] == 99.5


async def test_cov_on_a_multi_state_value_and_a_binary_input(
    office: BacnetSimulator, client: Client
) -> None:
    ahu = Address(dict(office.devices())[1001])
    seen: list[tuple[str, Any]] = []

    async def subscribe(obj: str, value: Any, expected: Any) -> None:
        async with client.app.change_of_value(ahu, ObjectIdentifier(obj), 42, True, 60) as sub:
            await sub.get_value()
            await _set_from_loop(office, 1001, *obj.split(","), value)
            while True:
                prop, got = await sub.get_value()
                if str(prop) == "present-value" and str(got) == str(expected):
                    seen.append((obj, got))
                    return

    with trio.fail_after(SAFETY_S):
        # Occupancy mode is commandable: the change arrives through its relinquish default.
        await client.thread.run(subscribe, "multi-state-value,1", 3, 3)
        await client.thread.run(subscribe, "binary-input,1", True, "active")
    assert [obj for obj, _ in seen] == ["multi-state-value,1", "binary-input,1"]


async def _set_from_loop(
    office: BacnetSimulator, instance: int, object_type: str, object_instance: Any, value: Any
) -> None:
    # From the client's asyncio thread: hop to the simulator's loop and wait for it there.
    loop = office.loop
    assert loop is not None
    future = asyncio.run_coroutine_threadsafe(
        office.set_value(instance, object_type, int(object_instance), value), loop
    )
    await asyncio.wrap_future(future)


async def test_extra_objects_and_generated_devices() -> None:
    scenario = await trio.to_thread.run_sync(load_scenario, OFFICE)
    with_extra = BacnetSimulator.from_scenario(scenario, port=free_udp_port(), extra=100)
    assert len(with_extra.simulated[0].spec.objects) == 117
    bench = BacnetSimulator.generated(devices=20, objects=100, port=free_udp_port())
    async with trio.open_nursery() as nursery:
        await nursery.start(bench.run)
        async with open_client(bench.bbmd_address) as client:
            with trio.fail_after(SAFETY_S):
                found = await client.who_is(timeout=3.0)
                last = bench.devices()[-1]
                objects = await client.read(last[1], f"device,{last[0]}", "object-list")
                value = await client.read(
                    last[1], f"analog-value,{EXTRA_FIRST_INSTANCE + 4}", "present-value"
                )
        nursery.cancel_scope.cancel()
    assert found == dict(bench.devices())
    assert len(found) == 20
    assert len(objects) == 102  # 100 fillers, the device, its network port
    assert value == 4.0


async def test_closing_leaves_no_thread_or_socket(tmp_path: Path) -> None:
    before = {t.name for t in threading.enumerate()}
    port = free_udp_port()
    scenario = await trio.to_thread.run_sync(load_scenario, OFFICE)
    simulator = BacnetSimulator.from_scenario(scenario, port=port)
    async with trio.open_nursery() as nursery:
        await nursery.start(simulator.run)
        nursery.cancel_scope.cancel()
    assert {t.name for t in threading.enumerate()} <= before
    # Every device address is free again: a plain bind (no SO_REUSEPORT) succeeds.
    for _, address in simulator.devices():
        ip, _, p = address.rpartition(":")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((ip, int(p)))


async def test_an_address_that_cannot_be_bound_is_an_oserror_naming_it() -> None:
    scenario = await trio.to_thread.run_sync(load_scenario, OFFICE)
    simulator = BacnetSimulator.from_scenario(scenario, host="192.0.2.1", port=free_udp_port())
    with pytest.raises(OSError, match=r"cannot bind BACnet address 192\.0\.2\.1:"):
        await simulator.run()  # raises before it would report started


async def test_unknown_objects_and_bad_hosts_are_named() -> None:
    scenario = await trio.to_thread.run_sync(load_scenario, OFFICE)
    with pytest.raises(InvalidInput, match="IPv4 address, got 'localhost'"):
        BacnetSimulator.from_scenario(scenario, host="localhost")
    with pytest.raises(InvalidInput, match=r"6 devices need 6 addresses from 255\.255\.255\.254"):
        BacnetSimulator.from_scenario(scenario, host="255.255.255.254")
    simulator = BacnetSimulator.from_scenario(scenario, port=free_udp_port())
    async with trio.open_nursery() as nursery:
        await nursery.start(simulator.run)
        with pytest.raises(NotFound, match="no analog-input,99 in device 1001"):
            await simulator.call(simulator.set_value, 1001, "analog-input", 99, 1.0)
        nursery.cancel_scope.cancel()


_BAD_TYPE = """
[scenario]
name = "bad"
[[site]]
id = "s"
dis = "S"
[[equip]]
id = "e"
dis = "E"
parent = "s"
binding = { protocol = "bacnet", device_instance = 7 }
[[equip.point]]
id = "p"
dis = "P"
binding = { object_type = "accumulator", object_instance = 1 }
"""


def test_a_point_the_simulator_cannot_serve_is_a_config_error_naming_it() -> None:
    scenario = parse_scenario(_BAD_TYPE, source="bad.toml")
    with pytest.raises(ConfigError, match="'accumulator' is not simulated") as info:
        BacnetSimulator.from_scenario(scenario)
    assert "bad.toml" in str(info.value)
    wrong_kind = _BAD_TYPE.replace('"accumulator"', '"binary-input"')
    with pytest.raises(ConfigError, match="a binary-input holds bool values, but e/p is a number"):
        BacnetSimulator.from_scenario(parse_scenario(wrong_kind, source="bad.toml"))


_FAST = """
[scenario]
name = "fast"
[[site]]
id = "s"
dis = "S"
[[equip]]
id = "9001"
dis = "Fast AHU"
parent = "s"
binding = { protocol = "bacnet", device_instance = 9001 }
[[equip.point]]
id = "ai-1"
dis = "Ramp"
unit = "°C"
binding = { object_type = "analog-input", object_instance = 1 }
signal = { shape = "ramp", start = 0.0, rate = 36000.0, decimals = 1, interval = 0.2 }
[[equip.point]]
id = "ao-1"
dis = "Commanded ramp"
unit = "%"
binding = { object_type = "analog-output", object_instance = 1 }
signal = { shape = "ramp", start = 0.0, rate = 36000.0, decimals = 1, interval = 0.2 }
"""


async def test_signals_drive_inputs_on_their_schedule_and_commands_hold_outputs() -> None:
    simulator = BacnetSimulator.from_scenario(parse_scenario(_FAST), port=free_udp_port())
    async with trio.open_nursery() as nursery:
        await nursery.start(simulator.run)
        async with open_client(simulator.bbmd_address) as client:
            where = simulator.devices()[0][1]
            ramp: list[float] = []

            async def follow() -> None:
                # 10 per second in 0.2 s steps: each sample is a COV notification.
                obj = ObjectIdentifier("analog-input,1")
                async with client.app.change_of_value(Address(where), obj, 5, False, 60) as sub:
                    while len(ramp) < 4:
                        prop, value = await sub.get_value()
                        if str(prop) == "present-value":
                            ramp.append(value)

            with trio.fail_after(SAFETY_S):
                await client.write(where, "analog-output,1", 42.0, priority=8)
                await client.thread.run(follow)
                held = await client.read(where, "analog-output,1", "present-value")
                moving = await client.read(where, "analog-output,1", "relinquish-default")
                await client.write(where, "analog-output,1", Null(()), priority=8)
                released = await client.read(where, "analog-output,1", "present-value")
        nursery.cancel_scope.cancel()
    assert ramp == sorted(ramp)
    assert len(set(ramp)) == 4
    assert held == 42.0
    assert moving > 0.0  # the signal went on driving the default underneath the command
    assert released >= moving


async def test_writes_a_real_device_refuses_are_refused(
    office: BacnetSimulator, client: Client
) -> None:
    ahu = dict(office.devices())[1001]
    refused = []
    with trio.fail_after(SAFETY_S):
        for obj, prop, value in [
            ("analog-input,1", "present-value", 1.0),  # an input
            ("analog-output,1", "object-name", "renamed"),
            ("analog-output,1", "units", "percent"),
        ]:
            # bacpypes3's errors are BaseExceptions (ErrorRejectAbortNack), not Exceptions.
            with pytest.raises(ErrorRejectAbortNack, match="write-access-denied"):
                await client.thread.run(
                    client.app.write_property, Address(ahu), obj, prop, value, None, None
                )
            refused.append(obj)
        name = await client.read(ahu, "analog-output,1", "object-name")
    assert name == "Supply Fan Speed"
    assert len(refused) == 3


async def test_reliability_sets_the_fault_flag(office: BacnetSimulator, client: Client) -> None:
    boiler = dict(office.devices())[2001]
    with trio.fail_after(SAFETY_S):
        await office.call(office.set_reliability, 2001, "analog-input", 2, "no-sensor")
        reliability = await client.read(boiler, "analog-input,2", "reliability")
        flags = await client.read(boiler, "analog-input,2", "status-flags")
        with pytest.raises(InvalidInput, match="not a BACnet reliability: 'wobbly'"):
            await office.call(office.set_reliability, 2001, "analog-input", 2, "wobbly")
    assert str(reliability) == "no-sensor"
    assert list(flags) == [0, 1, 0, 0]
