"""Writes to Modbus points: the priority array decides, the device is written and read back.

Over loopback against our server (its RegisterBank shows what the device
holds); the override and API paths through the real app, the CommandRouter
and the devices component's routes (their protocol-free behaviour is tested
in tests/components/devices/).
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from opencrate.api.app import create_app
from opencrate.app import Services
from opencrate.clock import TrioClock
from opencrate.components.audit.store import AuditStore
from opencrate.components.devices.commands import CommandRouter
from opencrate.components.modbus.bridge import ModbusBridge
from opencrate.components.modbus.server import RegisterBank, serve_modbus
from opencrate.components.modbus.writes import ModbusWriter
from opencrate.components.nodes.store import NodeStore
from opencrate.components.overrides.store import OverrideStore
from opencrate.components.points.store import PointStore
from opencrate.components.users.roles import Role
from opencrate.errors import InvalidInput
from opencrate.model.node import Node
from tests.harness import client_with_token, role_tokens, running_services

SAFETY_S = 10


def _float32(words: list[int]) -> float:
    return float(struct.unpack(">f", struct.pack(">HH", *words))[0])


def _bank() -> RegisterBank:
    bank = RegisterBank()
    bank.set_words("holding", 10, [0, 0])  # setpoint, float32
    bank.set_words("holding", 20, [0b1000_0000_0000_0001])  # a status word: bits 0 and 15 set
    bank.set_words("coil", 0, [False])
    bank.set_words("input", 0, [215])
    return bank


def _nodes() -> list[Node]:
    def point(suffix: str, kind: str, **config: Any) -> dict[str, Any]:
        return {
            "id": f"ahu/{suffix}", "node_type": "point", "dis": suffix, "parent_id": "ahu",
            "kind": kind,
            "protocol_binding": {"protocol": "modbus", "config": {"device_id": "plc", **config}},
            "properties": {"minVal": 5, "maxVal": 35} if suffix == "sp" else {},
        }  # fmt: skip

    return [
        Node.from_dict({"id": "site", "node_type": "site", "dis": "Site"}),
        Node.from_dict({"id": "ahu", "node_type": "equip", "dis": "AHU", "parent_id": "site"}),
        Node.from_dict(
            point("sp", "number", register_type="holding", address=10, data_type="float32")
        ),
        Node.from_dict(
            point("enable", "bool", register_type="holding", address=20, data_type="bool", bit=3)
        ),
        Node.from_dict(point("fan", "bool", register_type="coil", address=0, data_type="bool")),
        Node.from_dict(
            point("temp", "number", register_type="input", address=0, data_type="int16", scale=0.1)
        ),
    ]


@asynccontextmanager
async def _plant(
    tmp_path: Path, clock: TrioClock, *, follow: bool = True
) -> AsyncIterator[tuple[Services, RegisterBank]]:
    """A PLC (our server) and the services polling it, with the bridge and writer running."""
    bank = _bank()
    async with trio.open_nursery() as nursery:
        port: int = await nursery.start(serve_modbus, {1: bank}, "127.0.0.1", 0)
        device = {"id": "plc", "host": "127.0.0.1", "port": port, "poll_interval": "50ms"}
        async with running_services(
            tmp_path / "data", clock, sections={"modbus": {"device": [device]}}
        ) as services:
            await services.get(NodeStore).create_many(_nodes())
            bridge = services.get(ModbusBridge)
            writer = services.get(ModbusWriter)
            await nursery.start(bridge.run)
            router = services.get(CommandRouter)
            assert router.writers["modbus"] is writer
            nursery.start_soon(writer.run_expiry)
            if follow:
                nursery.start_soon(
                    router.follow_overrides, services.bus, services.get(OverrideStore)
                )
            with trio.fail_after(SAFETY_S):
                await bridge.poller("plc").wait_cycles(1)
            yield services, bank
        nursery.cancel_scope.cancel()


async def test_an_operator_at_8_beats_a_schedule_at_12_and_relinquishing_gives_it_back(
    tmp_path: Path, clock: TrioClock
) -> None:
    async with _plant(tmp_path, clock) as (services, bank):
        writer = services.get(ModbusWriter)
        scheduled = await writer.write("ahu/sp", 21.0, priority=12, by="schedule")
        assert (scheduled.commanded, scheduled.read_back) == (21.0, 21.0)
        assert _float32([bank.holding[10], bank.holding[11]]) == 21.0
        operator = await writer.write("ahu/sp", 23.5, priority=8, by="olivia")
        assert (operator.active_priority, operator.read_back) == (8, 23.5)
        # A lower priority written now changes nothing on the device.
        await writer.write("ahu/sp", 19.0, priority=16, by="default")
        assert _float32([bank.holding[10], bank.holding[11]]) == 23.5
        back = await writer.write("ahu/sp", None, priority=8, by="olivia")
        assert (back.active_priority, back.read_back) == (12, 21.0)
        assert _float32([bank.holding[10], bank.holding[11]]) == 21.0
        assert services.get(PointStore).get("ahu/sp").value == 21.0  # type: ignore[union-attr]
        slots = writer.array("ahu/sp").slots()
        assert [c.priority for c in slots if c is not None] == [12, 16]


async def test_a_bit_write_keeps_the_other_bits_and_a_coil_is_switched(
    tmp_path: Path, clock: TrioClock
) -> None:
    async with _plant(tmp_path, clock) as (services, bank):
        writer = services.get(ModbusWriter)
        assert (await writer.write("ahu/enable", True, by="olivia")).read_back is True
        assert bank.holding[20] == 0b1000_0000_0000_1001
        assert (await writer.write("ahu/fan", True, by="olivia")).read_back is True
        assert bank.coils[0] is True


async def test_read_only_points_and_bad_commands_are_refused_and_change_nothing(
    tmp_path: Path, clock: TrioClock
) -> None:
    async with _plant(tmp_path, clock) as (services, bank):
        writer = services.get(ModbusWriter)
        with pytest.raises(InvalidInput, match="which Modbus cannot write"):
            await writer.write("ahu/temp", 20.0, by="olivia")
        with pytest.raises(InvalidInput, match="priority must be an integer from 1"):
            await writer.write("ahu/sp", 20.0, priority=17, by="olivia")
        with pytest.raises(InvalidInput):
            await writer.write("ahu/enable", "maybe", by="olivia")
        assert [bank.holding[10], bank.holding[11]] == [0, 0]
        assert writer.array("ahu/sp").active is None


async def test_a_timed_write_relinquishes_itself(tmp_path: Path, clock: TrioClock) -> None:
    async with _plant(tmp_path, clock) as (services, bank):
        writer = services.get(ModbusWriter)
        await writer.write("ahu/sp", 20.0, priority=12, by="schedule")
        await writer.write("ahu/sp", 26.0, priority=8, by="olivia", duration_s=0.2)
        assert _float32([bank.holding[10], bank.holding[11]]) == 26.0
        with trio.fail_after(SAFETY_S):
            await writer.wait_written(writer.written + 1)  # the expiry's write
        assert writer.array("ahu/sp").active.priority == 12  # type: ignore[union-attr]
        assert _float32([bank.holding[10], bank.holding[11]]) == 20.0


async def test_the_write_api_commands_the_device_audits_the_user_and_needs_an_operator(
    tmp_path: Path, clock: TrioClock
) -> None:
    async with _plant(tmp_path, clock) as (services, bank):
        app = create_app(services)
        tokens = await role_tokens(services)
        operator = client_with_token(app, tokens[Role.OPERATOR])
        viewer = client_with_token(app, tokens[Role.VIEWER])
        answer = await operator.post(
            "/api/points/ahu/sp/write", json={"value": "22.5", "priority": 9, "duration": "1h"}
        )
        assert answer.status_code == 200, await answer.get_data()
        body = await answer.get_json()
        assert (body["commanded"], body["read_back"], body["active_priority"]) == (22.5, 22.5, 9)
        assert _float32([bank.holding[10], bank.holding[11]]) == 22.5
        (entry,) = await services.get(AuditStore).tail(1, action="point.write")
        assert (entry.user, entry.target) == ("operator (token tests)", "ahu/sp")
        view = await (await viewer.get("/api/points/ahu/sp/priority")).get_json()
        assert view["slots"][8]["by"] == "operator"
        assert view["slots"][8]["until_ms"] is not None
        assert (await viewer.post("/api/points/ahu/sp/write", json={"value": 1})).status_code == 403
        too_hot = await operator.post("/api/points/ahu/sp/write", json={"value": 80})
        assert too_hot.status_code == 400
        read_only = await operator.post("/api/points/ahu/temp/write", json={"value": 1})
        assert read_only.status_code == 400
        unknown = await operator.post("/api/points/nope/write", json={"value": 1})
        assert unknown.status_code == 404
        assert _float32([bank.holding[10], bank.holding[11]]) == 22.5


async def test_an_override_is_written_at_8_by_its_user_and_its_release_relinquishes(
    tmp_path: Path, clock: TrioClock
) -> None:
    async with _plant(tmp_path, clock) as (services, bank):
        writer = services.get(ModbusWriter)
        await writer.write("ahu/sp", 20.0, priority=12, by="schedule")
        overrides = services.get(OverrideStore)
        written = writer.written
        await overrides.set("ahu/sp", 24.0, user="olivia", kind=None)
        with trio.fail_after(SAFETY_S):
            await writer.wait_written(written + 1)
        assert _float32([bank.holding[10], bank.holding[11]]) == 24.0
        slot = writer.array("ahu/sp").slots()[7]
        assert slot is not None
        assert slot.by == "olivia"
        written = writer.written
        await overrides.release("ahu/sp", user="olivia")
        with trio.fail_after(SAFETY_S):
            await writer.wait_written(written + 1)
        assert _float32([bank.holding[10], bank.holding[11]]) == 20.0
        assert writer.array("ahu/sp").active.priority == 12  # type: ignore[union-attr]


async def test_overrides_active_at_start_are_written_to_the_device(
    tmp_path: Path, clock: TrioClock
) -> None:
    async with _plant(tmp_path, clock, follow=False) as (services, bank):
        overrides = services.get(OverrideStore)
        await overrides.set("ahu/sp", 18.5, user="olivia", kind=None)  # as restored at open
        writer = services.get(ModbusWriter)
        assert writer.written == 0
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                services.get(CommandRouter).follow_overrides, services.bus, overrides
            )
            with trio.fail_after(SAFETY_S):
                await writer.wait_written(1)
            nursery.cancel_scope.cancel()
        assert _float32([bank.holding[10], bank.holding[11]]) == 18.5
