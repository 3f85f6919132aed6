"""quart-schema on our app: the OpenAPI document and the JSON provider.

:func:`install` sets up quart-schema with the three fixes of
``shared/reference/stack-feasibility.md`` §8:

1. :class:`Provider` adds the schema components that quart-schema leaves out
   (a nested Struct's ``$ref`` pointed at nothing) and the records' components
   (:data:`~opencrate.api.contract.COMPONENTS`).
2. :class:`JSONProvider` turns the ``RecursionError`` of a deeply nested body
   into the ``ValueError`` Quart expects (a 400, not a 500), for any code that
   calls ``request.get_json``; our own bodies are depth-checked before parsing.
3. Every request's body is read before the route runs (POST, PUT and PATCH,
   but also a body sent with a method the route does not take, which is
   answered 405): a body left unread stalled the next request on the same
   keep-alive connection (schemathesis found it with ``QUERY`` and ``PUT``
   requests to POST routes: 10 s read timeouts). The guard does the reading,
   within the route's body limit (:mod:`opencrate.api.guard`).

The document is ours to shape beyond what the decorators say: operation ids
and tags from the endpoint, the access rule as ``security`` (none on a public
route), the error body on every operation (``4XX`` and ``default``), and path
parameters that may hold ``/`` marked ``x-opencrate-converter: path``.
quart-schema's own routes (``/openapi.json`` and the three CDN docs pages)
are off: ``GET /api/openapi.json`` and the offline page ``GET /api/docs``
are in :mod:`opencrate.api.openapi`.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

import msgspec
from quart import Quart
from quart.json.provider import DefaultJSONProvider
from quart_schema import QuartSchema
from quart_schema.openapi import OpenAPIProvider
from quart_schema.validation import (
    QUART_SCHEMA_QUERYSTRING_ATTRIBUTE,
    QUART_SCHEMA_REQUEST_ATTRIBUTE,
    QUART_SCHEMA_RESPONSE_ATTRIBUTE,
    DataSource,
)
from werkzeug.routing import Rule
from werkzeug.routing.converters import BaseConverter, PathConverter

from opencrate import __version__
from opencrate.api import wire  # noqa: F401 - registers the shared path parameter schemas
from opencrate.api.access import access_of
from opencrate.api.contract import (
    COMPONENTS,
    OPTIONAL_BODY_ATTRIBUTE,
    PATH_SCHEMAS,
    REF_TEMPLATE,
    Component,
    Content,
)

__all__ = ["ERROR_SCHEMA", "JSONProvider", "Provider", "install"]

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
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
    "description": "The error body (docs/reference/api.md lists the statuses)",
    "content": {"application/json": {"schema": {"$ref": REF_TEMPLATE.format(name="Error")}}},
}

#: A bearer token (``Authorization: Bearer``) or the web page's session cookie (the
#: cookie name is the users component's; ``in_`` is quart-schema's spelling of ``in``).
SECURITY_SCHEMES: dict[str, Any] = {
    "bearerAuth": {"type": "http", "scheme": "bearer"},
    "cookieSession": {"type": "apiKey", "in_": "cookie", "name": "opencrate_session"},
}
SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"cookieSession": []}]


class JSONProvider(DefaultJSONProvider):
    """Quart's JSON, in our field order, with models as builtins and deep input a ValueError."""

    sort_keys = False

    @staticmethod
    def default(o: Any) -> Any:
        try:
            return DefaultJSONProvider.default(o)
        except TypeError:
            return msgspec.to_builtins(o)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            # Quart answers a ValueError with 400; a RecursionError would be a 500.
            raise ValueError("the JSON nests too deeply") from None


def _struct_models(app: Any) -> list[type[msgspec.Struct]]:
    """Every Struct a route declares: query string, body, responses."""
    found: list[type[msgspec.Struct]] = []
    for view in app.view_functions.values():
        candidates: list[Any] = [getattr(view, QUART_SCHEMA_QUERYSTRING_ATTRIBUTE, None)]
        request_data = getattr(view, QUART_SCHEMA_REQUEST_ATTRIBUTE, None)
        if request_data is not None:
            candidates.append(request_data[0])
        responses = getattr(view, QUART_SCHEMA_RESPONSE_ATTRIBUTE, {})
        candidates.extend(model for model, _ in responses.values())
        for model in candidates:
            struct = isinstance(model, type) and issubclass(model, msgspec.Struct)
            if struct and model not in found:
                found.append(model)
    return found


def _query_models(app: Any) -> list[type[msgspec.Struct]]:
    models = (
        getattr(v, QUART_SCHEMA_QUERYSTRING_ATTRIBUTE, None) for v in app.view_functions.values()
    )
    return [m for m in models if isinstance(m, type) and issubclass(m, msgspec.Struct)]


class Provider(OpenAPIProvider):
    """quart-schema's document, completed (see the module docstring)."""

    def schema(self) -> dict[str, Any]:
        document = super().schema()
        document["paths"] = dict(sorted(document["paths"].items()))
        schemas: dict[str, Any] = document["components"]["schemas"]
        # Trap 1: nested Structs' components. Title-less enum components get one.
        _, nested = msgspec.json.schema_components(
            _struct_models(self._app), ref_template=REF_TEMPLATE
        )
        schemas.update(nested)
        # A query model is listed as parameters; its component is clutter unless used.
        text = json.dumps(document["paths"])
        for model in _query_models(self._app):
            name = model.__name__
            if REF_TEMPLATE.format(name=name) not in text:
                schemas.pop(name, None)
        schemas.update({name: c.schema() for name, c in sorted(COMPONENTS.items())})
        schemas["Error"] = ERROR_SCHEMA
        document["components"]["schemas"] = dict(sorted(schemas.items()))
        return document

    def generate_rules(self) -> Any:
        # Only the API: the operator page's files are not part of the contract.
        for rule in super().generate_rules():
            if rule.rule.startswith("/api/"):
                yield rule

    def build_paths(self, rule: Rule) -> tuple[dict[str, Any], dict[str, Any]]:
        paths, components = super().build_paths(rule)
        view = self._app.view_functions[rule.endpoint]
        access = access_of(view)
        blueprint = rule.endpoint.rpartition(".")[0] or "app"
        doc = inspect.getdoc(view) or ""
        summary, _, description = doc.partition("\n")
        for ops in paths.values():
            methods = list(ops)
            for method, op in list(ops.items()):
                op = ops[method] = dict(op)
                op["summary"] = summary.strip()
                op["description"] = description.strip()
                if not op["description"]:
                    del op["description"]
                op["tags"] = [blueprint]
                op_id = rule.endpoint.replace(".", "_")
                op["operationId"] = op_id + (f"_{method}" if len(methods) > 1 else "")
                if access is not None and access.is_public:
                    op["security"] = []
                responses = dict(op["responses"])
                responses.setdefault("4XX", _ERROR_RESPONSE)
                responses.setdefault("default", _ERROR_RESPONSE)
                op["responses"] = {str(k): v for k, v in responses.items()}
                if not op["parameters"]:
                    del op["parameters"]
                if "requestBody" in op and getattr(view, OPTIONAL_BODY_ATTRIBUTE, False):
                    op["requestBody"] = {**op["requestBody"], "required": False}
        return paths, components

    def build_querystring_parameters(self, model: Any) -> tuple[list[dict[str, Any]], Any]:
        parameters, definitions = super().build_querystring_parameters(model)
        for param in parameters:
            # A query string cannot say null: an optional parameter is one left out.
            schema = param["schema"]
            branches = schema.get("anyOf", [])
            if {"type": "null"} in branches and len(branches) == 2:
                (kept,) = [b for b in branches if b != {"type": "null"}]
                param["schema"] = {**kept, **{k: v for k, v in schema.items() if k != "anyOf"}}
            if param["schema"].get("default", ...) is None:
                del param["schema"]["default"]
            if "description" in param["schema"] and "description" not in param:
                param["description"] = param["schema"].pop("description")
        return parameters, definitions

    def build_path_parameter(self, name: str, converter: BaseConverter) -> dict[str, Any]:
        param = super().build_path_parameter(name, converter)
        if name in PATH_SCHEMAS:
            param["schema"] = dict(PATH_SCHEMAS[name])
        if isinstance(converter, PathConverter):
            param["description"] = "May contain '/' (node ids such as 1001/analog-input-1)."
            param["x-opencrate-converter"] = "path"
        return param

    def build_request_body(self, model: Any, source: DataSource) -> tuple[Any, Any]:
        if isinstance(model, Component):
            return {"required": True, "content": {"application/json": {"schema": model.ref}}}, {}
        if isinstance(model, Content):
            return {"required": True, "content": {model.content_type: {"schema": model.schema}}}, {}
        if isinstance(model, tuple):  # alternatives: one body, several content types
            content: dict[str, Any] = {}
            definitions: dict[str, Any] = {}
            for alternative in model:
                built, more = self.build_request_body(alternative, source)
                content.update(built["content"])
                definitions.update(more)
            return {"required": True, "content": content}, definitions
        built, definitions = super().build_request_body(model, source)
        return {"required": True, **built}, definitions

    def build_response_object(self, model: Any, headers_model: Any) -> tuple[Any, Any]:
        if isinstance(model, tuple):  # alternatives: one answer, several content types
            content: dict[str, Any] = {}
            definitions: dict[str, Any] = {}
            for alternative in model:
                built, more = self.build_response_object(alternative, None)
                content.update(built["content"])
                definitions.update(more)
            return {"description": "One of the content types", "content": content}, definitions
        if isinstance(model, Component):
            return {
                "description": model.name,
                "content": {"application/json": {"schema": model.ref}},
            }, {}
        if isinstance(model, Content) and not model.content_type:
            return {"description": model.description}, {}  # NO_CONTENT: a 204
        if isinstance(model, Content):
            return {
                "description": model.description or model.content_type,
                "content": {model.content_type: {"schema": dict(model.schema)}},
            }, {}
        built, definitions = super().build_response_object(model, headers_model)
        built["description"] = built["description"] or model.__name__
        return built, definitions


def install(app: Quart) -> QuartSchema:
    """Set quart-schema up on ``app`` (its CDN routes off) with the fixes above."""
    extension = QuartSchema(
        app,
        openapi_path=None,
        redoc_ui_path=None,
        scalar_ui_path=None,
        swagger_ui_path=None,
        info={
            "title": "OpenCrate API",
            "version": __version__,
            "description": "Generated from the routes' declared models "
            "(opencrate/api/contract.py). Prose: docs/reference/api.md.",
        },
        security_schemes=SECURITY_SCHEMES,
        security=SECURITY,
        conversion_preference="msgspec",
        openapi_provider_class=Provider,
    )
    # After QuartSchema(app), which sets its own provider (trap 2).
    app.json = JSONProvider(app)
    # Trap 3 (a body left unread stalls the next request on a keep-alive
    # connection) is the guard's: it reads every body, within the route's limit
    # (opencrate/api/guard.py), the 405s of a method no route takes included.
    return extension
