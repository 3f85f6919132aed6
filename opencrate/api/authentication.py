"""Who a request is, and whether the route it matched lets them in.

One ``before_request`` and one ``before_websocket`` hook (installed by
:func:`install`) run before every route:

1. find the matched view's declaration (:func:`~opencrate.api.access.access_of`);
   a route without one is refused to everybody (403, fail closed);
2. a public route runs for anybody;
3. otherwise the credentials: ``Authorization: Bearer oc_...`` (an API
   token), else the ``opencrate_session`` cookie (a login of the web page),
   else the anonymous viewer when ``[users] anonymous_viewer`` is on. None of
   these, or one that is unknown, revoked or expired: 401 with
   ``WWW-Authenticate: Bearer``;
4. a role below the route's: 403;
5. a cookie-authenticated write (POST, PUT, PATCH, DELETE) must carry the
   session's CSRF token in ``X-CSRF-Token`` (403 otherwise). A page on
   another site can make the browser send the cookie (SameSite=Strict aside),
   but it cannot read the token. Bearer requests need none: a browser never
   adds that header by itself.

Routes read who is calling with :func:`current_principal`.
"""

from __future__ import annotations

import hmac
from typing import Final

from quart import Quart, current_app, g, request, websocket
from quart.wrappers import Request, Websocket

from opencrate.api.access import access_of
from opencrate.api.context import services
from opencrate.components.users.auth import Authenticator
from opencrate.components.users.records import Principal
from opencrate.errors import AuthError, Forbidden

__all__ = [
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "WRITE_METHODS",
    "current_principal",
    "install",
]

SESSION_COOKIE: Final = "opencrate_session"
CSRF_HEADER: Final = "X-CSRF-Token"
WRITE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})

_PRINCIPAL: Final = "opencrate_principal"


def install(app: Quart) -> None:
    """Check every request and websocket before its route runs."""
    app.before_request(_check_request)
    app.before_websocket(_check_websocket)


def current_principal() -> Principal:
    """Who the current request comes from; AuthError when nobody (a public route's caller)."""
    found = g.get(_PRINCIPAL)
    if not isinstance(found, Principal):
        raise AuthError("not logged in")
    return found


async def _check_request() -> None:
    await _check(request)


async def _check_websocket() -> None:
    await _check(websocket)


async def _check(incoming: Request | Websocket) -> None:
    rule = incoming.url_rule
    if rule is None:
        return  # no route matched: the 404 or 405 follows
    access = access_of(current_app.view_functions[rule.endpoint])
    if access is None:
        raise Forbidden(f"route {rule.rule} declares no access; refused to everybody")
    if access.is_public:
        return
    principal = await _identify(incoming)
    if principal is None:
        raise AuthError("not logged in: send a token (Authorization: Bearer) or log in")
    assert access.role is not None
    if not principal.role.allows(access.role):
        raise Forbidden(
            f"this needs the {access.role} role; {principal.audit_name} has {principal.role}",
            role=str(principal.role),
            needed=str(access.role),
        )
    if principal.session is not None and incoming.method in WRITE_METHODS:
        sent = incoming.headers.get(CSRF_HEADER, "")
        assert principal.csrf_token is not None
        if not hmac.compare_digest(sent.encode(), principal.csrf_token.encode()):
            raise Forbidden(
                f"a write with the session cookie needs the {CSRF_HEADER} header "
                "(the csrf_token of POST /api/login or GET /api/me)"
            )
    setattr(g, _PRINCIPAL, principal)


async def _identify(incoming: Request | Websocket) -> Principal | None:
    auth = services().get(Authenticator)
    header = incoming.headers.get("Authorization")
    if header is not None:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise AuthError("Authorization must be 'Bearer <token>'")
        found = await auth.principal_for_token(secret.strip())
        if found is None:
            raise AuthError("token is unknown, revoked or expired")
        return found
    cookie = incoming.cookies.get(SESSION_COOKIE)
    if cookie:
        return await auth.principal_for_session(cookie)
    return auth.anonymous()


def set_principal(principal: Principal) -> None:
    """Make ``principal`` the current request's (for a public route that identifies itself)."""
    setattr(g, _PRINCIPAL, principal)
