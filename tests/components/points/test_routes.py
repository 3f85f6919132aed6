"""``/api/points``, the override routes, ``/api/audit`` and ``/api/bus/stats``."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing
from quart.typing import TestClientProtocol as Client

from opencrate.api.params import encode_cursor
from opencrate.app import Services
from opencrate.components.audit.store import AuditStore
from opencrate.components.nodes.store import NodeStore
from opencrate.components.overrides.store import OverrideStore
from opencrate.components.points.store import PointStore
from opencrate.runtime.events import ValueChanged
from tests.harness import TEST_ADMIN, build_tree

NOW_MS = 1_700_000_000_000


async def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, await response.get_data(as_text=True)
    error: dict[str, Any] = (await response.get_json())["error"]
    assert error["message"]
    return error


async def test_point_value_404_for_unknown_node_and_null_before_first_reading(
    services: Services, client: Client
) -> None:
    await build_tree(services)
    await _error(await client.get("/api/points/9999/nothing"), 404)
    unread = await (await client.get("/api/points/1001/sat")).get_json()
    assert unread == {
        "node_id": "1001/sat",
        "value": None,
        "status": "unknown",
        "ts_ms": None,
        "overridden": False,
    }
    services.get(PointStore).set("1001/sat", 14.25, ts_ms=NOW_MS + 5)
    read = await (await client.get("/api/points/1001/sat")).get_json()
    assert (read["value"], read["status"], read["ts_ms"]) == (14.25, "ok", NOW_MS + 5)


async def test_snapshot_pages_by_node_id_and_filters_by_subtree(
    services: Services, client: Client
) -> None:
    await build_tree(services)
    for node_id, value in (("2001/zat", 21.0), ("1001/sat", 13.0), ("1001/fan", True)):
        services.get(PointStore).set(node_id, value)
    first = await (await client.get("/api/points?limit=2")).get_json()
    assert [p["node_id"] for p in first["items"]] == ["1001/fan", "1001/sat"]
    rest = await (await client.get(f"/api/points?limit=2&cursor={first['next_cursor']}")).get_json()
    assert [p["node_id"] for p in rest["items"]] == ["2001/zat"]
    assert rest["next_cursor"] is None
    under = await (await client.get("/api/points?under=floor-2")).get_json()
    assert [p["value"] for p in under["items"]] == [21.0]
    await _error(await client.get("/api/points?under=nowhere"), 404)
    await _error(await client.get("/api/points?limit=-1"), 400)
    await _error(await client.get("/api/points?cursor=%%%"), 400)


async def test_override_set_shows_on_the_point_lists_and_releases_with_audit(
    services: Services, client: Client, autojump_clock: trio.testing.MockClock
) -> None:
    # autojump_clock: virtual time jumps whenever every task waits (a store's
    # worker thread counts), so "2h" is checked against the clock on both sides.
    await build_tree(services)
    services.get(PointStore).set("1001/sat", 13.0)
    before_ms = services.clock.now_ms()
    response = await client.put(
        "/api/points/1001/sat/override",
        json={"value": "18.5", "reason": "commissioning", "expires": "2h"},
    )
    assert response.status_code == 200, await response.get_data(as_text=True)
    override = await response.get_json()
    # Coerced to the point's kind (number), expiry two hours from the clock's now.
    assert override["value"] == 18.5
    assert override["user"] == TEST_ADMIN
    assert before_ms + 7_200_000 <= override["expires_ms"] <= services.clock.now_ms() + 7_200_000
    assert override["previous"]["value"] == 13.0

    services.get(PointStore).set(
        "1001/sat", 13.4
    )  # the field keeps reporting; the override stays on top
    point = await (await client.get("/api/points/1001/sat")).get_json()
    assert (point["value"], point["status"], point["overridden"]) == (18.5, "overridden", True)
    active = await (await client.get("/api/overrides")).get_json()
    assert [o["node_id"] for o in active["items"]] == ["1001/sat"]

    released = await client.delete("/api/points/1001/sat/override")
    assert released.status_code == 200
    point = await (await client.get("/api/points/1001/sat")).get_json()
    assert (point["value"], point["status"]) == (13.4, "ok")
    await _error(await client.delete("/api/points/1001/sat/override"), 404)
    history = await (await client.get("/api/overrides/history?node=1001/sat")).get_json()
    assert [(h["value"], h["end_reason"]) for h in history["items"]] == [(18.5, "released")]
    entries = [(e.action, e.target) for e in await services.get(AuditStore).tail()]
    assert entries == [("override.release", "1001/sat"), ("override.set", "1001/sat")]


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/api/points/1001/sat/override", {"reason": "no value"}, 400, "value"),
        ("/api/points/1001/sat/override", {"value": 1, "user": "mallory"}, 400, "user"),
        ("/api/points/1001/sat/override", {"value": "warm"}, 400, None),
        ("/api/points/1001/sat/override", {"value": 19, "reason": 5}, 400, "reason"),
        ("/api/points/1001/sat/override", {"value": 19, "expires": "soon"}, 400, "expires"),
        ("/api/points/1001/sat/override", {"value": 19, "expires": 1000}, 400, "expires_ms"),
        ("/api/points/1001/sat/override", {"value": 19, "expires": True}, 400, "expires"),
        ("/api/points/1001/fan/override", {"value": "maybe"}, 400, None),
        ("/api/points/1001/override", {"value": 1}, 400, None),
        ("/api/points/9999/x/override", {"value": 1}, 404, None),
    ],
)
async def test_bad_override_is_refused_and_the_current_one_stays(
    services: Services,
    client: Client,
    path: str,
    body: dict[str, Any],
    status: int,
    field: str | None,
) -> None:
    await build_tree(services)
    await services.get(OverrideStore).set("1001/sat", 16.0, user="alice", reason="test")
    await services.get(OverrideStore).set("1001/fan", True, user="alice")
    before = services.get(OverrideStore).active()
    error = await _error(await client.put(path, json=body), status)
    if field is not None:
        assert error["detail"]["field"] == field
    assert services.get(OverrideStore).active() == before
    assert services.get(PointStore).get("1001/sat").value == 16.0  # type: ignore[union-attr]
    assert await services.get(AuditStore).count() == 0


async def test_override_refuses_malformed_json(services: Services, client: Client) -> None:
    await build_tree(services)
    response = await client.put(
        "/api/points/1001/sat/override",
        data=b'{"value": 1',
        headers={"Content-Type": "application/json"},
    )
    await _error(response, 400)
    assert services.get(OverrideStore).active() == []


async def test_audit_log_pages_newest_first_and_filters(services: Services, client: Client) -> None:
    for i in range(5):
        await services.get(AuditStore).record(
            user="alice" if i % 2 else "bob", action="node.update", target=f"n{i}"
        )

    async def page(cursor: str | None = None) -> dict[str, Any]:
        query = "/api/audit?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body: dict[str, Any] = await (await client.get(query)).get_json()
        return body

    first = await page()
    assert [e["target"] for e in first["items"]] == ["n4", "n3"]
    second = await page(first["next_cursor"])
    third = await page(second["next_cursor"])
    assert [e["target"] for e in second["items"] + third["items"]] == ["n2", "n1", "n0"]
    assert third["next_cursor"] is None
    alice = await (await client.get("/api/audit?user=alice")).get_json()
    assert [e["target"] for e in alice["items"]] == ["n3", "n1"]
    assert set(alice["items"][0]) == {"id", "ts_ms", "user", "action", "target", "detail"}
    for query, field in (
        ("limit=0", "limit"),
        ("limit=x", "limit"),
        ("cursor=abc", "cursor"),
        # A well-formed cursor whose id does not fit SQLite's INTEGER (was a 500).
        (f"cursor={encode_cursor('audit', 2**70)}", "cursor"),
        ("user=", "user"),
    ):
        error = await _error(await client.get(f"/api/audit?{query}"), 400)
        assert error["detail"]["field"] == field


async def test_bus_stats_report_each_subscribers_drops_and_every_store(
    services: Services, client: Client
) -> None:
    with services.bus.subscribe(ValueChanged, name="slow-one", capacity=2) as sub:
        for i in range(5):
            services.bus.publish(ValueChanged(ts_ms=NOW_MS, node_id="1001/sat", value=float(i)))
        body = await (await client.get("/api/bus/stats")).get_json()
        await trio.lowlevel.checkpoint()
        assert len(await sub.receive_batch()) == 2
    (slow,) = [s for s in body["bus"]["subscribers"] if s["name"] == "slow-one"]
    assert slow == {
        "name": "slow-one",
        "keys": ["ValueChanged"],
        "capacity": 2,
        "depth": 2,
        "delivered": 2,
        "dropped": 3,
        "lag_reports": 0,
    }
    assert body["bus"]["published"] == 5
    assert set(body["stores"]) == {s.name for s in services.stores()}
    assert body["stores"]["audit"]["closed"] is False
    assert "value_events" in body["points"]


@pytest.mark.parametrize(
    ("method", "path", "status", "field"),
    [
        ("GET", "/api/overrides?limit=0", 400, "limit"),
        ("GET", "/api/overrides?cursor=nope", 400, "cursor"),
        ("GET", "/api/overrides/history?limit=abc", 400, "limit"),
        ("GET", "/api/overrides/history?cursor=nope", 400, "cursor"),
        ("GET", "/api/overrides/history?node=%20x", 400, "node"),
        ("GET", "/api/points/%20x", 400, "node id"),
        ("GET", "/api/points?under=%20x", 400, "under"),
        ("DELETE", "/api/points/%20x/override", 400, "node id"),
        ("DELETE", "/api/points/1001/sat/override", 404, None),
        ("PUT", "/api/points/%20x/override", 400, "node id"),
    ],
)
async def test_every_point_and_override_route_refuses_bad_input(
    services: Services, client: Client, method: str, path: str, status: int, field: str | None
) -> None:
    await build_tree(services)
    response = await client.open(path, method=method, json={"value": 1})
    error = await _error(response, status)
    if field is not None:
        assert error["detail"]["field"] == field
    assert services.get(OverrideStore).active() == []
    assert await services.get(AuditStore).count() == 0


async def test_patch_refuses_malformed_json_and_changes_nothing(
    services: Services, client: Client
) -> None:
    await build_tree(services)
    before = services.get(NodeStore).get("1001")
    response = await client.patch(
        "/api/nodes/1001", data=b'{"dis": ', headers={"Content-Type": "application/json"}
    )
    await _error(response, 400)
    assert services.get(NodeStore).get("1001") == before
