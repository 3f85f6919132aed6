"""How route handlers reach the running system."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quart import current_app, request

from opencrate.validation import MAX_JSON_DEPTH, parse_json_object

if TYPE_CHECKING:
    from opencrate.app import Services

__all__ = ["json_body", "services"]

EXTENSION_KEY = "opencrate.services"


def services() -> Services:
    """The :class:`~opencrate.app.Services` of the app handling this request."""
    found: Services = current_app.extensions[EXTENSION_KEY]
    return found


async def json_body() -> dict[str, Any]:
    """The request's JSON object body; InvalidInput when it is missing or not an object.

    Also InvalidInput when it is not UTF-8, nests deeper than
    :data:`~opencrate.validation.MAX_JSON_DEPTH` (the json module would recurse
    out of stack: a RecursionError and a 500), or a string in it holds a lone
    surrogate (``"\\ud800"``): JSON allows the escape, but no store can encode it.
    See :func:`~opencrate.validation.parse_json_object`.
    """
    data = await request.get_data(as_text=False)
    assert isinstance(data, bytes)
    return parse_json_object(data, max_depth=MAX_JSON_DEPTH)
