"""``/api/nodes``: listing, tree, path ids with ``/``, writes with audit, and refusals."""

from __future__ import annotations

from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from opencrate.app import Services
from opencrate.components.audit.store import AuditStore
from opencrate.components.nodes.store import NodeStore
from opencrate.components.points.store import PointStore
from tests.harness import TEST_AUDIT_NAME, build_tree


async def _json(response: Any) -> Any:
    return await response.get_json()


async def _audit_actions(services: Services) -> list[tuple[str, str, str]]:
    return [
        (e.user, e.action, e.target) for e in reversed(await services.get(AuditStore).tail(100))
    ]


async def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, await response.get_data(as_text=True)
    body = await response.get_json()
    assert set(body) == {"error"}
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error


async def test_flat_list_is_sorted_by_id_and_pages_with_cursor(
    services: Services, client: Client
) -> None:
    await build_tree(services)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = f"/api/nodes?limit=3{'&cursor=' + cursor if cursor else ''}"
        body = await _json(await client.get(query))
        seen += [node["id"] for node in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == sorted(
        ["hq", "floor-1", "floor-2", "1001", "1001/sat", "1001/fan", "2001", "2001/zat"]
    )


async def test_filters_by_type_all_tags_and_subtree(services: Services, client: Client) -> None:
    await build_tree(services)

    async def ids(query: str) -> list[str]:
        return [n["id"] for n in (await _json(await client.get(f"/api/nodes?{query}")))["items"]]

    assert await ids("type=point") == ["1001/fan", "1001/sat", "2001/zat"]
    assert await ids("tag=air&tag=temp") == ["1001/sat", "2001/zat"]
    assert await ids("tag=air&tag=temp&tag=discharge") == ["1001/sat"]
    assert await ids("type=point&under=floor-2") == ["2001/zat"]
    assert await ids("under=1001") == ["1001", "1001/fan", "1001/sat"]
    assert await ids("tag=nothing-has-this") == []


async def test_tree_view_nests_children_from_roots_or_from_under(
    services: Services, client: Client
) -> None:
    await build_tree(services)
    body = await _json(await client.get("/api/nodes?view=tree"))
    (hq,) = body["items"]
    assert hq["id"] == "hq"
    assert [c["id"] for c in hq["children"]] == ["floor-1", "floor-2"]
    ahu = hq["children"][0]["children"][0]
    assert [c["id"] for c in ahu["children"]] == ["1001/fan", "1001/sat"]
    assert ahu["children"][0]["children"] == []

    part = await _json(await client.get("/api/nodes?view=tree&under=floor-2"))
    assert [n["id"] for n in part["items"]] == ["floor-2"]
    assert part["items"][0]["children"][0]["children"][0]["id"] == "2001/zat"


async def test_ids_with_slashes_route_to_the_node_and_subtree_suffix_to_the_subtree(
    services: Services, client: Client
) -> None:
    await build_tree(services)
    node = await _json(await client.get("/api/nodes/1001/sat"))
    assert node["id"] == "1001/sat"
    assert node["unit"] == "°C"

    subtree = await _json(await client.get("/api/nodes/1001/subtree"))
    assert [n["id"] for n in subtree["items"]] == ["1001", "1001/fan", "1001/sat"]
    leaf = await _json(await client.get("/api/nodes/1001/sat/subtree"))
    assert [n["id"] for n in leaf["items"]] == ["1001/sat"]
    nested = await _json(await client.get("/api/nodes/floor-1/subtree?view=tree"))
    assert nested["items"][0]["children"][0]["id"] == "1001"


async def test_point_nodes_carry_their_live_value_and_status(
    services: Services, client: Client
) -> None:
    await build_tree(services)
    services.get(PointStore).set("1001/sat", 13.5, ts_ms=1_700_000_000_500)
    node = await _json(await client.get("/api/nodes/1001/sat"))
    assert (node["value"], node["status"], node["ts_ms"]) == (13.5, "ok", 1_700_000_000_500)
    equip = await _json(await client.get("/api/nodes/1001"))
    assert (equip["value"], equip["status"]) == (None, "unknown")


async def test_create_returns_201_with_location_and_is_audited(
    services: Services, client: Client
) -> None:
    await build_tree(services)
    response = await client.post(
        "/api/nodes",
        json={
            "id": "1001/rat",
            "node_type": "point",
            "dis": "Return Air Temp",
            "parent_id": "1001",
            "tags": ["air", "temp", "return", "sensor", "point"],
            "kind": "number",
        },
    )
    assert response.status_code == 201
    assert response.headers["Location"] == "/api/nodes/1001/rat"
    assert (await response.get_json())["tags"] == ["air", "point", "return", "sensor", "temp"]
    assert services.get(NodeStore).get("1001/rat").parent_id == "1001"
    assert await _audit_actions(services) == [(TEST_AUDIT_NAME, "node.create", "1001/rat")]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b"{not json", 400, None),
        (b"[1, 2]", 400, None),
        (b'{"id": "x", "node_type": "site"}', 400, "dis"),
        (b'{"id": "x", "node_type": "site", "dis": "X", "colour": "red"}', 400, "colour"),
        (b'{"id": "x", "node_type": "site", "dis": "X", "value": 3}', 400, "value"),
        (b'{"id": "x", "node_type": "building", "dis": "X"}', 400, "node_type"),
        (b'{"id": "a//b", "node_type": "site", "dis": "X"}', 400, "id"),
        (b'{"id": "x", "node_type": "site", "dis": "X", "tags": "air"}', 400, "tags"),
        # schemathesis: a dict among the tags was a TypeError in frozenset() (a 500).
        (b'{"id": "x", "node_type": "site", "dis": "X", "tags": [{"a": 1}]}', 400, "tags"),
        (b'{"id": "x", "node_type": "site", "dis": "X", "parent_id": "nowhere"}', 404, None),
        (b'{"id": "1001", "node_type": "equip", "dis": "again"}', 409, None),
        # Lone surrogate escapes parse as str but cannot be stored (were 500s).
        (b'{"id": "x\\ud800", "node_type": "site", "dis": "X"}', 400, None),
        (b'{"id": "x", "node_type": "site", "dis": "X\\udfff"}', 400, None),
    ],
)
async def test_create_refuses_bad_input_and_stores_nothing(
    services: Services,
    client: Client,
    body: bytes,
    status: int,
    field: str | None,
) -> None:
    await build_tree(services)
    before = [n.to_dict() for n in services.get(NodeStore).all()]
    response = await client.post(
        "/api/nodes", data=body, headers={"Content-Type": "application/json"}
    )
    error = await _error(response, status)
    if field is not None:
        assert error["detail"]["field"] == field
    assert [n.to_dict() for n in services.get(NodeStore).all()] == before
    assert await services.get(AuditStore).count() == 0


async def test_batch_create_is_all_or_nothing_and_names_the_bad_node(
    services: Services, client: Client
) -> None:
    await build_tree(services)
    good = {"id": "3001", "node_type": "equip", "dis": "VAV-2", "parent_id": "floor-2"}
    child = {"id": "3001/zat", "node_type": "point", "dis": "Zone Temp", "parent_id": "3001"}
    bad = {"id": "3002", "node_type": "equip", "dis": ""}
    error = await _error(await client.post("/api/nodes/batch", json={"nodes": [good, bad]}), 400)
    assert error["message"].startswith("nodes[1]: ")
    assert error["detail"]["index"] == 1
    dup = await client.post("/api/nodes/batch", json={"nodes": [good, {**good, "id": "1001"}]})
    await _error(dup, 409)
    assert services.get(NodeStore).get_or_none("3001") is None
    await _error(await client.post("/api/nodes/batch", json={"nodes": []}), 400)
    await _error(await client.post("/api/nodes/batch", json={"nodes": [good], "x": 1}), 400)
    assert await services.get(AuditStore).count() == 0

    # Children may come before their parents.
    response = await client.post("/api/nodes/batch", json={"nodes": [child, good]})
    assert response.status_code == 201
    assert (await response.get_json())["created"] == ["3001/zat", "3001"]
    assert services.get(NodeStore).get("3001/zat").parent_id == "3001"
    assert await _audit_actions(services) == [(TEST_AUDIT_NAME, "node.create_many", "")]


async def test_patch_updates_fields_and_moves_with_audit(
    services: Services, client: Client
) -> None:
    await build_tree(services)
    response = await client.patch(
        "/api/nodes/1001", json={"dis": "AHU-1 (roof)", "tags": ["ahu", "equip", "roof"]}
    )
    assert response.status_code == 200
    assert (await response.get_json())["dis"] == "AHU-1 (roof)"
    moved = await _json(await client.patch("/api/nodes/1001", json={"parent_id": "floor-2"}))
    assert moved["parent_id"] == "floor-2"
    assert services.get(NodeStore).subtree_ids("floor-2") >= {"1001", "1001/sat", "1001/fan"}
    rooted = await _json(await client.patch("/api/nodes/floor-1", json={"parent_id": None}))
    assert rooted["parent_id"] is None
    assert await _audit_actions(services) == [
        (TEST_AUDIT_NAME, "node.update", "1001"),
        (TEST_AUDIT_NAME, "node.move", "1001"),
        (TEST_AUDIT_NAME, "node.move", "floor-1"),
    ]


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/nodes/1001", {"parent_id": "floor-2", "dis": ""}, 400),
        ("/api/nodes/1001", {"parent_id": "floor-2", "tags": [1]}, 400),
        ("/api/nodes/1001", {"parent_id": "floor-2", "id": "1002"}, 400),
        ("/api/nodes/1001", {"parent_id": "floor-2", "value": 3}, 400),
        ("/api/nodes/1001", {"dis": "x", "parent_id": "nowhere"}, 404),
        ("/api/nodes/1001", {"dis": "x", "parent_id": 7}, 400),
        ("/api/nodes/hq", {"dis": "x", "parent_id": "1001"}, 409),
        ("/api/nodes/1001", {}, 400),
        ("/api/nodes/nowhere", {"dis": "x"}, 404),
    ],
)
async def test_patch_checks_everything_before_writing_anything(
    services: Services,
    client: Client,
    path: str,
    body: dict[str, Any],
    status: int,
) -> None:
    await build_tree(services)
    before = [n.to_dict() for n in services.get(NodeStore).all()]
    await _error(await client.patch(path, json=body), status)
    assert [n.to_dict() for n in services.get(NodeStore).all()] == before
    assert await services.get(AuditStore).count() == 0


async def test_delete_refuses_a_node_with_children_unless_recursive(
    services: Services, client: Client
) -> None:
    await build_tree(services)
    error = await _error(await client.delete("/api/nodes/1001"), 409)
    assert "descendant" in error["message"]
    await _error(await client.delete("/api/nodes/1001?recursive=maybe"), 400)
    assert services.get(NodeStore).get_or_none("1001/sat") is not None
    assert await services.get(AuditStore).count() == 0

    leaf = await _json(await client.delete("/api/nodes/2001/zat"))
    assert leaf == {"deleted": ["2001/zat"]}
    body = await _json(await client.delete("/api/nodes/1001?recursive=true"))
    assert body["deleted"][-1] == "1001"
    assert set(body["deleted"]) == {"1001", "1001/sat", "1001/fan"}
    await _error(await client.delete("/api/nodes/1001"), 404)
    assert await _audit_actions(services) == [
        (TEST_AUDIT_NAME, "node.delete", "2001/zat"),
        (TEST_AUDIT_NAME, "node.delete", "1001"),
    ]


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("/api/nodes?limit=0", 400, "limit"),
        ("/api/nodes?limit=501", 400, "limit"),
        ("/api/nodes?limit=ten", 400, "limit"),
        ("/api/nodes?cursor=garbage!", 400, "cursor"),
        ("/api/nodes?type=building", 400, "type"),
        ("/api/nodes?tag=", 400, "tag"),
        ("/api/nodes?view=graph", 400, "view"),
        ("/api/nodes?under=%20hq", 400, "under"),
        ("/api/nodes?view=tree&tag=ahu", 400, None),
        ("/api/nodes?view=tree&limit=5", 400, None),
        ("/api/nodes?under=nowhere", 404, None),
        ("/api/nodes/nowhere", 404, None),
        ("/api/nodes/nowhere/subtree", 404, None),
        ("/api/nodes/floor-1/subtree?view=graph", 400, "view"),
        ("/api/nodes/%20hq", 400, "node id"),
    ],
)
async def test_bad_queries_get_a_clear_4xx(
    services: Services, client: Client, query: str, status: int, field: str | None
) -> None:
    await build_tree(services)
    error = await _error(await client.get(query), status)
    if field is not None:
        assert error["detail"]["field"] == field
    assert error["code"] == {400: "invalid_input", 404: "not_found"}[status]


async def test_a_cursor_from_another_listing_is_refused(services: Services, client: Client) -> None:
    await build_tree(services)
    for i in range(3):
        await services.get(AuditStore).record(user="u", action="a", target=str(i))
    audit_cursor = (await _json(await client.get("/api/audit?limit=1")))["next_cursor"]
    assert audit_cursor is not None
    error = await _error(await client.get(f"/api/nodes?cursor={audit_cursor}"), 400)
    assert error["detail"]["field"] == "cursor"


async def test_unknown_routes_and_methods_get_the_same_error_body(client: Client) -> None:
    missing = await _error(await client.get("/api/nowhere"), 404)
    assert missing["code"] == "not_found"
    wrong = await _error(await client.put("/api/nodes", json={}), 405)
    assert wrong["code"] == "method_not_allowed"


BAD_ALARMS = [
    ({"high": "hot"}, "properties.alarm.high"),
    ({"high": 20, "low": 30}, "properties.alarm.low"),
    ({"high": 20, "colour": "red"}, "properties.alarm.colour"),
    ({"high": 20, "delay_s": -1}, "properties.alarm.delay_s"),
    ({"high": 20, "severity": "loud"}, "properties.alarm.severity"),
]


@pytest.mark.parametrize(("alarm", "field"), BAD_ALARMS)
async def test_a_bad_alarm_rule_gets_400_naming_it_on_every_write_route(
    services: Services, client: Client, alarm: dict[str, Any], field: str
) -> None:
    await build_tree(services)
    before = [n.to_dict() for n in services.get(NodeStore).all()]
    new = {"id": "2001/sp", "node_type": "point", "dis": "Setpoint", "parent_id": "2001",
           "kind": "number", "properties": {"alarm": alarm}}  # fmt: skip
    ok = {**new, "id": "2001/ok", "properties": {"alarm": {"high": 30}}}
    refusals = [
        await client.post("/api/nodes", json=new),
        await client.post("/api/nodes/batch", json={"nodes": [ok, new]}),
        await client.patch("/api/nodes/2001/zat", json={"properties": {"alarm": alarm}}),
        # A bad rule beside a move: neither is applied.
        await client.patch(
            "/api/nodes/2001/zat", json={"properties": {"alarm": alarm}, "parent_id": "1001"}
        ),
    ]
    for response in refusals:
        error = await _error(response, 400)
        assert error["code"] == "invalid_input"
        assert error["detail"]["field"] == field
        assert field in error["message"]
    batch_error = await (refusals[1]).get_json()
    assert batch_error["error"]["detail"]["index"] == 1
    assert batch_error["error"]["message"].startswith("nodes[1]: ")
    assert [n.to_dict() for n in services.get(NodeStore).all()] == before
    assert await services.get(AuditStore).count() == 0


async def test_a_good_alarm_rule_is_stored(services: Services, client: Client) -> None:
    await build_tree(services)
    rule = {"high": 26, "low": 16, "deadband": 0.5, "delay_s": 60, "severity": "minor"}
    response = await client.patch("/api/nodes/2001/zat", json={"properties": {"alarm": rule}})
    assert response.status_code == 200
    assert (await response.get_json())["properties"] == {"alarm": rule}
    assert services.get(NodeStore).get("2001/zat").properties["alarm"] == rule
