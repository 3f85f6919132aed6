"""The bridge's own stack and inventory against the simulator: what discovery will see.

OpenCrate's :class:`BacnetStack` registers with the simulator's BBMD as a foreign device, finds
office.toml's six devices, reads each one's identity, its object list and its objects'
descriptions (ReadPropertyMultiple), then commands, relinquishes and follows a COV
notification, all over real loopback sockets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from opencrate.components.bacnet.adapter import BacnetStack, CovNotification, StackSettings
from opencrate.components.bacnet.inventory import read_identity, read_object_list, read_objects
from opencrate.components.bacnet.simulator import BacnetSimulator
from opencrate.components.bacnet.values import ObjectRef
from opencrate.components.scenario.parse import load_scenario
from opencrate.errors import DeviceError
from tests.components.bacnet.peers import free_udp_port

OFFICE = Path(__file__).resolve().parents[3] / "opencrate/components/scenario/examples/office.toml"
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
async def stack(office: BacnetSimulator) -> AsyncIterator[BacnetStack]:
    settings = StackSettings(
        address=f"127.0.0.1:{free_udp_port()}", foreign_bbmd=office.bbmd_address, foreign_ttl_s=60
    )
    async with BacnetStack.open(settings) as stack:
        yield stack


async def test_discovery_reads_every_simulated_device_and_its_objects(
    office: BacnetSimulator, stack: BacnetStack
) -> None:
    with trio.fail_after(SAFETY_S):
        found = await stack.who_is(timeout_s=2.0)
        assert {(i.device_instance, i.address) for i in found} == set(office.devices())
        assert {(i.max_apdu, i.segmentation, i.vendor_id) for i in found} == {
            (1476, "segmented-both", 999)
        }
        ahu = dict(office.devices())[1001]
        identity = await read_identity(stack, ahu, 1001)
        objects, truncated = await read_object_list(stack, ahu, 1001, segmented=True)
        described = await read_objects(stack, ahu, objects)
    assert (identity.device_name, identity.vendor_name, identity.model_name) == (
        "AHU-1", "Example Air", "AX-40",
    )  # fmt: skip
    assert not truncated
    assert len(objects) == 19
    by_object = {d.object: d for d in described}
    assert len(by_object) == 17  # the point objects (not the device, not its network port)
    supply = by_object[ObjectRef("analog-input", 1)]
    assert (supply.name, supply.units, supply.commandable) == (
        "Supply Air Temp", "degrees-celsius", False,
    )  # fmt: skip
    assert 12.5 < supply.present_value < 14.5
    assert by_object[ObjectRef("analog-value", 2)].commandable
    assert by_object[ObjectRef("binary-output", 1)].commandable
    assert by_object[ObjectRef("multi-state-value", 1)].present_value == 1


async def test_commands_relinquish_and_cov_through_the_bridge_stack(
    office: BacnetSimulator, stack: BacnetStack
) -> None:
    vav = dict(office.devices())[1102]
    damper = ObjectRef("analog-output", 1)
    with trio.fail_after(SAFETY_S):
        await stack.write_property(vav, damper, "present-value", 12.0, priority=8)
        commanded = await stack.read_property(vav, damper, "present-value")
        await stack.write_property(vav, damper, "present-value", None, priority=8)
        released = await stack.read_property(vav, damper, "present-value")
        default = await stack.read_property(vav, damper, "relinquish-default")
        with pytest.raises(DeviceError, match="write-access-denied"):
            await stack.write_property(vav, ObjectRef("analog-input", 1), "present-value", 3.0)
        await stack.subscribe_cov(
            vav, ObjectRef("binary-input", 1), process_id=9, confirmed=True, lifetime_s=60
        )
        await office.call(office.set_value, 1102, "binary-input", 1, False)
        async for event in stack.events:
            if isinstance(event, CovNotification) and event.values["present-value"] == "inactive":
                break
    assert commanded == 12.0
    assert released == default
