"""Persistent properties: read, write and delete one property; stream a binary one.

``GET /api/properties/{context}/{name}`` answers from the PropertyStore's cache.
A binary value comes back as a description (``kind`` ``bytes`` or ``blob``,
``size``, ``sha256``, ``blob_url``), never inline: the bytes are fetched from
``.../blob``, streamed as ``application/octet-stream`` one stored block at a
time. ``PUT`` with ``Content-Type: application/octet-stream`` stores the raw
body as bytes; any other ``PUT`` takes a JSON body ``{"value": <any JSON>}``.
The context may contain ``/``; the name is the last path segment (``blob`` is
reserved). Writes are recorded in the audit log.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Annotated, Any, Literal

import msgspec
from quart import Blueprint, Response, request

from opencrate.api.access import JSON, LARGE_BODY, OCTET_STREAM, Role, requires
from opencrate.api.auditing import audit_write
from opencrate.api.context import services
from opencrate.api.contract import Content, load_body, path_parameter, request_body, responds
from opencrate.components.properties.store import PropertyStore
from opencrate.components.properties.values import (
    CONTEXT_PATTERN,
    MAX_CONTEXT_LENGTH,
    MAX_NAME_LENGTH,
    NAME_PATTERN,
    RESERVED_NAMES,
    BlobRef,
    StoredValue,
    check_context,
    check_name,
)
from opencrate.errors import Conflict, InvalidInput

__all__ = ["blueprint", "property_json"]

log = logging.getLogger(__name__)

blueprint = Blueprint("properties", __name__)

path_parameter(
    "context",
    {"type": "string", "maxLength": MAX_CONTEXT_LENGTH, "pattern": f"^{CONTEXT_PATTERN}$"},
)
path_parameter(
    "name",
    {
        "type": "string",
        "maxLength": MAX_NAME_LENGTH,
        "pattern": f"^{NAME_PATTERN}$",
        "not": {"enum": sorted(RESERVED_NAMES)},
    },
)

_BINARY = Content(OCTET_STREAM, {"type": "string", "format": "binary"}, "The raw bytes")


class PropertyView(msgspec.Struct, omit_defaults=True):
    """A property: a JSON ``value``, or a binary one described (fetch it from ``blob_url``)."""

    context: str
    name: str
    kind: Literal["json", "bytes", "blob"]
    value: Annotated[Any, msgspec.Meta(description="kind json only")] = None
    size: int | None = None
    sha256: str | None = None
    chunks: int | None = None
    blob_url: str | None = None


class PropertyBody(msgspec.Struct, forbid_unknown_fields=True):
    value: Annotated[Any, msgspec.Meta(description="Any JSON value.")]


class PropertyDeleted(msgspec.Struct):
    context: str
    name: str
    deleted: bool


def property_json(context: str, name: str, value: StoredValue) -> dict[str, Any]:
    """The JSON form of a property; binary values are described, not included."""
    out: dict[str, Any] = {"context": context, "name": name}
    if isinstance(value, BlobRef):
        out.update(kind="blob", size=value.size, sha256=value.sha256, chunks=value.chunks)
    elif isinstance(value, bytes):
        out.update(kind="bytes", size=len(value))
    else:
        out.update(kind="json", value=value)
        return out
    out["blob_url"] = f"/api/properties/{context}/{name}/blob"
    return out


@blueprint.get("/properties/<path:context>/<name>")
@requires(Role.VIEWER)
@responds(PropertyView)
async def get_property(context: str, name: str) -> dict[str, Any]:
    """One property (404 when it does not exist, 400 for a bad context or name)."""
    return property_json(context, name, services().get(PropertyStore).get(context, name))


@blueprint.put("/properties/<path:context>/<name>")
@requires(Role.ADMIN, body_limit=LARGE_BODY, content_types=(JSON, OCTET_STREAM))
@request_body((PropertyBody, _BINARY))
@responds(PropertyView)
async def put_property(context: str, name: str) -> dict[str, Any]:
    """Set a property from ``{"value": ...}`` or, as ``application/octet-stream``, raw bytes.

    Returns the property as ``GET`` would. 400 (nothing stored) for a bad
    context or name, a body that is not ``{"value"}``, or a value that is not
    JSON.
    """
    check_context(context)
    check_name(name)
    store = services().get(PropertyStore)
    value: Any
    if request.mimetype == OCTET_STREAM:
        value = await request.get_data()
        detail: dict[str, Any] = {"bytes": len(value)}
    else:
        value = (await load_body(PropertyBody)).value
        detail = {"kind": "json"}
    stored = await store.put(context, name, value)
    await audit_write("property.put", f"{context}/{name}", detail)
    return property_json(context, name, stored)


@blueprint.delete("/properties/<path:context>/<name>")
@requires(Role.ADMIN)
@responds(PropertyDeleted)
async def delete_property(context: str, name: str) -> dict[str, Any]:
    """Delete a property and its blocks; 404 when it does not exist."""
    await services().get(PropertyStore).delete(context, name)
    await audit_write("property.delete", f"{context}/{name}")
    return {"context": context, "name": name, "deleted": True}


@blueprint.get("/properties/<path:context>/<name>/blob")
@requires(Role.VIEWER)
@responds(_BINARY)
async def get_blob(context: str, name: str) -> Response:
    """The bytes of a binary property, streamed one stored block at a time.

    404 when the property does not exist, 400 when it is not binary. If the
    value is replaced mid-stream the response ends early (``Content-Length``
    tells the client it is short) and the server logs it.
    """
    store = services().get(PropertyStore)
    value = store.get(context, name)
    if isinstance(value, BlobRef):
        size = value.size
    elif isinstance(value, bytes):
        size = len(value)
    else:
        raise InvalidInput(f"property {context}/{name} is not binary", field="name")

    async def body() -> AsyncIterator[bytes]:
        try:
            # aclosing: a download cut short (a client dropped for not reading)
            # closes the block reader now, not whenever the collector finds it.
            async with aclosing(store.iter_blob(context, name)) as blocks:
                async for chunk in blocks:
                    yield chunk
        except Conflict as exc:
            log.warning("blob download cut short: %s", exc)

    response = Response(body(), content_type=OCTET_STREAM)
    response.headers["Content-Length"] = str(size)
    return response
