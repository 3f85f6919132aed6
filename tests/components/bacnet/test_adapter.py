"""The bacpypes3 adapter against a bacpypes3 device on loopback (real sockets, real clock)."""

from __future__ import annotations

import pytest
import trio

from opencrate.components.bacnet.adapter import (
    BacnetStack,
    CovNotification,
    PropertyFailure,
    StackSettings,
)
from opencrate.components.bacnet.values import ObjectRef
from opencrate.errors import BridgeTimeout, DeviceError, InvalidInput

from .conftest import bacpypes_device, free_udp_port
from .objects import bacnet_object


def _objects() -> list[object]:
    return [
        bacnet_object("analog-value", 1, "Zone Temp", 21.5, units="degrees-celsius"),
        bacnet_object(
            "analog-output", 1, "Damper Cmd", 0.0, units="percent", relinquishDefault=0.0
        ),
    ]


def _client(**overrides: object) -> StackSettings:
    settings = {"address": f"127.0.0.1:{free_udp_port()}", "device_instance": 599,
                "timeout_s": 0.5, "retries": 0}  # fmt: skip
    settings.update(overrides)
    return StackSettings(**settings)  # type: ignore[arg-type]


async def test_directed_who_is_finds_the_device_with_its_apdu_and_segmentation() -> None:
    port = free_udp_port()
    async with bacpypes_device(1001, port), BacnetStack.open(_client()) as stack:
        with trio.fail_after(5):
            (found,) = await stack.who_is(address=f"127.0.0.1:{port}")
    assert found.device_instance == 1001
    assert found.address == f"127.0.0.1:{port}"
    assert found.max_apdu >= 480
    assert found.segmentation == "segmented-both"


async def test_read_write_and_priority_array_through_plain_python_values() -> None:
    port = free_udp_port()
    address = f"127.0.0.1:{port}"
    ao = ObjectRef("analog-output", 1)
    async with bacpypes_device(1001, port, _objects()), BacnetStack.open(_client()) as stack:
        with trio.fail_after(10):
            assert await stack.read_property(address, ObjectRef("analog-value", 1),
                                             "present-value") == 21.5  # fmt: skip
            assert await stack.read_property(address, ao, "units") == "percent"
            objects = await stack.read_property(address, ObjectRef("device", 1001), "object-list")
            assert ObjectRef("analog-output", 1) in objects
            await stack.write_property(address, ao, "present-value", 40.0, priority=8)
            assert await stack.read_property(address, ao, "present-value") == 40.0
            slots = await stack.read_property(address, ao, "priority-array")
            assert len(slots) == 16
            assert slots[7] == 40.0
            assert slots[0] is None
            await stack.write_property(address, ao, "present-value", None, priority=8)
            assert await stack.read_property(address, ao, "present-value") == 0.0


async def test_rpm_returns_values_and_per_property_failures() -> None:
    port = free_udp_port()
    address = f"127.0.0.1:{port}"
    av = ObjectRef("analog-value", 1)
    async with bacpypes_device(1001, port, _objects()), BacnetStack.open(_client()) as stack:
        with trio.fail_after(10):
            got = await stack.read_property_multiple(
                address, [(av, ["present-value", "status-flags", "object-name"]),
                          (ObjectRef("analog-value", 9), ["present-value"])]
            )  # fmt: skip
    assert got[(av, "present-value")] == 21.5
    assert got[(av, "status-flags")] == [False, False, False, False]
    assert got[(av, "object-name")] == "Zone Temp"
    failure = got[(ObjectRef("analog-value", 9), "present-value")]
    assert isinstance(failure, PropertyFailure)
    assert "unknown-object" in str(failure)


async def test_errors_are_mapped_device_error_and_timeout() -> None:
    port = free_udp_port()
    address = f"127.0.0.1:{port}"
    async with bacpypes_device(1001, port, _objects()), BacnetStack.open(_client()) as stack:
        with trio.fail_after(10):
            with pytest.raises(DeviceError, match="unknown-object"):
                await stack.read_property(address, ObjectRef("analog-value", 9), "present-value")
            with pytest.raises(InvalidInput, match="priority"):
                await stack.write_property(
                    address, ObjectRef("analog-output", 1), "present-value", 1.0, priority=17
                )
            nobody = f"127.0.0.1:{free_udp_port()}"
            with pytest.raises(BridgeTimeout):
                await stack.read_property(nobody, ObjectRef("analog-value", 1), "present-value")
            assert await stack.who_is(address=nobody, timeout_s=0.3) == []
        assert stack.statistics().timeouts == 1


async def test_cov_subscription_delivers_notifications_on_the_events_channel() -> None:
    port = free_udp_port()
    address = f"127.0.0.1:{port}"
    av = ObjectRef("analog-value", 1)
    objects = _objects()
    async with (
        bacpypes_device(1001, port, objects) as (_, device_loop),
        BacnetStack.open(_client()) as stack,
    ):
        with trio.fail_after(10):
            await stack.subscribe_cov(address, av, process_id=7, confirmed=True, lifetime_s=60)
            first = await stack.events.receive()  # the initial notification
            assert isinstance(first, CovNotification)
            assert first.object == av
            assert first.values["present-value"] == 21.5
            assert first.confirmed
            assert first.device_instance == 1001
            await device_loop.call(setattr, objects[0], "presentValue", 25.0)
            changed = await stack.events.receive()
            assert isinstance(changed, CovNotification)
            assert changed.values["present-value"] == 25.0
            await stack.unsubscribe_cov(address, av, process_id=7)


async def test_a_bad_local_address_is_refused_with_the_address_named() -> None:
    with pytest.raises(InvalidInput, match="not-an-address"):
        async with BacnetStack.open(_client(address="not-an-address:xx")):
            pass
