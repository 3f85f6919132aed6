"""The poll loop over loopback sockets: values in, device down and back, none waits for another.

Real sockets and trio's real clock (autojump would jump while a socket waits),
so intervals are tens of milliseconds and every wait is on a fact (a poll
count, an event on the bus) with ``fail_after`` as the safety net only.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio

from opencrate.clock import TrioClock
from opencrate.components.modbus.devices import ModbusDevice
from opencrate.components.modbus.poller import BoundPoint, DevicePoller
from opencrate.components.modbus.server import RegisterBank, serve_modbus
from opencrate.components.points.store import PointStore
from opencrate.model.values import PointStatus
from opencrate.runtime.bus import EventBus
from opencrate.runtime.events import DeviceDown, DeviceRecovered, StatusChanged

SAFETY_S = 10


def _float32(value: float) -> list[int]:
    high, low = struct.unpack(">HH", struct.pack(">f", value))
    return [high, low]


def _meter_bank() -> RegisterBank:
    bank = RegisterBank()
    bank.set_words("holding", 100, _float32(42.5))  # active power, kW
    bank.set_words("holding", 102, _float32(125000.0))  # energy, kWh
    bank.set_words("input", 0, [2301])  # voltage x10
    bank.set_words("coil", 5, [True])
    return bank


def _meter_points(device: str = "meter-1") -> list[BoundPoint]:
    def bound(point_id: str, **config: object) -> BoundPoint:
        return BoundPoint.from_binding(point_id, {"device_id": device, **config})

    return [
        bound("power", register_type="holding", address=100, data_type="float32"),
        bound("energy", register_type="holding", address=102, data_type="float32"),
        bound("voltage", register_type="input", address=0, data_type="int16", scale=0.1),
        bound("fan", register_type="coil", address=5, data_type="bool"),
    ]


def _device(port: int, **overrides: object) -> ModbusDevice:
    table: dict[str, object] = {
        "id": "meter-1",
        "host": "127.0.0.1",
        "port": port,
        "timeout": "200ms",
        "poll_interval": "20ms",
        "backoff_initial": "20ms",
        "backoff_max": "80ms",
        "down_after": 2,
        **overrides,
    }
    return ModbusDevice.from_table(table, where="test")


@asynccontextmanager
async def _served(bank: RegisterBank, port: int = 0) -> AsyncIterator[int]:
    async with trio.open_nursery() as nursery:
        bound: int = await nursery.start(serve_modbus, {1: bank}, "127.0.0.1", port)
        yield bound
        nursery.cancel_scope.cancel()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens there now: connections are refused


async def test_a_device_is_polled_into_the_point_store_in_few_requests(bus: EventBus) -> None:
    points = PointStore(bus, TrioClock())
    async with _served(_meter_bank()) as port, trio.open_nursery() as nursery:
        poller = DevicePoller(
            _device(port), _meter_points(), store=points, bus=bus, clock=TrioClock()
        )
        nursery.start_soon(poller.run)
        with trio.fail_after(SAFETY_S):
            await poller.wait_cycles(2)
        nursery.cancel_scope.cancel()
    values = {p: s.value for p, s in points.snapshot().items()}
    assert values == {
        "power": 42.5,
        "energy": 125000.0,
        "voltage": pytest.approx(230.1),
        "fan": True,
    }
    assert {s.status for s in points.snapshot().values()} == {PointStatus.OK}
    # One request per table: holding 100..103 merged, input 0, coil 5.
    assert poller.client.statistics().requests == 2 * 3
    assert poller.statistics().state == "online"


async def test_a_refused_device_goes_down_and_recovers_on_the_same_port(bus: EventBus) -> None:
    port = _closed_port()
    points = PointStore(bus, TrioClock())
    with bus.subscribe(DeviceDown, DeviceRecovered, StatusChanged) as events:
        async with trio.open_nursery() as nursery:
            poller = DevicePoller(
                _device(port), _meter_points(), store=points, bus=bus, clock=TrioClock()
            )
            nursery.start_soon(poller.run)
            with trio.fail_after(SAFETY_S):
                seen = []
                while not any(isinstance(e, DeviceDown) for e in seen):
                    seen.append(await events.receive())
                assert {points.get(p).status for p in poller.points} == {PointStatus.DOWN}  # type: ignore[union-attr]
                down = next(e for e in seen if isinstance(e, DeviceDown))
                assert down.device_key == "meter-1"
                assert "127.0.0.1" in down.error
                # The device comes back on its port: the next retry finds it.
                async with _served(_meter_bank(), port):
                    while not isinstance(event := await events.receive(), DeviceRecovered):
                        pass
                    await poller.wait_cycles(poller.cycles + 1)
                    nursery.cancel_scope.cancel()
    assert points.get("power").value == 42.5  # type: ignore[union-attr]
    assert points.get("power").status is PointStatus.OK  # type: ignore[union-attr]
    assert event.device_key == "meter-1"
    statuses = [e.new_status for e in seen if isinstance(e, StatusChanged) and e.node_id == "power"]
    assert statuses[-1] == PointStatus.DOWN


async def _silent_server(task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
    """Accepts connections and reads, never answers: a hung device or gateway."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    task_status.started(listeners[0].socket.getsockname()[1])

    async def swallow(stream: trio.SocketStream) -> None:
        while await stream.receive_some(4096):
            pass

    await trio.serve_listeners(swallow, listeners)


async def test_a_hung_and_a_refused_device_never_delay_a_good_one(bus: EventBus) -> None:
    points = PointStore(bus, TrioClock())
    async with _served(_meter_bank()) as good_port, trio.open_nursery() as nursery:
        hung_port: int = await nursery.start(_silent_server)
        pollers = {
            name: DevicePoller(
                _device(port, id=name, timeout="5s"),
                _meter_points(name)
                if name == "good"
                else [
                    BoundPoint.from_binding(
                        f"{name}-p",
                        {
                            "device_id": name,
                            "register_type": "holding",
                            "address": 0,
                            "data_type": "uint16",
                        },
                    )
                ],
                store=points,
                bus=bus,
                clock=TrioClock(),
            )
            for name, port in (
                ("good", good_port),
                ("hung", hung_port),
                ("refused", _closed_port()),
            )
        }
        for poller in pollers.values():
            nursery.start_soon(poller.run)
        with trio.fail_after(SAFETY_S):
            # Ten good polls (about 0.2 s at 20 ms) while the hung device's first
            # request is still waiting out its 5 s timeout.
            await pollers["good"].wait_cycles(10)
        hung = pollers["hung"].client.statistics()
        nursery.cancel_scope.cancel()
    assert hung.timeouts == 0  # still inside its first request
    assert hung.requests == 1
    assert pollers["refused"].statistics().failures >= 1
    assert points.get("hung-p") is None or points.get("hung-p").value is None  # type: ignore[union-attr]


async def test_a_register_missing_inside_a_merged_read_faults_only_its_neighbours_not_the_group(
    bus: EventBus,
) -> None:
    # Points at 0 and 4 are merged into one read of 0..4 (gap 3 <= max_gap), but this
    # device has no registers 1..3: it refuses the read with exception 2. The poller
    # then reads the two points one by one, and both get their values.
    bank = RegisterBank()
    bank.set_words("holding", 0, [11])
    bank.set_words("holding", 4, [44])
    bank.set_words("holding", 9, [99])  # a third point whose own register is missing: 8
    points = PointStore(bus, TrioClock())

    def bound(point_id: str, address: int) -> BoundPoint:
        return BoundPoint.from_binding(
            point_id,
            {"device_id": "meter-1", "register_type": "holding", "address": address,
             "data_type": "uint16"},
        )  # fmt: skip

    async with _served(bank) as port, trio.open_nursery() as nursery:
        poller = DevicePoller(
            _device(port),
            [bound("a", 0), bound("b", 4), bound("c", 8)],
            store=points,
            bus=bus,
            clock=TrioClock(),
        )
        assert len(poller.classes[0].groups) == 1  # one merged read 0..8
        nursery.start_soon(poller.run)
        with trio.fail_after(SAFETY_S):
            await poller.wait_cycles(1)
        nursery.cancel_scope.cancel()
    assert points.get("a").value == 11  # type: ignore[union-attr]
    assert points.get("b").value == 44  # type: ignore[union-attr]
    assert points.get("c").status is PointStatus.FAULT  # type: ignore[union-attr]
    assert poller.statistics().state == "online"
