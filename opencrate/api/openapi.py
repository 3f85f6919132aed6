"""``GET /api/openapi.json``: an OpenAPI 3.1 document built from the routes themselves.

Nothing is written by hand: the paths and methods come from the app's URL
map, each operation's summary and description from its view function's
docstring (first line, then the rest), its tag from its blueprint, and its
path parameters from the rule's converters. A route added anywhere therefore
appears here with whatever its docstring says; ``tests/api/test_openapi.py``
checks that every ``/api`` route is present with a summary.

What it does not know: query parameters and body schemas, which the
docstrings and ``docs/reference/api.md`` describe in prose. The websocket
route is listed as a ``get`` with ``x-websocket: true``, as OpenAPI has no
websocket operation.
"""

from __future__ import annotations

import inspect
from typing import Any

from quart import Blueprint, Quart, current_app

from opencrate import __version__
from opencrate.api.access import Role, requires

__all__ = ["blueprint", "openapi_document"]

blueprint = Blueprint("openapi", __name__)

_CACHE_KEY = "opencrate.openapi"

_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "examples": ["not_found", "invalid_input"]},
                "message": {"type": "string"},
                "detail": {"type": "object", "additionalProperties": True},
            },
        }
    },
}

_ERROR_RESPONSE = {
    "description": "The error body (see docs/reference/api.md for the statuses)",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def _split_doc(view: Any) -> tuple[str, str]:
    doc = inspect.getdoc(view) or ""
    summary, _, rest = doc.partition("\n")
    return summary.strip(), rest.strip()


def _path_and_params(rule: Any) -> tuple[str, list[dict[str, Any]]]:
    path = ""
    params: list[dict[str, Any]] = []
    for is_dynamic, part in rule._trace:  # werkzeug's (converter?, text) pieces
        if part == "|":  # the host/path separator
            continue
        if not is_dynamic:
            path += part
            continue
        path += "{" + part + "}"
        converter = type(rule._converters[part]).__name__
        param: dict[str, Any] = {
            "name": part,
            "in": "path",
            "required": True,
            "schema": {"type": "integer" if converter == "IntegerConverter" else "string"},
        }
        if converter == "PathConverter":
            param["description"] = "May contain '/' (node ids such as 1001/analog-input-1)."
            param["x-opencrate-converter"] = "path"
        params.append(param)
    return path, params


def openapi_document(app: Quart) -> dict[str, Any]:
    """The OpenAPI document for every ``/api`` route of ``app`` (a pure function of its map)."""
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith("/api/"):
            continue
        path, params = _path_and_params(rule)
        view = app.view_functions[rule.endpoint]
        summary, description = _split_doc(view)
        blueprint_name = rule.endpoint.rpartition(".")[0] or "app"
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        for method in methods:
            created = method == "POST" and "201" in description + summary
            operation_id = rule.endpoint.replace(".", "_")
            if len(methods) > 1:  # one view serving several methods
                operation_id += f"_{method.lower()}"
            operation: dict[str, Any] = {
                "operationId": operation_id,
                "tags": [blueprint_name],
                "summary": summary,
                "responses": {
                    "201" if created else "200": {
                        "description": "Success",
                        "content": {"application/json": {}},
                    },
                    "4XX": _ERROR_RESPONSE,
                    "default": _ERROR_RESPONSE,
                },
            }
            if description:
                operation["description"] = description
            if params:
                operation["parameters"] = params
            if getattr(rule, "websocket", False):
                operation["x-websocket"] = True
                operation["responses"] = {
                    "101": {"description": "Switching protocols: the websocket is open"}
                }
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "OpenCrate API",
            "version": __version__,
            "description": "Generated from the registered routes and their docstrings. "
            "Prose reference: docs/reference/api.md.",
        },
        "paths": paths,
        "components": {"schemas": {"Error": _ERROR_SCHEMA}},
    }


@blueprint.get("/openapi.json")
@requires(Role.VIEWER)
async def openapi_json() -> dict[str, Any]:
    """This API as an OpenAPI 3.1 document, generated from the routes and their docstrings."""
    cached: dict[str, Any] | None = current_app.extensions.get(_CACHE_KEY)
    if cached is None:
        # Routes are fixed once the app serves; build the document once.
        cached = openapi_document(current_app)
        current_app.extensions[_CACHE_KEY] = cached
    return cached
