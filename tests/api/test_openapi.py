"""``GET /api/openapi.json``: generated from the routes' models, so it lists every one of them.

Each operation declares its responses with schemas (a success and the error
body), each route that takes a body declares it, every ``$ref`` resolves, and
schemathesis (which the CI fuzz step runs against this document) loads it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import schemathesis
from quart.typing import TestClientProtocol as Client
from quart_trio import QuartTrio

from opencrate.api.access import access_of

_BODY_METHODS = frozenset({"post", "put", "patch"})
# Body routes whose body is optional (an acknowledgement's comment, purge options).
_OPTIONAL_BODIES = {
    ("/api/alarms/{alarm_id}/ack", "post"),
    ("/api/events/{event_id}/ack", "post"),
    ("/api/events/purge", "post"),
    ("/api/logout", "post"),
    ("/api/discovery/scan", "post"),
    ("/api/discovery/devices/{key}/accept", "post"),
    ("/api/discovery/devices/{key}/ignore", "post"),
}


async def _document(client: Client) -> dict[str, Any]:
    response = await client.get("/api/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = await response.get_json()
    json.dumps(document)  # serialisable as served
    return document


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op) for path, ops in document["paths"].items() for method, op in ops.items()
    ]


async def test_document_lists_every_api_route_with_its_docstring_summary(
    app: QuartTrio, client: Client
) -> None:
    document = await _document(client)
    assert document["openapi"] == "3.1.0"
    registered = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") and not rule.websocket:
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
            for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
                registered.add((path, method.lower()))
    listed = {(path, method) for path, method, _ in _operations(document)}
    assert listed == registered
    undocumented = [f"{m.upper()} {p}" for p, m, op in _operations(document) if not op["summary"]]
    assert not undocumented, (
        f"route handlers without a docstring: {undocumented}; the OpenAPI summary is the "
        "first line of the handler's docstring (what it returns), the description the rest"
    )
    get_node = document["paths"]["/api/nodes/{node_id}"]["get"]
    assert get_node["summary"] == "One node; 404 when it does not exist."
    assert get_node["tags"] == ["nodes"]
    (param,) = get_node["parameters"]
    assert (param["name"], param["in"], param["x-opencrate-converter"]) == (
        "node_id",
        "path",
        "path",
    )
    assert "/api/ws" not in document["paths"]  # a websocket is no HTTP operation
    assert len({op["operationId"] for _, _, op in _operations(document)}) == len(listed)


async def test_every_operation_declares_its_responses_and_bodies_with_schemas(
    client: Client,
) -> None:
    document = await _document(client)
    missing = []
    for path, method, op in _operations(document):
        responses = op["responses"]
        successes = [code for code in responses if code.startswith("2")]
        if not successes:
            missing.append(f"{method.upper()} {path}: no success response")
        for code, response in responses.items():
            if code == "204":
                assert "content" not in response, f"{method.upper()} {path}: a 204 with a body"
                continue
            if not any("schema" in c for c in response.get("content", {}).values()):
                missing.append(f"{method.upper()} {path}: response {code} has no schema")
        for code in ("4XX", "default"):
            assert responses[code]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"
            }
        if method in _BODY_METHODS:
            body = op.get("requestBody")
            if body is None or not body["content"]:
                missing.append(f"{method.upper()} {path}: no requestBody")
            elif body["required"] == ((path, method) in _OPTIONAL_BODIES):
                missing.append(f"{method.upper()} {path}: body required is {body['required']}")
    assert not missing, missing
    assert "201" in document["paths"]["/api/nodes"]["post"]["responses"]


async def test_every_reference_resolves_and_enumerations_are_enums(client: Client) -> None:
    document = await _document(client)
    text = json.dumps(document)
    names = set(re.findall(r'"#/components/schemas/([^"]+)"', text))
    assert names <= set(document["components"]["schemas"]), names - set(
        document["components"]["schemas"]
    )
    schemas = document["components"]["schemas"]
    assert set(schemas["NodeType"]["enum"]) >= {"site", "equip", "point"}
    assert "active-unacked" in schemas["AlarmState"]["enum"]
    assert "critical" in schemas["Severity"]["enum"]
    assert "ok" in schemas["PointStatus"]["enum"]
    assert set(schemas["Resolution"]["enum"]) >= {"raw", "5m", "1h", "auto"}
    extension = document["paths"]["/api/history/{point_id}/{extension}"]["get"]
    (param,) = [p for p in extension["parameters"] if p["name"] == "extension"]
    assert {"averageSince", "maximum", "persistedState"} <= set(param["schema"]["enum"])


async def test_public_routes_need_no_credentials_and_the_rest_need_a_token_or_session(
    app: QuartTrio, client: Client
) -> None:
    document = await _document(client)
    assert set(document["components"]["securitySchemes"]) == {"bearerAuth", "cookieSession"}
    assert document["security"] == [{"bearerAuth": []}, {"cookieSession": []}]
    public = {
        re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
        and (access := access_of(app.view_functions[rule.endpoint])) is not None
        and access.is_public
    }
    assert "/api/health" in public
    for path, _, op in _operations(document):
        assert (op.get("security") == []) == (path in public), path


async def test_schemathesis_loads_the_document_as_openapi_3_1(client: Client) -> None:
    document = await _document(client)
    schema = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == len(_operations(document))


async def test_the_docs_page_is_served_offline_and_reads_the_document(client: Client) -> None:
    page = await client.get("/ui/docs.html")
    assert page.status_code == 200
    html = await page.get_data(as_text=True)
    assert "http" not in html.replace('href="/api/openapi.json"', "")  # nothing from a CDN
    script = await client.get("/ui/docs.js")
    assert script.status_code == 200
    assert 'fetch("/api/openapi.json"' in await script.get_data(as_text=True)
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


async def test_an_answer_that_drifts_from_its_declared_model_is_caught(
    app: QuartTrio, client: Client
) -> None:
    # tests/contract.py checks every JSON answer of the API tests; here one that
    # breaks its route's declared schema (a page whose next_cursor is a number).
    from opencrate.api.access import Role, requires
    from opencrate.api.contract import responds
    from opencrate.components.audit.routes import AuditPage
    from tests.contract import violations

    @app.get("/api/drifting")
    @requires(Role.VIEWER)
    @responds(AuditPage)
    async def drifting() -> dict[str, Any]:
        """A route whose answer does not match its model."""
        return {"items": [], "next_cursor": 5}

    assert (await client.get("/api/drifting")).status_code == 200
    assert (await client.get("/api/audit")).status_code == 200
    found = list(violations(app))
    violations(app).clear()  # seen: the fixture's own check must not fail the test
    assert len(found) == 1
    assert found[0].startswith("GET /api/drifting 200: ")
    assert "next_cursor" in found[0] or "5" in found[0]
