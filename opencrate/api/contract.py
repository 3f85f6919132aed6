"""The API contract: each route's query string, body and responses, declared as types.

A route states what it takes and answers with decorators under its access
declaration; quart-schema builds the OpenAPI document from the same
declarations (:mod:`opencrate.api.schema`), so what is validated and what is
documented are one thing::

    @blueprint.get("/audit")
    @requires(Role.VIEWER)
    @query(AuditQuery)
    @responds(AuditPage)
    async def audit_log(query_args: AuditQuery) -> dict[str, Any]: ...

Models are msgspec Structs. Shapes that a record already declares (an
:class:`~opencrate.components.audit.store.AuditEntry`'s columns know their JSON
members) are not written again: :func:`record_component` names the record's
:func:`~opencrate.runtime.records.json_schema` as a schema component, and a
Struct field points at it with ``Annotated[Any, ref(COMPONENT)]``; a route
answering one record says ``@responds(COMPONENT)``.

Why our own :func:`query` and :func:`body` rather than quart-schema's
``validate_querystring`` / ``validate_request`` (which they mirror and whose
documentation attributes they set): a repeatable parameter (``?tag=a``) is a
list even when given once, a body is read by
:func:`~opencrate.validation.parse_json_object` (UTF-8, depth limit, lone
surrogates: the messages every body route shares) whatever its content type,
and bodies are converted strictly (``"3"`` is not an integer). Errors are
quart-schema's ``QuerystringValidationError`` / ``RequestSchemaValidationError``,
which :mod:`opencrate.api.errors` turns into a 400 ``invalid_input`` naming the
field.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import msgspec
from attrs import frozen
from quart import request
from quart_schema.validation import (
    QUART_SCHEMA_QUERYSTRING_ATTRIBUTE,
    QUART_SCHEMA_REQUEST_ATTRIBUTE,
    QUART_SCHEMA_RESPONSE_ATTRIBUTE,
    DataSource,
    QuerystringValidationError,
    RequestSchemaValidationError,
)

from opencrate.runtime.records import json_schema
from opencrate.validation import parse_json_object

__all__ = [
    "COMPONENTS",
    "JSON_OBJECT",
    "NO_CONTENT",
    "Component",
    "Content",
    "body",
    "component",
    "list_of",
    "load_body",
    "path_parameter",
    "query",
    "record_component",
    "ref",
    "request_body",
    "responds",
]

F = TypeVar("F", bound=Callable[..., Any])
S = TypeVar("S", bound=msgspec.Struct)

REF_TEMPLATE = "#/components/schemas/{name}"
#: Set on a view whose body may be empty (documented as ``required: false``).
OPTIONAL_BODY_ATTRIBUTE = "_opencrate_optional_body"


@frozen
class Component:
    """A named JSON Schema written elsewhere (a record's), added to the document's components."""

    name: str
    schema: Callable[[], dict[str, Any]]

    @property
    def ref(self) -> dict[str, str]:
        return {"$ref": REF_TEMPLATE.format(name=self.name)}


@frozen
class Content:
    """A body that is not JSON (a blob, ``.persist`` text): its content type and schema."""

    content_type: str
    schema: Mapping[str, Any]
    description: str = ""


#: A JSON object whose members the route's docstring describes (statistics, configuration).
JSON_OBJECT = Content("application/json", {"type": "object"}, "A JSON object")
#: An answer without a body (``@responds(NO_CONTENT, 204)``).
NO_CONTENT = Content("", {}, "No content")

#: The JSON Schema of path parameters by name, registered by the module that
#: owns the rule (``node_id``: :mod:`opencrate.api.wire`). Path converters stay
#: as they are; this states in the document what the route checks.
PATH_SCHEMAS: dict[str, Mapping[str, Any]] = {}


def path_parameter(name: str, schema: Mapping[str, Any]) -> None:
    """Declare the schema of every path parameter called ``name``."""
    PATH_SCHEMAS[name] = schema


#: Every component declared so far, by name; the document carries them all.
COMPONENTS: dict[str, Component] = {}


def component(name: str, build: Callable[[], dict[str, Any]]) -> Component:
    """A schema component built by ``build`` (from a record's: see :func:`record_component`)."""
    found = COMPONENTS[name] = Component(name, build)
    return found


def record_component(
    cls: type[Any],
    *,
    name: str | None = None,
    drop: tuple[str, ...] = (),
    optional: Mapping[str, Mapping[str, Any]] | None = None,
    required: tuple[str, ...] | None = None,
) -> Component:
    """The JSON shape of record ``cls`` (its ``to_json``) as a schema component.

    ``drop`` leaves members out (a create body has no runtime state);
    ``optional`` adds members a route may add (a point's live ``ts_ms``);
    ``required`` lists the members that must be present (default: all of
    the record's, as ``to_json`` always writes them).
    """

    def build() -> dict[str, Any]:
        schema = json_schema(cls)
        properties = {k: v for k, v in schema["properties"].items() if k not in drop}
        added = {k: dict(v) for k, v in (optional or {}).items()}
        properties.update(added)
        schema["properties"] = properties
        schema["required"] = [
            k
            for k in (schema["required"] if required is None else required)
            if k in properties and k not in added
        ]
        schema["title"] = name or cls.__name__
        return schema

    return component(name or cls.__name__, build)


def ref(component: Component, *, nullable: bool = False) -> msgspec.Meta:
    """``Annotated[Any, ref(C)]``: a Struct field whose schema is component ``C``."""
    schema: dict[str, Any] = component.ref
    if nullable:
        schema = {"anyOf": [component.ref, {"type": "null"}]}
    return msgspec.Meta(extra_json_schema=schema)


def list_of(component: Component, *, description: str = "") -> msgspec.Meta:
    """``Annotated[list[Any], list_of(C)]``: a list of component ``C``."""
    extra: dict[str, Any] = {"items": component.ref}
    return msgspec.Meta(extra_json_schema=extra, description=description or None)


# -- query strings ---------------------------------------------------------------
def _is_list(hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return _is_list(typing.get_args(hint)[0])
    return origin in (list, tuple)


@functools.cache
def _list_fields(model: type[msgspec.Struct]) -> frozenset[str]:
    hints = typing.get_type_hints(model, include_extras=True)
    return frozenset(name for name in model.__struct_fields__ if _is_list(hints[name]))


def query(model: type[S]) -> Callable[[F], F]:
    """Read the query string into ``model``; the view gets it as ``query_args``.

    Fields typed as lists take every value of a repeated parameter; any other
    field takes the last one. Unknown parameters are ignored (a cache buster
    must not fail a request). Values are converted leniently from text
    (``"5"`` is an int, ``"true"`` a bool).
    """

    def decorate(view: F) -> F:
        setattr(view, QUART_SCHEMA_QUERYSTRING_ATTRIBUTE, model)

        @functools.wraps(view)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            lists = _list_fields(model)
            raw: dict[str, Any] = {}
            for key in request.args:
                values = request.args.getlist(key)
                raw[key] = values if key in lists else values[-1]
            try:
                parsed = msgspec.convert(raw, model, strict=False)
            except msgspec.ValidationError as exc:
                raise QuerystringValidationError(exc) from None
            return await view(*args, query_args=parsed, **kwargs)

        return typing.cast(F, wrapper)

    return decorate


# -- bodies -----------------------------------------------------------------------
async def load_body(model: type[S], *, optional: bool = False) -> S:
    """The request's JSON body as ``model``; an empty body is ``model()`` when ``optional``.

    Raises InvalidInput (bad UTF-8, too deep, not an object: see
    :func:`~opencrate.validation.parse_json_object`) or
    RequestSchemaValidationError (the first field that does not fit).
    """
    data = await request.get_data(as_text=False)
    assert isinstance(data, bytes)
    raw: dict[str, Any] = {} if optional and not data.strip() else parse_json_object(data)
    try:
        return msgspec.convert(raw, model, strict=True)
    except msgspec.ValidationError as exc:
        raise RequestSchemaValidationError(exc) from None


BodyModel = type[msgspec.Struct] | Component | Content


def request_body(model: BodyModel | tuple[BodyModel, ...]) -> Callable[[F], F]:
    """Document a body the view reads itself (a record's shape, not JSON, or either of several)."""

    def decorate(view: F) -> F:
        setattr(view, QUART_SCHEMA_REQUEST_ATTRIBUTE, (model, DataSource.JSON))
        return view

    return decorate


def body(model: type[S], *, optional: bool = False) -> Callable[[F], F]:
    """Read the JSON body into ``model`` (see :func:`load_body`); the view gets it as ``data``."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            parsed = await load_body(model, optional=optional)
            return await view(*args, data=parsed, **kwargs)

        setattr(wrapper, QUART_SCHEMA_REQUEST_ATTRIBUTE, (model, DataSource.JSON))
        setattr(wrapper, OPTIONAL_BODY_ATTRIBUTE, optional)
        return typing.cast(F, wrapper)

    return decorate


# -- responses --------------------------------------------------------------------
def responds(model: BodyModel | tuple[BodyModel, ...], status: int = 200) -> Callable[[F], F]:
    """Declare the body answered with ``status``.

    Documented, not re-validated per request: routes build their answers from
    records' ``to_json`` and typed stores, and ``.ci/fuzz.py`` (schemathesis)
    checks every answer against these declarations.
    """

    def decorate(view: F) -> F:
        schemas: dict[int, Any] = dict(getattr(view, QUART_SCHEMA_RESPONSE_ATTRIBUTE, {}))
        schemas[status] = (model, None)
        setattr(view, QUART_SCHEMA_RESPONSE_ATTRIBUTE, schemas)
        return view

    return decorate
