"""Authentication and roles on every route, walked from the app's route table, and the attacks.

Each route is called as nobody, as a viewer and as an operator, and must
answer 401 / 403 by its declaration (``opencrate.api.access``), so a new route
is covered the day it lands. Then the attacks of issue 9, each of which must
now fail to do harm.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from quart.testing.connections import WebsocketResponseError
from quart.typing import TestClientProtocol as Client
from quart_trio import QuartTrio

from opencrate.api.access import Access, access_of
from opencrate.app import Services
from opencrate.components.audit.store import AuditStore
from opencrate.components.nodes.store import NodeStore
from opencrate.components.overrides.store import OverrideStore
from opencrate.components.users.roles import Role
from tests.harness import build_tree

# What to put in each path variable (a real node where it matters, so a
# route that is wrongly let through would do its harm).
_PATH_VALUES = {
    "node_id": "1001/sat",
    "point_id": "1001/sat",
    "context": "1001/sat",
    "name": "admin",
    "service": "sqlite",
    "event_id": "1",
    "alarm_id": "1",
    "token_id": "abc",
    "extension": "average",
    "asset": "app.js",
    "device_id": "meter-1",
    "key": "1001",  # a discovered device
}


def _routes(app: QuartTrio) -> Iterator[tuple[str, str, Access]]:
    """``(method, url, access)`` for every HTTP route (the websocket is tested on its own)."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.websocket:
            continue
        access = access_of(app.view_functions[rule.endpoint])
        assert access is not None, rule.rule
        url = re.sub(
            r"<(?:[^:>]+(?:\([^)]*\))?:)?([^>]+)>", lambda m: _PATH_VALUES[m[1]], rule.rule
        )
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield method, url, access


async def _call(client: Client, method: str, url: str) -> int:
    body = {} if method in ("POST", "PUT", "PATCH") else None
    response = await client.open(url, method=method, json=body)
    return response.status_code


async def test_every_route_but_health_login_and_the_page_needs_credentials(
    services: Services, app: QuartTrio, client_as: Callable[[Role | None], Client]
) -> None:
    await build_tree(services)
    nobody = client_as(None)
    answers = {(m, u): await _call(nobody, m, u) for m, u, a in _routes(app) if not a.is_public}
    assert len(answers) > 40
    assert answers == dict.fromkeys(answers, 401)
    response = await nobody.get("/api/nodes")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await response.get_json())["error"]["code"] == "unauthorized"
    public = {u for m, u, a in _routes(app) if a.is_public}
    assert public == {"/", "/api/health", "/api/login", "/ui/", "/ui/app.js"}
    assert (await nobody.get("/api/health")).status_code == 200
    assert len(services.get(NodeStore).all()) == 8
    assert await services.get(AuditStore).count() == 0


async def test_a_viewer_may_read_but_every_write_needing_more_is_403(
    services: Services, app: QuartTrio, client_as: Callable[[Role | None], Client]
) -> None:
    await build_tree(services)
    viewer = client_as(Role.VIEWER)
    above = [(m, u) for m, u, a in _routes(app) if a.role is not None and a.role is not Role.VIEWER]
    assert ("PUT", "/api/points/1001/sat/override") in above
    answers = {route: await _call(viewer, *route) for route in above}
    assert answers == dict.fromkeys(above, 403)
    reads = [(m, u) for m, u, a in _routes(app) if a.role is Role.VIEWER and m == "GET"]
    refused = {r: s for r in reads if (s := await _call(viewer, *r)) in (401, 403)}
    # Only another user's tokens are not the viewer's to read.
    assert refused == {("GET", "/api/users/admin/tokens"): 403}
    body = await (await viewer.put("/api/points/1001/sat/override", json={"value": 1})).get_json()
    assert body["error"]["detail"] == {"role": "viewer", "needed": "operator"}
    assert services.get(OverrideStore).active() == []


async def test_an_operator_is_refused_every_admin_route(
    services: Services, app: QuartTrio, client_as: Callable[[Role | None], Client]
) -> None:
    await build_tree(services)
    operator = client_as(Role.OPERATOR)
    admin_only = [(m, u) for m, u, a in _routes(app) if a.role is Role.ADMIN]
    assert ("DELETE", "/api/nodes/1001/sat") in admin_only
    answers = {route: await _call(operator, *route) for route in admin_only}
    assert answers == dict.fromkeys(admin_only, 403)
    assert len(services.get(NodeStore).all()) == 8
    ok = await operator.put("/api/points/1001/sat/override", json={"value": 18.5})
    assert ok.status_code == 200


async def test_a_route_without_a_declaration_is_refused_to_everybody(
    app: QuartTrio, client: Client
) -> None:
    async def forgotten() -> str:
        return "should never run"

    app.add_url_rule("/api/forgotten", "forgotten", forgotten)
    response = await client.get("/api/forgotten")  # even as the admin
    assert response.status_code == 403
    assert "declares no access" in (await response.get_json())["error"]["message"]


# -- the attacks of issue 9 ------------------------------------------------------------
@pytest.mark.parametrize("value", [21.0, -1e300])
async def test_an_unauthenticated_setpoint_override_stores_nothing(
    services: Services, client_as: Callable[[Role | None], Client], value: float
) -> None:
    await build_tree(services)
    nobody = client_as(None)
    response = await nobody.put(
        "/api/points/1001/sat/override", json={"value": value, "expires": None}
    )
    assert response.status_code == 401
    assert services.get(OverrideStore).active() == []
    assert await services.get(AuditStore).count() == 0


async def test_an_unauthenticated_recursive_delete_deletes_nothing(
    services: Services, client_as: Callable[[Role | None], Client]
) -> None:
    await build_tree(services)
    response = await client_as(None).delete("/api/nodes/hq?recursive=true")
    assert response.status_code == 401
    assert len(services.get(NodeStore).all()) == 8


async def test_an_unauthenticated_persistence_change_and_history_delete_change_nothing(
    services: Services, client: Client, client_as: Callable[[Role | None], Client]
) -> None:
    await build_tree(services)
    start = 1_700_000_000_000
    stored = await client.put("/api/history/1001/sat", json={"value": 1.5, "time": start})
    assert stored.status_code == 200
    config_before = await (await client.get("/api/persistence/sqlite")).get_json()
    samples = f"/api/history/1001/sat?start={start}&end={start}"
    history_before = await (await client.get(samples)).get_json()
    assert len(history_before["samples"]) == 1

    nobody = client_as(None)
    put = await nobody.put(
        "/api/persistence/sqlite", json={"items": [{"points": ["nothing"], "strategies": []}]}
    )
    deleted = await nobody.delete(f"/api/history/1001/sat?start={start - 1}&end={start + 1}")
    assert (put.status_code, deleted.status_code) == (401, 401)
    assert await (await client.get("/api/persistence/sqlite")).get_json() == config_before
    assert await (await client.get(samples)).get_json() == history_before


async def test_a_websocket_without_credentials_is_refused(
    services: Services, client_as: Callable[[Role | None], Client]
) -> None:
    for headers in ({}, {"Authorization": "Bearer oc_made-up"}):
        with pytest.RaisesGroup(WebsocketResponseError, flatten_subgroups=True) as refused:
            async with client_as(None).websocket("/api/ws", headers=headers) as ws:
                await ws.receive()
        (error,) = refused.value.exceptions
        assert isinstance(error, WebsocketResponseError)
        assert error.response.status_code == 401
    assert services.bus.statistics().subscribers == ()


async def test_a_malformed_authorization_header_is_401_naming_the_form(
    client_as: Callable[[Role | None], Client],
) -> None:
    response = await client_as(None).get("/api/nodes", headers={"Authorization": "Basic eDp5"})
    assert response.status_code == 401
    assert "Bearer <token>" in (await response.get_json())["error"]["message"]
