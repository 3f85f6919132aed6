"""``GET /api/openapi.json``: generated from the routes, so it lists every one of them."""

from __future__ import annotations

import json
import re

from quart.typing import TestClientProtocol as Client
from quart_trio import QuartTrio


async def test_document_lists_every_api_route_with_its_docstring_summary(
    app: QuartTrio, client: Client
) -> None:
    response = await client.get("/api/openapi.json")
    assert response.status_code == 200
    document = await response.get_json()
    json.dumps(document)  # serialisable as served
    assert document["openapi"] == "3.1.0"
    paths = document["paths"]

    registered = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
            for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
                registered.add((path, method.lower()))
    listed = {(path, method) for path, ops in paths.items() for method in ops}
    assert listed == registered
    undocumented = [
        f"{method.upper()} {path}"
        for path, ops in paths.items()
        for method, op in ops.items()
        if not op["summary"]
    ]
    assert not undocumented, (
        f"route handlers without a docstring: {undocumented}; the OpenAPI summary is the "
        "first line of the handler's docstring (what it returns), the description the rest"
    )

    get_node = paths["/api/nodes/{node_id}"]["get"]
    assert get_node["summary"] == "One node; 404 when it does not exist."
    assert get_node["tags"] == ["nodes"]
    (param,) = get_node["parameters"]
    assert (param["name"], param["in"], param["x-opencrate-converter"]) == (
        "node_id",
        "path",
        "path",
    )
    assert "201" in paths["/api/nodes"]["post"]["responses"]
    assert paths["/api/ws"]["get"]["x-websocket"] is True
    assert "$ref" in json.dumps(paths["/api/audit"]["get"]["responses"]["4XX"])
    assert document["components"]["schemas"]["Error"]["required"] == ["error"]
