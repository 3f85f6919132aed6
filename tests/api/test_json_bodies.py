"""Every route that takes a JSON body parses it the one way (``opencrate.validation``).

A body nested 1,000 deep made ``request.get_json`` raise RecursionError, so every
JSON route answered 500; it is now a 400 naming the depth limit, on each route
that takes a body (found from the app's url_map, so a new route is covered too).
"""

from __future__ import annotations

import re

import pytest
from quart.typing import TestClientProtocol as Client
from quart_trio import QuartTrio

from opencrate.app import Services
from opencrate.components.audit.store import AuditStore
from opencrate.validation import MAX_JSON_DEPTH
from tests.harness import build_tree

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# What to put in each path variable so the route gets as far as reading its body.
_PATH_VALUES = {
    "node_id": "1001/sat",
    "point_id": "1001/sat",
    "context": "1001/sat",
    "name": "setpoint",
    "service": "sqlite",
    "event_id": "1",
    "alarm_id": "1",
    "key": "1001",  # a discovered device
}


def _body_routes(app: QuartTrio) -> list[tuple[str, str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        methods = sorted((rule.methods or set()) & _BODY_METHODS)
        if not methods or not rule.rule.startswith("/api/"):
            continue
        url = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: _PATH_VALUES[m.group(1)], rule.rule)
        routes.extend((method, url) for method in methods)
    return routes


def _nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


@pytest.mark.parametrize(
    "body",
    [_nested(1000), b"[" * 1000 + b"]" * 1000, b"[" * 60_000],
    ids=["objects-1000", "arrays-1000", "unclosed-60000"],  # under the 64 KiB limit
)
async def test_every_json_body_route_refuses_deep_nesting_with_400(
    services: Services, app: QuartTrio, client: Client, body: bytes
) -> None:
    await build_tree(services)
    routes = _body_routes(app)
    assert ("POST", "/api/nodes") in routes
    assert ("PUT", "/api/persistence/sqlite") in routes
    answers = {}
    for method, url in routes:
        response = await client.open(
            url, method=method, data=body, headers={"Content-Type": "application/json"}
        )
        error = (await response.get_json())["error"]
        answers[method, url] = (response.status_code, error["message"])
    expected = f"request body nests arrays and objects deeper than {MAX_JSON_DEPTH} levels"
    assert answers == {route: (400, expected) for route in routes}
    assert await services.get(AuditStore).count() == 0


async def test_json_body_routes_refuse_bodies_that_are_not_utf8(
    services: Services, app: QuartTrio, client: Client
) -> None:
    await build_tree(services)
    for method, url in _body_routes(app):
        response = await client.open(
            url, method=method, data=b'{"x": "\xff"}', headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, (method, url)
        assert (await response.get_json())["error"]["message"] == "request body is not UTF-8 text"


async def test_body_nested_to_the_limit_is_read(services: Services, client: Client) -> None:
    # Depth 64 is allowed: the node is refused for its unknown field, not its nesting.
    deep = _nested(MAX_JSON_DEPTH - 1)
    body = b'{"id": "x", "node_type": "site", "dis": "X", "extra": ' + deep + b"}"
    response = await client.post(
        "/api/nodes", data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert (await response.get_json())["error"]["detail"]["field"] == "extra"


async def test_the_apps_json_provider_answers_deep_json_with_value_error(app: QuartTrio) -> None:
    # request.get_json (quart-schema, any route that calls it) goes through
    # app.json; a RecursionError there would be a 500, a ValueError is a 400.
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(ValueError, match="nests too deeply"):
        app.json.loads(deep)
    assert app.json.loads('{"b": 1, "a": [2]}') == {"b": 1, "a": [2]}
