"""The one place where exceptions become HTTP responses.

Every error body has the same shape::

    {"error": {"code": "not_found", "message": "node 'x' not found", "detail": {...}}}
"""

from __future__ import annotations

import logging
import re
from typing import Any

from quart import Quart, Response, jsonify
from quart_schema.validation import QuerystringValidationError, RequestSchemaValidationError
from werkzeug.exceptions import BadRequest, HTTPException

from opencrate.api.status import status_for
from opencrate.errors import AuthError, OpenCrateError, RateLimited

__all__ = ["error_response", "register_error_handlers", "status_for"]

log = logging.getLogger(__name__)

#: Headers of werkzeug's own error responses that our JSON body replaces.
_BODY_HEADERS = frozenset({"content-type", "content-length"})


def error_response(
    status: int, code: str, message: str, detail: dict[str, Any] | None = None
) -> tuple[Response, int]:
    body: dict[str, Any] = {"code": code, "message": message}
    if detail:
        body["detail"] = detail
    return jsonify({"error": body}), status


def _http_error_response(exc: HTTPException) -> tuple[Response, int]:
    status = exc.code or 500
    code = (exc.name or "error").lower().replace(" ", "_")
    response, status = error_response(status, code, exc.description or exc.name or "error")
    # The headers the error carries belong to the answer: a 405's Allow (RFC
    # 9110 says it MUST be there), a 401's WWW-Authenticate, a 503's Retry-After.
    for name, value in exc.get_headers():
        if name.lower() not in _BODY_HEADERS:
            response.headers[name] = value
    return response, status


# msgspec's wording: "Object contains unknown field `x` - at `$.nodes[1]`",
# "Object missing required field `x`", "Expected `int` >= 1 - at `$.limit`".
_AT = re.compile(r"^(?P<text>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_NAMED = re.compile(r"^Object (?P<what>contains unknown|missing required) field `(?P<name>[^`]+)`$")


def describe_validation_error(exc: RequestSchemaValidationError) -> tuple[str, str | None]:
    """A message naming the field a body or query string got wrong, and that field."""
    text = str(exc.validation_error)
    query = isinstance(exc, QuerystringValidationError)
    where = "query string" if query else "request body"
    match = _AT.match(text)
    assert match is not None  # the pattern matches any text
    text, path = match["text"], (match["path"] or "").lstrip(".")
    named = _NAMED.match(text)
    if named is not None:
        field = f"{path}.{named['name']}" if path else named["name"]
        if named["what"] == "missing required":
            return f"{where} is missing {field!r}", field
        return f"{where} has unknown field {field!r}", field
    reason = text.replace("`", "")
    reason = reason[:1].lower() + reason[1:]
    if not path:
        return f"{where}: {reason}", None
    if query:
        name = path.partition("[")[0]  # a repeatable parameter's nth value: its name
        return f"query parameter {name!r}: {reason}", name
    return f"{path}: {reason}", path


def register_error_handlers(app: Quart) -> None:
    @app.errorhandler(RequestSchemaValidationError)
    async def _schema_error(exc: RequestSchemaValidationError) -> tuple[Response, int]:
        message, field = describe_validation_error(exc)
        return error_response(400, "invalid_input", message, {"field": field} if field else None)

    @app.errorhandler(OpenCrateError)
    async def _opencrate_error(exc: OpenCrateError) -> tuple[Response, int]:
        status = status_for(exc)
        if status == 500:
            log.error("request failed: %s", exc, exc_info=exc)
        elif status > 500:
            # A store going away or a device failing: the operator's news, not a bug.
            log.warning("request failed: %s (%s)", exc, exc.code)
        response, status = error_response(status, exc.code, exc.message, _jsonable(exc.detail))
        if status == 401 and isinstance(exc, AuthError):
            # RFC 9110: a 401 says how to authenticate.
            response.headers["WWW-Authenticate"] = 'Bearer realm="opencrate"'
        if isinstance(exc, RateLimited):
            response.headers["Retry-After"] = str(exc.detail.get("retry_after_s", 60))
        return response, status

    @app.errorhandler(HTTPException)
    async def _http_error(exc: HTTPException) -> tuple[Response, int]:
        if type(exc) is BadRequest:
            # Malformed JSON from request.get_json (and a ValueError from our
            # JSON provider's depth guard): the same code as any bad input.
            return error_response(400, "invalid_input", exc.description or "bad request")
        return _http_error_response(exc)


def _jsonable(detail: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v if isinstance(v, str | int | float | bool | list | None) else str(v)
        for k, v in detail.items()
    }
