"""How route handlers reach the running system."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quart import current_app, request

from opencrate.errors import InvalidInput

if TYPE_CHECKING:
    from opencrate.app import Services

__all__ = ["int_arg", "json_body", "services"]

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


def int_arg(name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    """An integer query parameter within bounds; InvalidInput naming it otherwise."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"query parameter {name!r} must be an integer, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f" and at most {maximum}" if maximum is not None else ""
        raise InvalidInput(f"query parameter {name!r} must be at least {minimum}{bound}")
    return value
