"""The devices routes on a bridge in memory: every answer checked against the OpenAPI document.

(The ``app`` fixture fails a test whose answers do not match their declared models.)
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from quart.typing import TestClientProtocol as Client

from opencrate.app import Services
from opencrate.components.audit.store import AuditStore
from opencrate.components.devices.commands import CommandRouter
from opencrate.components.devices.registry import DeviceRegistry
from opencrate.components.nodes.store import NodeStore
from opencrate.components.points.store import PointStore
from opencrate.components.users.roles import Role
from opencrate.model.node import Node
from tests.components.devices.memory import ListSource, SlotDevice, SlotWriter, device_view

ClientAs = Callable[[Role | None], Client]


@pytest.fixture
async def device(services: Services) -> SlotDevice:
    """A memory bridge's devices and writer registered, and its points in the model."""
    services.get(DeviceRegistry).add(
        ListSource(
            "memory",
            [device_view("vav-2", failed=1), device_view("ahu-1", details={"vendor": "ACME"})],
        )
    )
    slots = SlotDevice(slots={"ahu/sp": {3: 15.0}})
    writer = SlotWriter(
        slots,
        writable={"ahu/sp"},
        read_only=frozenset({"ahu/temp"}),
        points=services.get(PointStore),
        clock=services.clock,
    )
    services.get(CommandRouter).add(writer, protocol="memory")
    await services.get(NodeStore).create_many(
        [
            Node.from_dict({"id": "site", "node_type": "site", "dis": "Site"}),
            Node.from_dict({"id": "ahu", "node_type": "equip", "dis": "AHU", "parent_id": "site"}),
            Node.from_dict(
                {"id": "ahu/sp", "node_type": "point", "dis": "SP", "parent_id": "ahu",
                 "kind": "number", "properties": {"minVal": 5, "maxVal": 35}}
            ),
            Node.from_dict(
                {"id": "ahu/temp", "node_type": "point", "dis": "T", "parent_id": "ahu",
                 "kind": "number"}
            ),
            Node.from_dict(
                {"id": "ahu/free", "node_type": "point", "dis": "F", "parent_id": "ahu",
                 "kind": "number"}
            ),
        ]
    )  # fmt: skip
    return slots


async def test_the_device_list_is_every_bridges_generic_views(
    client_as: ClientAs, device: SlotDevice
) -> None:
    viewer = client_as(Role.VIEWER)
    listed = await viewer.get("/api/devices")
    assert listed.status_code == 200
    items = (await listed.get_json())["items"]
    assert [(d["id"], d["protocol"], d["state"]) for d in items] == [
        ("ahu-1", "memory", "online"),
        ("vav-2", "memory", "retrying"),
    ]
    ahu = items[0]
    assert set(ahu) == {
        "id", "protocol", "address", "points", "state", "successes", "failures",
        "consecutive_failures", "last_error", "last_rtt_ms", "last_success_ms",
        "last_failure_ms", "next_retry_s", "details",
    }  # fmt: skip
    assert (ahu["address"], ahu["last_rtt_ms"], ahu["details"]) == (
        "mem://ahu-1",
        4.2,
        {"vendor": "ACME"},
    )
    one = await viewer.get("/api/devices/vav-2")
    assert (await one.get_json())["last_error"] == "no answer in 3s"
    missing = await viewer.get("/api/devices/nope")
    assert missing.status_code == 404
    assert "'nope'" in (await missing.get_json())["error"]["message"]
    assert (await client_as(None).get("/api/devices")).status_code == 401


async def test_a_write_goes_to_the_owning_bridge_and_is_audited(
    client_as: ClientAs, services: Services, device: SlotDevice
) -> None:
    operator = client_as(Role.OPERATOR)
    answer = await operator.post(
        "/api/points/ahu/sp/write", json={"value": "22.5", "priority": 9, "duration": "1h"}
    )
    assert answer.status_code == 200, await answer.get_data()
    body = await answer.get_json()
    # The device's own slot 3 (another client's) still wins: that is what it reads back.
    assert body == {
        "point_id": "ahu/sp",
        "priority": 9,
        "active_priority": 9,
        "commanded": 22.5,
        "read_back": 15.0,
    }
    assert device.slots["ahu/sp"] == {3: 15.0, 9: 22.5}
    (entry,) = await services.get(AuditStore).tail(1, action="point.write")
    assert entry.target == "ahu/sp"
    assert entry.detail["duration_s"] == 3600.0
    released = await operator.post("/api/points/ahu/sp/write", json={"value": None, "priority": 9})
    assert (await released.get_json())["active_priority"] is None
    (entry,) = await services.get(AuditStore).tail(1, action="point.relinquish")
    assert entry.target == "ahu/sp"


async def test_the_priority_view_shows_the_devices_slots(
    client_as: ClientAs, device: SlotDevice
) -> None:
    operator = client_as(Role.OPERATOR)
    await operator.post("/api/points/ahu/sp/write", json={"value": 21, "priority": 8})
    answer = await client_as(Role.VIEWER).get("/api/points/ahu/sp/priority")
    assert answer.status_code == 200
    view = await answer.get_json()
    assert (view["point_id"], view["active_priority"], view["value"]) == ("ahu/sp", 3, 15.0)
    assert len(view["slots"]) == 16
    assert view["slots"][2] == {
        "priority": 3,
        "value": 15.0,
        "by": None,
        "at_ms": None,
        "until_ms": None,
    }
    assert view["slots"][7]["by"] == "operator"
    assert (await client_as(Role.VIEWER).get("/api/points/nope/priority")).status_code == 404
    read_only = await client_as(Role.VIEWER).get("/api/points/ahu/temp/priority")
    assert read_only.status_code == 400


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("ahu/sp", {"value": 80}, 400, "maxVal"),
        ("ahu/sp", {"value": 20, "duration": "soon"}, 400, "duration: not a duration: 'soon'"),
        ("ahu/sp", {"value": 20, "duration": 0}, 400, "duration must be above zero, got 0"),
        ("ahu/sp", {"value": 20, "priority": 0}, 400, "priority"),
        ("ahu/sp", {"value": 20, "vlaue": 1}, 400, "vlaue"),
        ("ahu/temp", {"value": 20}, 400, "ahu/temp is an input"),
        ("ahu/free", {"value": 20}, 404, "point 'ahu/free' is not a point any bridge writes"),
        ("nope", {"value": 20}, 404, "nope"),
    ],
)
async def test_bad_writes_are_refused_naming_what_is_wrong(
    client_as: ClientAs,
    services: Services,
    device: SlotDevice,
    path: str,
    body: dict[str, object],
    status: int,
    message: str,
) -> None:
    answer = await client_as(Role.OPERATOR).post(f"/api/points/{path}/write", json=body)
    assert answer.status_code == status
    assert message in (await answer.get_json())["error"]["message"]
    assert device.slots["ahu/sp"] == {3: 15.0}
    assert await services.get(AuditStore).tail(5, action="point.write") == []


async def test_writing_needs_an_operator(client_as: ClientAs, device: SlotDevice) -> None:
    refused = await client_as(Role.VIEWER).post("/api/points/ahu/sp/write", json={"value": 20})
    assert refused.status_code == 403
    assert device.writes == []
