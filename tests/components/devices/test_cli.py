"""``opencrate devices list|show`` and ``opencrate point write|relinquish|priority``, against
a real server on loopback with a bridge in memory."""

from __future__ import annotations

import json

import pytest
from asyncclick.testing import CliRunner

from opencrate.app import Services
from opencrate.cli.main import cli
from opencrate.components.devices.commands import CommandRouter
from opencrate.components.devices.registry import DeviceRegistry
from opencrate.components.nodes.store import NodeStore
from opencrate.components.points.store import PointStore
from opencrate.model.node import Node
from tests.components.devices.memory import ListSource, SlotDevice, SlotWriter, device_view


async def _run(*args: str) -> tuple[int, str]:
    result = await CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


@pytest.fixture
async def device(live_services: Services) -> SlotDevice:
    views = [
        device_view("ahu-1", details={"vendor": "ACME", "max_apdu": 1476}),
        device_view("vav-2", failed=2),
    ]
    live_services.get(DeviceRegistry).add(ListSource("memory", views))
    slots = SlotDevice(slots={"ahu/sp": {16: 18.0}})
    live_services.get(CommandRouter).add(
        SlotWriter(
            slots,
            writable={"ahu/sp"},
            points=live_services.get(PointStore),
            clock=live_services.clock,
        ),
        protocol="memory",
    )
    await live_services.get(NodeStore).create_many(
        [
            Node.from_dict({"id": "ahu", "node_type": "equip", "dis": "AHU"}),
            Node.from_dict(
                {"id": "ahu/sp", "node_type": "point", "dis": "SP", "parent_id": "ahu",
                 "kind": "number"}
            ),
        ]
    )  # fmt: skip
    return slots


async def test_devices_list_prints_a_line_per_device_of_every_bridge(
    device: SlotDevice, api_url: str
) -> None:
    code, output = await _run("devices", "list", "--url", api_url)
    assert code == 0, output
    ahu, vav = output.splitlines()
    assert ahu.split() == ["ahu-1", "memory", "online", "mem://ahu-1", "3", "points", "rtt",
                           "4.2", "ms"]  # fmt: skip
    assert vav.split()[:4] == ["vav-2", "memory", "down", "mem://vav-2"]
    assert vav.endswith("last error: no answer in 3s")
    code, output = await _run("devices", "list", "--json", "--url", api_url)
    assert [json.loads(line)["details"] for line in output.splitlines()] == [
        {"vendor": "ACME", "max_apdu": 1476},
        {"slots": 16},
    ]


async def test_devices_show_prints_the_health_then_the_details(
    device: SlotDevice, api_url: str
) -> None:
    code, output = await _run("devices", "show", "ahu-1", "--url", api_url)
    assert code == 0, output
    lines = output.splitlines()
    assert lines[0].split() == ["id", "ahu-1"]
    assert "last_success_ms        2023-11-14T22:13:20" in output
    assert lines[-3:] == ["details", "  vendor               ACME", "  max_apdu             1476"]
    code, output = await _run("devices", "show", "nope", "--url", api_url)
    assert code != 0
    assert "no device 'nope' is polled" in output


async def test_point_write_relinquish_and_priority(device: SlotDevice, api_url: str) -> None:
    code, output = await _run(
        "point", "write", "ahu/sp", "21.5", "--priority", "9", "--duration", "30m", "--url", api_url
    )
    assert code == 0, output
    assert output.strip() == ("ahu/sp: commanded 21.5 at priority 9, device reads back 21.5")
    code, output = await _run("point", "priority", "ahu/sp", "--url", api_url)
    assert code == 0, output
    nine, sixteen = output.splitlines()
    assert nine.startswith("*  9  21.5         by admin until ")
    assert sixteen == "  16  18.0         by (not written by OpenCrate)"
    code, output = await _run("point", "relinquish", "ahu/sp", "--priority", "9", "--url", api_url)
    assert code == 0, output
    assert output.strip() == (
        "ahu/sp: slot 9 relinquished; no slot of OpenCrate's commands it now; "
        "device reads back 18.0"
    )
    assert device.slots["ahu/sp"] == {16: 18.0}
    code, output = await _run("point", "write", "nope", "1", "--url", api_url)
    assert code != 0
    assert "nope" in output
