"""The discovery routes over a running bridge and a bacpypes3 device on loopback.

Every answer is checked against the OpenAPI document (the ``app`` fixture),
and the roles: scanning takes an operator, accepting and ignoring an admin.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import trio
from bacpypes3.local.analog import AnalogInputObject, AnalogOutputObject
from quart.typing import TestClientProtocol as Client

from opencrate.app import Services
from opencrate.clock import TrioClock
from opencrate.components.bacnet.bridge import BacnetBridge
from opencrate.components.users.roles import Role
from tests.harness import running_services

from .conftest import bacpypes_device, free_udp_port

ClientAs = Callable[[Role | None], Client]
SAFETY_S = 20


def _objects() -> list[Any]:
    return [
        AnalogInputObject(
            objectIdentifier=("analog-input", 1), objectName="Supply Air Temp",
            presentValue=13.5, statusFlags=[0, 0, 0, 0], eventState="normal",
            outOfService=False, units="degrees-celsius", covIncrement=0.1,
        ),
        AnalogOutputObject(
            objectIdentifier=("analog-output", 1), objectName="Cooling Valve Cmd",
            presentValue=0.0, statusFlags=[0, 0, 0, 0], eventState="normal",
            outOfService=False, units="percent", relinquishDefault=0.0, covIncrement=0.1,
        ),
    ]  # fmt: skip


@pytest.fixture
async def device_port() -> AsyncIterator[int]:
    port = free_udp_port()
    async with bacpypes_device(1001, port, _objects()):
        yield port


@pytest.fixture
async def services(tmp_path: Path, clock: TrioClock, device_port: int) -> AsyncIterator[Services]:
    section = {
        "address": f"127.0.0.1:{free_udp_port()}", "timeout": "500ms", "scan_timeout": "300ms",
        "poll_interval": "200ms", "scan_on_start": False,
        "device": [{"instance": 1001, "address": f"127.0.0.1:{device_port}"}],
    }  # fmt: skip
    running = running_services(tmp_path / "data", clock, sections={"bacnet": section})
    async with running as svc, trio.open_nursery() as nursery:
        await nursery.start(svc.get(BacnetBridge).run)
        yield svc
        nursery.cancel_scope.cancel()


async def test_scan_list_show_accept_and_the_device_is_polled(
    client_as: ClientAs, services: Services
) -> None:
    operator, admin = client_as(Role.OPERATOR), client_as(Role.ADMIN)
    with trio.fail_after(SAFETY_S):
        response = await operator.post("/api/discovery/scan", json={})
        assert response.status_code == 200, await response.get_data()
        scan = await response.get_json()
        assert (scan["mode"], scan["devices"], scan["new_devices"]) == (
            "global", ["1001"], ["1001"]
        )  # fmt: skip
        assert scan["point_count"] == 2
        listed = await (await operator.get("/api/discovery/devices")).get_json()
        assert [d["state"] for d in listed["items"]] == ["discovered"]
        detail = await (await operator.get("/api/discovery/devices/1001")).get_json()
        assert {p["object_name"] for p in detail["points"]} == {
            "Supply Air Temp", "Cooling Valve Cmd"
        }  # fmt: skip
        points = await (await operator.get("/api/discovery/devices/1001/points")).get_json()
        assert len(points["items"]) == 2
        assert (
            await operator.post("/api/discovery/devices/1001/accept", json={})
        ).status_code == 403
        response = await admin.post("/api/discovery/devices/1001/accept", json={})
        assert response.status_code == 200, await response.get_data()
        accepted = await response.get_json()
        assert "1001/analog-output-1" in accepted["created_node_ids"]
        assert accepted["polled_points"] == 2
        poller = services.get(BacnetBridge).poller("1001")
        await poller.wait_notifications(2)
        point = await (await operator.get("/api/points/1001/analog-input-1")).get_json()
        assert point["value"] == 13.5
        response = await operator.post(
            "/api/points/1001/analog-output-1/write", json={"value": 40, "priority": 9}
        )
        assert response.status_code == 200, await response.get_data()
        assert (await response.get_json())["read_back"] == 40.0
        view = await (await operator.get("/api/points/1001/analog-output-1/priority")).get_json()
        assert view["active_priority"] == 9
        devices = await (await operator.get("/api/devices")).get_json()
        assert [d["id"] for d in devices["items"]] == ["1001"]


async def test_ranged_and_directed_scans_and_bad_bodies(
    client_as: ClientAs, device_port: int
) -> None:
    operator = client_as(Role.OPERATOR)
    with trio.fail_after(SAFETY_S):
        directed = await operator.post(
            "/api/discovery/scan", json={"address": f"127.0.0.1:{device_port}"}
        )
        assert (await directed.get_json())["devices"] == ["1001"]
        ranged = await operator.post("/api/discovery/scan", json={"low": 2000, "high": 2999})
        assert (await ranged.get_json())["devices"] == []
    for bad, word in (({"low": 5}, "low"), ({"low": 9, "high": 3}, "low"),
                      ({"timeout": "forever"}, "timeout"), ({"timeout": 120}, "timeout"),
                      ({"low": -1, "high": 3}, "low"), ({"mode": "x"}, "mode")):  # fmt: skip
        response = await operator.post("/api/discovery/scan", json=bad)
        assert response.status_code == 400, bad
        assert word in (await response.get_data(as_text=True))
    assert (await client_as(Role.VIEWER).post("/api/discovery/scan", json={})).status_code == 403


async def test_unknown_devices_are_404_and_ignore_hides_a_device(client_as: ClientAs) -> None:
    admin = client_as(Role.ADMIN)
    assert (await admin.get("/api/discovery/devices/999")).status_code == 404
    assert (await admin.post("/api/discovery/devices/999/accept", json={})).status_code == 404
    assert (await admin.post("/api/discovery/devices/999/ignore")).status_code == 404
    with trio.fail_after(SAFETY_S):
        await admin.post("/api/discovery/scan", json={})
    ignored = await admin.post("/api/discovery/devices/1001/ignore")
    assert (await ignored.get_json())["state"] == "ignored"
    listed = await (await admin.get("/api/discovery/devices")).get_json()
    assert listed["items"] == []
    everything = await admin.get("/api/discovery/devices", query_string={"include_ignored": "true"})
    assert [d["device_key"] for d in (await everything.get_json())["items"]] == ["1001"]
