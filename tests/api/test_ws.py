"""``/api/ws`` through quart-trio's in-process test client: filters, refusals, shutdown.

The same stream over a real socket (hypercorn + trio-websocket) is in
``test_ws_server.py``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio
import trio.testing
from quart.testing.connections import WebsocketDisconnectError
from quart.typing import TestClientProtocol as Client

from opencrate.app import Services
from opencrate.components.points.store import PointStore
from opencrate.model.values import PointStatus
from opencrate.runtime.events import EVENT_TYPES, DeviceDown, ValueChanged
from tests.harness import build_tree

NOW_MS = 1_700_000_000_000


def _ws_subscribers(services: Services) -> int:
    return sum(s.name.startswith("ws ") for s in services.bus.statistics().subscribers)


async def _subscribed(services: Services, count: int = 1) -> None:
    # In-process: once every task is blocked, the handler is parked in receive_batch.
    await trio.testing.wait_all_tasks_blocked()
    assert _ws_subscribers(services) == count


@pytest.mark.parametrize(
    ("query", "code", "field"),
    [
        ("types=ValueChanged,ValueChnged", "invalid_input", "types"),
        ("types=Lagged", "invalid_input", "types"),
        ("under=%20floor-1", "invalid_input", "under"),
        ("under=nowhere", "not_found", "under"),
    ],
)
async def test_bad_parameters_get_an_error_message_then_close_1008(
    services: Services, client: Client, query: str, code: str, field: str
) -> None:
    await build_tree(services)
    async with client.websocket(f"/api/ws?{query}") as ws:
        message = json.loads(await ws.receive())
        with pytest.raises(WebsocketDisconnectError) as closed:
            await ws.receive()
    assert message["type"] == "error"
    assert message["error"]["code"] == code
    assert message["error"]["detail"]["field"] == field
    if field == "types":
        assert message["error"]["detail"]["known"] == sorted(EVENT_TYPES)
        assert repr(query.split("=")[1].split(",")[-1]) in message["error"]["message"]
    assert closed.value.args == (1008,)
    assert _ws_subscribers(services) == 0


async def test_type_filter_delivers_only_chosen_types_as_event_dicts(
    services: Services, client: Client
) -> None:
    await build_tree(services)
    async with client.websocket("/api/ws?types=StatusChanged&types=DeviceDown") as ws:
        await _subscribed(services)
        services.get(PointStore).set("1001/sat", 13.0, ts_ms=NOW_MS)  # ValueChanged + StatusChanged
        services.bus.publish(DeviceDown(ts_ms=NOW_MS + 1, device_key="1001", protocol="bacnet",
                                        error="timeout"))  # fmt: skip
        first = json.loads(await ws.receive())
        second = json.loads(await ws.receive())
    assert first == {
        "type": "StatusChanged",
        "ts_ms": NOW_MS,
        "node_id": "1001/sat",
        "old_status": "unknown",
        "new_status": "ok",
    }
    assert second["type"] == "DeviceDown"
    assert second["error"] == "timeout"
    # The subscription ends with the connection.
    await trio.testing.wait_all_tasks_blocked()
    assert _ws_subscribers(services) == 0


async def test_under_follows_nodes_created_moved_and_deleted_in_the_subtree(
    services: Services, client: Client
) -> None:
    await build_tree(services)
    received: list[dict[str, Any]] = []
    async with client.websocket("/api/ws?under=floor-1") as ws:
        await _subscribed(services)
        services.get(PointStore).set("2001/zat", 21.0, ts_ms=NOW_MS)  # floor-2: not sent
        services.get(PointStore).set("1001/sat", 13.0, ts_ms=NOW_MS)  # Value + Status
        await client.post("/api/nodes", json={"id": "1001/rat", "node_type": "point",
                                              "dis": "RAT", "parent_id": "1001"})  # fmt: skip
        services.get(PointStore).set_status(
            "1001/rat", PointStatus.DOWN
        )  # created after connecting
        await client.patch("/api/nodes/2001", json={"parent_id": "floor-1"})  # moved in
        services.get(PointStore).set("2001/zat", 21.5, ts_ms=NOW_MS + 1)
        await client.delete("/api/nodes/1001?recursive=true")
        services.get(PointStore).set("1001/sat", 14.0, ts_ms=NOW_MS + 2)  # gone: not sent
        services.bus.publish(ValueChanged(ts_ms=NOW_MS + 3, node_id="floor-1", value=1))
        while not received or received[-1].get("node_id") != "floor-1":
            received.append(json.loads(await ws.receive()))
    summary = [(m["type"], m.get("node_id") or m.get("entity_id")) for m in received]
    assert summary == [
        ("ValueChanged", "1001/sat"),
        ("StatusChanged", "1001/sat"),
        ("EntityCreated", "1001/rat"),
        ("StatusChanged", "1001/rat"),
        ("EntityUpdated", "2001"),
        ("ValueChanged", "2001/zat"),
        # Deepest first, each delivered before it leaves the tracked subtree.
        ("EntityDeleted", "1001/sat"),
        ("EntityDeleted", "1001/rat"),
        ("EntityDeleted", "1001/fan"),
        ("EntityDeleted", "1001"),
        ("ValueChanged", "floor-1"),
    ]


async def test_shutdown_closes_open_streams_with_1001_and_refuses_new_ones(
    services: Services, client: Client
) -> None:
    assert services.supervisor is not None
    async with client.websocket("/api/ws") as ws:
        await _subscribed(services)
        services.supervisor.request_shutdown()
        with pytest.raises(WebsocketDisconnectError) as closed:
            await ws.receive()
    assert closed.value.args == (1001,)
    async with client.websocket("/api/ws") as late:
        with pytest.raises(WebsocketDisconnectError) as refused:
            await late.receive()
    assert refused.value.args == (1001,)
