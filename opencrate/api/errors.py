"""The one place where exceptions become HTTP responses.

Every error body has the same shape::

    {"error": {"code": "not_found", "message": "node 'x' not found", "detail": {...}}}
"""

from __future__ import annotations

import logging
from typing import Any

from quart import Quart, Response, jsonify
from werkzeug.exceptions import HTTPException

from opencrate.errors import (
    AuthError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    OpenCrateError,
    StoreClosed,
)

__all__ = ["error_response", "register_error_handlers", "status_for"]

log = logging.getLogger(__name__)

# Most specific first: the first matching class decides the status.
_STATUS: tuple[tuple[type[OpenCrateError], int], ...] = (
    (NotFound, 404),
    (Conflict, 409),
    (InvalidInput, 400),
    (Forbidden, 403),
    (AuthError, 401),
    (StoreClosed, 503),
    (OpenCrateError, 500),
)


def status_for(exc: OpenCrateError) -> int:
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def error_response(
    status: int, code: str, message: str, detail: dict[str, Any] | None = None
) -> tuple[Response, int]:
    body: dict[str, Any] = {"code": code, "message": message}
    if detail:
        body["detail"] = detail
    return jsonify({"error": body}), status


def register_error_handlers(app: Quart) -> None:
    @app.errorhandler(OpenCrateError)
    async def _opencrate_error(exc: OpenCrateError) -> tuple[Response, int]:
        status = status_for(exc)
        if status >= 500:
            log.error("request failed: %s", exc, exc_info=exc)
        return error_response(status, exc.code, exc.message, _jsonable(exc.detail))

    @app.errorhandler(HTTPException)
    async def _http_error(exc: HTTPException) -> tuple[Response, int]:
        status = exc.code or 500
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(status, code, exc.description or exc.name or "error")


def _jsonable(detail: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v if isinstance(v, str | int | float | bool | list | None) else str(v)
        for k, v in detail.items()
    }
