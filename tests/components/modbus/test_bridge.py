"""The component: [[modbus.device]] settings, the model's Modbus points polled, GET /api/devices."""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Any

import pytest
import trio

from opencrate.api.app import create_app
from opencrate.app import Services
from opencrate.clock import TrioClock
from opencrate.components.modbus.bridge import ModbusBridge
from opencrate.components.modbus.devices import ModbusDevice
from opencrate.components.modbus.poller import DevicePoller
from opencrate.components.modbus.server import RegisterBank, serve_modbus
from opencrate.components.nodes.store import NodeStore
from opencrate.components.points.store import PointStore
from opencrate.components.users.roles import Role
from opencrate.config import Settings
from opencrate.errors import ConfigError, NotFound
from opencrate.model.node import Node
from opencrate.model.values import PointStatus
from opencrate.runtime.bus import EventBus
from tests.harness import client_with_token, role_tokens, running_services


def _bank() -> RegisterBank:
    bank = RegisterBank()
    high, low = struct.unpack(">HH", struct.pack(">f", 42.5))
    bank.set_words("holding", 100, [high, low])
    bank.set_words("input", 0, [2301])
    return bank


def _nodes() -> list[Node]:
    meter = {"protocol": "modbus", "config": {"device_id": "meter-1", "data_type": "float32"}}
    specs: list[dict[str, Any]] = [
        {"id": "site", "node_type": "site", "dis": "Site"},
        {"id": "meter-1", "node_type": "equip", "dis": "Meter", "parent_id": "site"},
        {"id": "meter-1/power", "node_type": "point", "dis": "Power", "parent_id": "meter-1",
         "protocol_binding": {**meter, "config": {**meter["config"], "register_type": "holding",
                                                  "address": 100}}},
        {"id": "meter-1/volts", "node_type": "point", "dis": "Volts", "parent_id": "meter-1",
         "protocol_binding": {"protocol": "modbus", "config": {
             "device_id": "meter-1", "register_type": "input", "address": 0,
             "data_type": "uint16", "scale": 0.1}}},
        {"id": "meter-1/bad", "node_type": "point", "dis": "Bad", "parent_id": "meter-1",
         "protocol_binding": {"protocol": "modbus", "config": {
             "device_id": "meter-1", "register_type": "holding", "address": 7,
             "data_type": "float128"}}},
        {"id": "other/p", "node_type": "point", "dis": "Elsewhere", "parent_id": "site",
         "protocol_binding": {"protocol": "modbus", "config": {
             "device_id": "not-configured", "register_type": "holding", "address": 0,
             "data_type": "uint16"}}},
    ]  # fmt: skip
    return [Node.from_dict(spec) for spec in specs]


async def test_the_models_points_are_polled_and_the_devices_api_reports_them(
    tmp_path: Path, clock: TrioClock
) -> None:
    async with trio.open_nursery() as nursery:
        port: int = await nursery.start(serve_modbus, {1: _bank()}, "127.0.0.1", 0)
        device = {"id": "meter-1", "host": "127.0.0.1", "port": port, "poll_interval": "20ms"}
        async with running_services(
            tmp_path / "data", clock, sections={"modbus": {"device": [device]}}
        ) as services:
            await services.get(NodeStore).create_many(_nodes())
            bridge = services.get(ModbusBridge)
            await nursery.start(bridge.run)
            with trio.fail_after(10):
                await bridge.poller("meter-1").wait_cycles(2)
            points = services.get(PointStore)
            assert points.get("meter-1/power").value == 42.5  # type: ignore[union-attr]
            assert points.get("meter-1/volts").value == pytest.approx(230.1)  # type: ignore[union-attr]
            assert points.get("meter-1/bad").status is PointStatus.FAULT  # type: ignore[union-attr]
            assert points.get("other/p") is None  # its device is not configured
            assert sorted(bridge.poller("meter-1").points) == ["meter-1/power", "meter-1/volts"]

            client = client_with_token(
                create_app(services), (await role_tokens(services))[Role.VIEWER]
            )
            listed = await client.get("/api/devices")
            assert listed.status_code == 200
            (view,) = (await listed.get_json())["items"]
            assert (view["id"], view["protocol"], view["state"], view["points"]) == (
                "meter-1",
                "modbus",
                "online",
                2,
            )
            assert view["address"] == f"127.0.0.1:{port} unit 1"
            assert view["last_rtt_ms"] is not None
            details = view["details"]
            assert (details["host"], details["port"], details["unit_id"]) == ("127.0.0.1", port, 1)
            assert details["requests"] >= 4
            assert details["connected"] is True
            one = await client.get("/api/devices/meter-1")
            assert (await one.get_json())["id"] == "meter-1"
            missing = await client.get("/api/devices/nope")
            assert missing.status_code == 404
            assert "nope" in (await missing.get_json())["error"]["message"]
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"devices": []}, "unknown key 'devices' in [modbus]"),
        ({"device": [{"id": "m", "host": "h", "port": 70000}]}, "port"),
        ({"device": [{"id": "m", "host": "h"}, {"id": "m", "host": "h2"}]}, "'m'"),
    ],
)
async def test_a_bad_modbus_section_is_refused_naming_the_key(
    tmp_path: Path, clock: TrioClock, section: dict[str, Any], message: str
) -> None:
    settings = Settings(data_dir=tmp_path, sections={"modbus": section})
    with pytest.raises(ConfigError, match=re.escape(message)):
        Services.create(settings, clock=clock)


async def test_an_equips_properties_configure_its_device_and_settings_win(
    tmp_path: Path, clock: TrioClock
) -> None:
    async with trio.open_nursery() as nursery:
        port: int = await nursery.start(serve_modbus, {1: _bank()}, "127.0.0.1", 0)
        props = {"host": "127.0.0.1", "port": port, "unit_id": 1, "poll_interval": "20ms"}
        binding = {
            "protocol": "modbus",
            "config": {
                "device_id": "meter-2",
                "register_type": "input",
                "address": 0,
                "data_type": "uint16",
            },
        }
        specs: list[dict[str, Any]] = [
            {"id": "site", "node_type": "site", "dis": "Site"},
            {"id": "meter-2", "node_type": "equip", "dis": "Meter 2", "parent_id": "site",
             "properties": props},
            {"id": "meter-2/volts", "node_type": "point", "dis": "Volts", "parent_id": "meter-2",
             "protocol_binding": binding},
            {"id": "bad-equip", "node_type": "equip", "dis": "Bad", "parent_id": "site",
             "properties": {"host": "127.0.0.1", "port": 70000}},
            {"id": "bad-equip/p", "node_type": "point", "dis": "P", "parent_id": "bad-equip",
             "protocol_binding": {**binding, "config": {**binding["config"], "device_id": "m3"}}},
        ]  # fmt: skip
        async with running_services(tmp_path / "data", clock) as services:
            await services.get(NodeStore).create_many([Node.from_dict(s) for s in specs])
            bridge = services.get(ModbusBridge)
            await nursery.start(bridge.run)
            with trio.fail_after(10):
                await bridge.poller("meter-2").wait_cycles(1)
            assert services.get(PointStore).get("meter-2/volts").value == 2301  # type: ignore[union-attr]
            assert bridge.poller("meter-2").device.port == port
            assert "m3" not in bridge.pollers  # port 70000: logged, not polled
        nursery.cancel_scope.cancel()


async def test_a_devices_view_names_its_address_with_an_ipv6_host_in_brackets(
    tmp_path: Path, clock: TrioClock
) -> None:
    bus = EventBus()
    points = PointStore(bus, clock)
    device = ModbusDevice(id="plc-6", host="fd00::5", port=1502, unit_id=3)
    poller = DevicePoller(device, [], store=points, bus=bus, clock=clock)
    nodes = NodeStore(tmp_path / "nodes.db", bus=bus, clock=clock)  # not opened: not read
    bridge = ModbusBridge({}, nodes=nodes, points=points, bus=bus, clock=clock)
    bridge.pollers["plc-6"] = poller
    (view,) = bridge.device_views()
    assert (view.id, view.protocol, view.address, view.state) == (
        "plc-6",
        "modbus",
        "[fd00::5]:1502 unit 3",
        "unknown",
    )
    assert view.details == {
        "host": "fd00::5", "port": 1502, "unit_id": 3, "requests": 0, "timeouts": 0,
        "reconnects": 0, "connected": False,
    }  # fmt: skip
    assert bridge.device_view("plc-6") == view
    with pytest.raises(NotFound, match="no Modbus device 'nope' is polled"):
        bridge.device_view("nope")
