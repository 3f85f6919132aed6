"""How route handlers reach the running system."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from quart import current_app, request

from opencrate.errors import InvalidInput

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

    Also InvalidInput when a string in it holds a lone surrogate (``"\\ud800"``):
    JSON allows the escape, but no store can encode it as UTF-8.
    """
    data = await request.get_json(force=True, silent=True)
    if not isinstance(data, dict):
        raise InvalidInput("request body must be a JSON object")
    try:
        json.dumps(data, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise InvalidInput(
            "request body has a string that is not valid Unicode (a lone surrogate escape)"
        ) from None
    return data
