"""Request hardening: Host, body size and type, websocket Origin, response headers.

:func:`install` adds, in this order (before any authentication hook, which
:func:`opencrate.api.app.create_app` installs after it):

1. **Host** (HTTP and websocket): a Host that is not one of the server's
   names (:mod:`opencrate.api.hosts`) is refused with 400 ``invalid_host``,
   the DNS-rebinding guard.
2. **Body** (HTTP): the route's declaration (:func:`~opencrate.api.access.access_of`)
   gives its size limit and body types. A declared ``Content-Length`` over the
   limit is refused with 413 ``content_too_large`` before anything is read;
   otherwise the body is read here, in full, so a chunked body that grows past
   the limit is refused the same way (the request's body stops buffering at the
   limit), and so no route can leave a body unread, which can stall the next
   request on the same keep-alive connection (stack-feasibility.md §8, trap 3).
   A write (POST, PUT, PATCH, DELETE) with a non-empty body whose type the route
   does not take is refused with 415 ``unsupported_media_type``: a web page on
   another site can send ``text/plain`` without a CORS preflight, but never
   ``application/json``, so this is what keeps cross-site form posts out.
3. **Origin** (websocket): a browser connecting from a page of another origin
   is refused with 403 before the handshake is accepted. Browsers always send
   ``Origin`` on a websocket; clients that send none (the CLI, scripts) pass.
4. **Headers** on every HTTP response: ``X-Content-Type-Options``,
   ``X-Frame-Options``, ``Referrer-Policy``, a ``Content-Security-Policy`` the
   operator page runs under, ``Cache-Control: no-store`` under ``/api``, and
   ``Strict-Transport-Security`` when the request came over TLS.

The errors are the usual ``{"error": {"code", "message", "detail"}}`` bodies,
raised as :mod:`opencrate.errors` classes and mapped by the one error handler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from quart import Quart, Response, current_app, request, websocket
from quart_trio.wrappers.request import TrioBody, TrioRequest
from werkzeug.exceptions import RequestEntityTooLarge

from opencrate.api.access import Access, access_of
from opencrate.api.context import EXTENSION_KEY
from opencrate.api.hosts import AllowedHosts, host_of, is_same_origin
from opencrate.errors import ContentTooLarge, Forbidden, InvalidHost, UnsupportedMediaType

if TYPE_CHECKING:
    from opencrate.app import Services

__all__ = ["CONTENT_SECURITY_POLICY", "SECURITY_HEADERS", "install"]

#: Methods whose body a route acts on: their body type is checked.
_WRITES: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})

#: For a request that matched no route (a 404 or 405 follows): the small limit, any type.
_UNROUTED: Final = Access(None)

# The operator page loads only its own script and style and talks to this
# origin (connect-src 'self' covers the same-origin websocket in current
# browsers); its script sets styles through the CSSOM, which style-src allows.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

#: Sent on every HTTP response (a route may set its own value first).
SECURITY_HEADERS: Final[dict[str, str]] = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
}

#: Only over TLS: a browser then refuses plain HTTP to this host for a year.
_HSTS: Final = "max-age=31536000"

_ALLOWED_KEY: Final = "opencrate.allowed_hosts"


class LimitedBody(TrioBody):
    """A request body whose size limit can be lowered once the route is known.

    Quart fixes the limit when the request is created (from the app-wide
    ``MAX_CONTENT_LENGTH``, the largest any route declares); setting
    ``request.max_content_length`` later does not reach the body.
    """

    def limit_to(self, limit: int) -> None:
        """From now on, more than ``limit`` bytes in all is ``RequestEntityTooLarge``."""
        self._max_content_length = limit
        if len(self._data) > limit and self._must_raise is None:
            self._must_raise = RequestEntityTooLarge()
            self.set_complete()

    def was_read_whole(self) -> bool:
        """Whether the app received the whole body (not refused part way, not left unread)."""
        return self._complete.is_set() and self._must_raise is None


class GuardedRequest(TrioRequest):
    body_class = LimitedBody


def install(app: Quart) -> None:
    """Install the hooks of the module docstring on ``app`` (after its blueprints).

    Call it before installing any authentication hook: a request with a
    foreign Host or an oversized body is refused before credentials are read.
    """
    services: Services = app.extensions[EXTENSION_KEY]
    settings = services.settings
    app.extensions[_ALLOWED_KEY] = AllowedHosts.for_server(settings.host, settings.allowed_hosts)
    app.request_class = GuardedRequest
    # The backstop while a request is routed: no body buffers past the largest limit.
    app.config["MAX_CONTENT_LENGTH"] = max(
        [a.body_limit for view in app.view_functions.values() if (a := access_of(view))]
        + [_UNROUTED.body_limit]
    )
    app.before_request(_check_host)
    app.before_websocket(_check_host)
    app.before_request(_check_body)
    app.before_websocket(_check_origin)
    app.after_request(_add_headers)


def _allowed() -> AllowedHosts:
    found: AllowedHosts = current_app.extensions[_ALLOWED_KEY]
    return found


def _route_access(view_name: str | None) -> Access | None:
    if view_name is None:
        return None
    view = current_app.view_functions.get(view_name)
    return None if view is None else access_of(view) or Access(None)


async def _check_host() -> None:
    connection = websocket if websocket else request
    header = connection.headers.get("Host", "")
    host = host_of(header)
    if not _allowed().allows(host):
        shown = header[:100] or "(none)"
        raise InvalidHost(
            f"Host {shown!r} is not a name this server answers to; if it is one of this "
            "server's names, add it to [server] allowed_hosts in the settings file",
            host=header[:100],
        )


async def _check_body() -> None:
    access = _route_access(request.endpoint) or _UNROUTED
    limit = access.body_limit
    length = request.content_length
    if length is not None and length > limit:
        raise _too_large(limit, length)
    body = request.body
    assert isinstance(body, LimitedBody)
    body.limit_to(limit)
    try:
        data = await request.get_data()
    except RequestEntityTooLarge:
        raise _too_large(limit, None) from None
    if not data or request.endpoint is None or request.method not in _WRITES:
        return
    mimetype = request.mimetype
    if mimetype not in access.content_types:
        accepted = ", ".join(access.content_types)
        sent = f"Content-Type {mimetype!r}" if mimetype else "no Content-Type"
        raise UnsupportedMediaType(
            f"{request.method} {request.path} takes a body of type {accepted}; "
            f"the request sent {sent}",
            content_type=mimetype or None,
            accepted=list(access.content_types),
        )


def _too_large(limit: int, length: int | None) -> ContentTooLarge:
    sent = f" ({length} bytes)" if length is not None else ""
    return ContentTooLarge(
        f"request body{sent} is over the {_size(limit)} limit of {request.method} {request.path}",
        limit=limit,
    )


def _size(limit: int) -> str:
    if limit % (1024 * 1024) == 0:
        return f"{limit // (1024 * 1024)} MiB"
    if limit % 1024 == 0:
        return f"{limit // 1024} KiB"
    return f"{limit} bytes"


async def _check_origin() -> None:
    origin = websocket.headers.get("Origin")
    if origin is None:
        return  # not a browser: a browser always sends Origin on a websocket
    if not is_same_origin(origin, websocket.headers.get("Host", ""), scheme=websocket.scheme):
        raise Forbidden(
            f"websocket from origin {origin[:100]!r} refused: only pages of this server "
            "may open it",
            origin=origin[:100],
        )


async def _add_headers(response: Response) -> Response:
    body = request.body
    if isinstance(body, LimitedBody) and not body.was_read_whole():
        # Trap 3: the rest of a body the app did not read (a 413, a foreign Host)
        # would stall the next request on this keep-alive connection. Close it.
        response.headers["Connection"] = "close"
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.path == "/api" or request.path.startswith("/api/"):
        response.headers["Cache-Control"] = "no-store"
    if request.scheme == "https":
        response.headers.setdefault("Strict-Transport-Security", _HSTS)
    return response
