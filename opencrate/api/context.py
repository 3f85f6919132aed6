"""How route handlers reach the running system."""

from __future__ import annotations

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
    """The request's JSON object body; InvalidInput when it is missing or not an object."""
    data = await request.get_json(force=True, silent=True)
    if not isinstance(data, dict):
        raise InvalidInput("request body must be a JSON object")
    return data
