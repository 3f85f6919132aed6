"""One device's points over loopback: RPM polls, COV notifications, RP fallback, down and back.

Real sockets and the real clock (autojump would jump while a datagram is in
flight); intervals are short and every wait is on a fact (a poll count, a
notification count, an event on the bus) under ``fail_after``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from opencrate.clock import TrioClock
from opencrate.components.bacnet.adapter import BacnetStack, CovNotification, StackSettings
from opencrate.components.bacnet.points import BacnetPoint
from opencrate.components.bacnet.poller import BacnetDevice, DevicePoller, process_id_source
from opencrate.components.bacnet.settings import BacnetSettings
from opencrate.components.points.store import PointStore
from opencrate.model.values import PointStatus
from opencrate.runtime.bus import EventBus
from opencrate.runtime.events import DeviceDown, DeviceRecovered

from .conftest import bacpypes_device, free_udp_port
from .objects import bacnet_object

SAFETY_S = 15


def _objects() -> list[Any]:
    return [
        bacnet_object("analog-input", 1, "Zone Temp", 21.5, units="degrees-celsius"),
        bacnet_object(
            "analog-output",
            1,
            "Damper",
            35.0,
            reliability="over-range",
            units="percent",
            relinquishDefault=0.0,
        ),
        bacnet_object(
            "binary-value", 1, "Occupied", "active", statusFlags=[0, 0, 0, 1], outOfService=True
        ),
    ]


def _points(*, cov: bool = False) -> list[BacnetPoint]:
    def bound(object_type: str, instance: int) -> BacnetPoint:
        return BacnetPoint.from_binding(
            f"1001/{object_type}-{instance}",
            {"device_instance": 1001, "object_type": object_type, "object_instance": instance,
             "cov": cov},
        )  # fmt: skip

    return [
        bound("analog-input", 1),
        bound("analog-output", 1),
        bound("binary-value", 1),
        bound("analog-value", 9),  # the device has none
    ]


def _settings(**overrides: Any) -> BacnetSettings:
    values: dict[str, Any] = {
        "poll_interval_s": 0.05,
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.2,
        "down_after": 2,
        "cov_lifetime_s": 60,
    }
    values.update(overrides)
    return BacnetSettings(**values)  # type: ignore[arg-type]


@asynccontextmanager
async def _stack() -> AsyncIterator[BacnetStack]:
    settings = StackSettings(address=f"127.0.0.1:{free_udp_port()}", timeout_s=0.3, retries=0)
    async with BacnetStack.open(settings) as stack:
        yield stack


def _poller(stack: BacnetStack, port: int, store: PointStore, bus: EventBus,
            **settings: Any) -> DevicePoller:  # fmt: skip
    device = BacnetDevice(instance=1001, address=f"127.0.0.1:{port}", max_apdu=1476,
                          segmentation="segmented-both")  # fmt: skip
    return DevicePoller(
        device, _points(cov=settings.pop("cov", False)), stack=stack, store=store, bus=bus,
        clock=TrioClock(), settings=_settings(**settings), process_ids=process_id_source(),
    )  # fmt: skip


async def test_rpm_poll_stores_values_with_status_from_flags_and_fault_for_a_missing_object() -> (
    None
):
    port = free_udp_port()
    bus = EventBus()
    store = PointStore(bus)
    async with bacpypes_device(1001, port, _objects()), _stack() as stack:
        poller = _poller(stack, port, store, bus)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(poller.run)
            with trio.fail_after(SAFETY_S):
                await poller.wait_cycles(1)
            nursery.cancel_scope.cancel()
    assert poller.rpm
    ai = store.get("1001/analog-input-1")
    assert ai is not None
    assert (ai.value, ai.status) == (21.5, PointStatus.OK)
    ao = store.get("1001/analog-output-1")
    assert ao is not None
    assert (ao.value, ao.status) == (35.0, PointStatus.FAULT)  # its reliability
    bv = store.get("1001/binary-value-1")
    assert bv is not None
    assert (bv.value, bv.status) == (True, PointStatus.DISABLED)  # out of service
    missing = store.get("1001/analog-value-9")
    assert missing is not None
    assert missing.status is PointStatus.FAULT
    assert poller.statistics().state.value == "online"


async def test_a_device_without_rpm_is_read_property_by_property() -> None:
    port = free_udp_port()
    bus = EventBus()
    store = PointStore(bus)
    async with bacpypes_device(1001, port, _objects()) as (app, loop), _stack() as stack:
        await loop.call(setattr, app, "do_ReadPropertyMultipleRequest", None)
        poller = _poller(stack, port, store, bus)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(poller.run)
            with trio.fail_after(SAFETY_S):
                await poller.wait_cycles(2)
            nursery.cancel_scope.cancel()
    assert not poller.rpm
    ai = store.get("1001/analog-input-1")
    assert ai is not None
    assert ai.value == 21.5
    missing = store.get("1001/analog-value-9")
    assert missing is not None
    assert missing.status is PointStatus.FAULT


async def test_cov_points_take_their_values_from_notifications_not_polls() -> None:
    port = free_udp_port()
    bus = EventBus()
    store = PointStore(bus)
    objects = _objects()
    async with bacpypes_device(1001, port, objects) as (_, loop), _stack() as stack:
        poller = _poller(stack, port, store, bus, cov=True)

        async def route() -> None:
            async for note in stack.events:
                if isinstance(note, CovNotification):
                    poller.on_notification(note)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(route)
            nursery.start_soon(poller.run)
            with trio.fail_after(SAFETY_S):
                await poller.wait_notifications(3)  # one initial notification per object
                assert "1001/analog-input-1" in poller.subscribed
                await loop.call(setattr, objects[0], "presentValue", 23.0)
                await poller.wait_notifications(4)
            nursery.cancel_scope.cancel()
    ai = store.get("1001/analog-input-1")
    assert ai is not None
    assert ai.value == 23.0
    assert "1001/analog-value-9" not in poller.subscribed  # refused: polled instead


async def test_a_silent_device_goes_down_once_and_recovers_when_it_answers() -> None:
    port = free_udp_port()
    bus = EventBus()
    store = PointStore(bus)
    with bus.subscribe(DeviceDown, DeviceRecovered, name="test") as events:
        async with _stack() as stack:
            poller = _poller(stack, port, store, bus)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(poller.run)
                with trio.fail_after(SAFETY_S):
                    down = await events.receive()
                    assert isinstance(down, DeviceDown)
                    assert down.device_key == "1001"
                    assert down.protocol == "bacnet"
                    point = store.get("1001/analog-input-1")
                    assert point is not None
                    assert point.status is PointStatus.DOWN
                    async with bacpypes_device(1001, port, _objects()):
                        up = await events.receive()
                        assert isinstance(up, DeviceRecovered)
                        await poller.wait_cycles(poller.cycles + 1)
                nursery.cancel_scope.cancel()
    point = store.get("1001/analog-input-1")
    assert point is not None
    assert (point.value, point.status) == (21.5, PointStatus.OK)
