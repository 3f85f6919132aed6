"""Login, logout, who am I; users and their API tokens (admin, or the user themself).

``POST /api/login`` is public; everything else needs a login. Managing users
is for admins. A user may also change their own password (with the current
one) and list, create and revoke their own tokens, which is how
``opencrate login`` gets the CLI its token; an admin may do all of it for
anybody. Every write is recorded in the audit log.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from quart import Blueprint, Response, jsonify, request

from opencrate.api.access import Role, public, requires
from opencrate.api.auditing import audit_write
from opencrate.api.authentication import SESSION_COOKIE, current_principal, set_principal
from opencrate.api.context import services
from opencrate.api.contract import (
    NO_CONTENT,
    body,
    list_of,
    path_parameter,
    record_component,
    responds,
)
from opencrate.components.overrides.routes import parse_expiry_ms
from opencrate.components.users.auth import Authenticator
from opencrate.components.users.records import Principal, TokenInfo, User, validate_name
from opencrate.components.users.store import UserStore
from opencrate.errors import Conflict, Forbidden, NotFound
from opencrate.runtime.records import to_json

__all__ = ["blueprint"]

blueprint = Blueprint("users", __name__)

#: Names of users and tokens (checked again by ``validate_name``, which words the errors).
Name = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, description="A user or token name.")
]
Password = Annotated[str, msgspec.Meta(description="At least 10 characters, not the user name.")]
Expiry = Annotated[
    int | str | None,
    msgspec.Meta(description="Epoch ms, ISO 8601, or a duration from now ('90d'); null: never."),
]
path_parameter("name", {"type": "string", "minLength": 1, "maxLength": 64})
path_parameter("token_id", {"type": "string", "minLength": 1, "maxLength": 64})


# -- wire models -------------------------------------------------------------------
USER = record_component(User)
TOKEN = record_component(TokenInfo)
#: A new token: its TokenInfo and, in this answer only, its secret.
NEW_TOKEN = record_component(
    TokenInfo,
    name="NewToken",
    optional={"secret": {"type": "string", "description": "oc_...: shown in this answer only."}},
)


class UserPage(msgspec.Struct):
    items: Annotated[list[Any], list_of(USER)]


class TokenPage(msgspec.Struct):
    items: Annotated[list[Any], list_of(TOKEN)]


class LoginBody(msgspec.Struct, forbid_unknown_fields=True):
    user: str
    password: str


class LoginAnswer(msgspec.Struct):
    user: str
    role: Role
    csrf_token: Annotated[str, msgspec.Meta(description="Send as X-CSRF-Token with writes.")]


class TokenRef(msgspec.Struct):
    id: str
    name: str


class MeAnswer(msgspec.Struct):
    user: str
    role: Role
    token: TokenRef | None
    csrf_token: str | None
    anonymous: bool


class NewUserBody(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    password: Password
    role: Role = Role.VIEWER


class UserChangeBody(msgspec.Struct, forbid_unknown_fields=True):
    role: Role | None = None
    disabled: bool | None = None


class PasswordBody(msgspec.Struct, forbid_unknown_fields=True):
    password: Password
    current_password: Annotated[
        str | None, msgspec.Meta(description="Needed to change one's own (not as an admin).")
    ] = None


class NewTokenBody(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    role: Role | None = None
    expires: Expiry = None


class NoBody(msgspec.Struct, forbid_unknown_fields=True):
    """Logout takes no body; one that is sent must be an empty JSON object."""


def _me_json(principal: Principal) -> dict[str, Any]:
    return {
        "user": principal.user,
        "role": principal.role,
        "token": None
        if principal.token_id is None
        else {"id": principal.token_id, "name": principal.token_name},
        "csrf_token": principal.csrf_token,
        "anonymous": principal.anonymous,
    }


def _self_or_admin(name: str) -> Principal:
    """The principal, when it is ``name`` themself or an admin; Forbidden otherwise."""
    principal = current_principal()
    if principal.anonymous or (principal.user != name and not principal.role.allows(Role.ADMIN)):
        raise Forbidden(f"only {name!r} themself or an admin may do this")
    return principal


@blueprint.post("/login")
@public
@body(LoginBody)
@responds(LoginAnswer)
async def login(data: LoginBody) -> Response:
    """Log in: body ``{"user", "password"}``; sets the session cookie.

    Returns ``{"user", "role", "csrf_token"}``; the page sends ``csrf_token``
    as ``X-CSRF-Token`` with every write. 401 with the same body for an
    unknown user, a wrong password and a disabled user; 429 with
    ``Retry-After`` after too many failures for the user or the address.
    """
    auth = services().get(Authenticator)
    done = await auth.login(data.user, data.password, address=request.remote_addr or "")
    set_principal(Principal(user=done.user.name, role=done.user.role, session=done.session.digest))
    await audit_write("user.login", done.user.name)
    response = jsonify(
        {"user": done.user.name, "role": done.user.role, "csrf_token": done.session.csrf_token}
    )
    response.set_cookie(
        SESSION_COOKIE,
        done.secret,
        max_age=auth.settings.session_lifetime_ms // 1000,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=request.scheme in ("https", "wss"),
    )
    return response


@blueprint.post("/logout")
@requires(Role.VIEWER)
@body(NoBody, optional=True)
@responds(NO_CONTENT, 204)
async def logout(data: NoBody) -> Response:
    """End the session of the cookie and clear it (with a token: nothing to end); 204."""
    principal = current_principal()
    await services().get(Authenticator).logout(principal)
    if principal.session is not None:
        await audit_write("user.logout", principal.user)
    response = Response("", status=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@blueprint.get("/me")
@requires(Role.VIEWER)
@responds(MeAnswer)
async def me() -> dict[str, Any]:
    """Who is calling: ``{"user", "role", "token", "csrf_token", "anonymous"}``.

    ``token`` is ``{"id", "name"}`` for a bearer token (null for a session);
    ``csrf_token`` is the session's (null for a token).
    """
    return _me_json(current_principal())


@blueprint.get("/users")
@requires(Role.ADMIN)
@responds(UserPage)
async def list_users() -> dict[str, Any]:
    """Every user: ``{"items": [{"name", "role", "disabled", "created_ms", "updated_ms"}]}``."""
    users = await services().get(UserStore).list_users()
    return {"items": [to_json(user) for user in users]}


@blueprint.post("/users")
@requires(Role.ADMIN)
@body(NewUserBody)
@responds(USER, 201)
async def add_user(data: NewUserBody) -> tuple[dict[str, Any], int]:
    """Add a user: body ``{"name", "password", "role"}`` (role default ``viewer``); 201.

    400 for a bad name, role or password (the message says which rule), 409
    when the name is taken.
    """
    user = await services().get(Authenticator).add_user(data.name, data.role, data.password)
    await audit_write("user.create", user.name, {"role": user.role})
    return to_json(user), 201


@blueprint.get("/users/<name>")
@requires(Role.ADMIN)
@responds(USER)
async def get_user(name: str) -> dict[str, Any]:
    """One user; 404 when there is none."""
    return to_json(await services().get(UserStore).get_user(name))


@blueprint.patch("/users/<name>")
@requires(Role.ADMIN)
@body(UserChangeBody)
@responds(USER)
async def update_user(name: str, data: UserChangeBody) -> dict[str, Any]:
    """Change ``role`` and/or ``disabled``; takes effect on the user's next request.

    Disabling ends the user's sessions and refuses their tokens at once. An
    admin cannot disable or demote themself (409), so the last admin cannot
    lock everybody out by mistake.
    """
    role, disabled = data.role, data.disabled
    if name == current_principal().user and (disabled or (role and role != Role.ADMIN)):
        raise Conflict("an admin cannot disable or demote themself; ask another admin")
    user = await services().get(Authenticator).update_user(name, role=role, disabled=disabled)
    changes = {k: v for k, v in (("role", role), ("disabled", disabled)) if v is not None}
    await audit_write("user.update", name, changes)
    return to_json(user)


@blueprint.put("/users/<name>/password")
@requires(Role.VIEWER)
@body(PasswordBody)
@responds(NO_CONTENT, 204)
async def set_password(name: str, data: PasswordBody) -> Response:
    """Set a password: body ``{"password"}``, and ``{"current_password"}`` for one's own.

    An admin may set anybody's; anybody else only their own, with the
    current one (403 when it is wrong). The user's other sessions end. 204.
    """
    principal = _self_or_admin(name)
    auth = services().get(Authenticator)
    await services().get(UserStore).get_user(name)  # 404 before anything else
    if not principal.role.allows(Role.ADMIN):
        current = data.current_password
        if current is None or not await auth.password_matches(
            name, current, address=request.remote_addr or ""
        ):
            raise Forbidden("current_password is wrong")
    keep = principal.session if principal.user == name else None
    await auth.set_password(name, data.password, keep_session=keep)
    await audit_write("user.password", name)
    return Response("", status=204)


@blueprint.get("/users/<name>/tokens")
@requires(Role.VIEWER)
@responds(TokenPage)
async def list_tokens(name: str) -> dict[str, Any]:
    """The user's API tokens, revoked ones too (never their secrets); the user or an admin."""
    _self_or_admin(name)
    tokens = await services().get(UserStore).list_tokens(name)
    return {"items": [to_json(token) for token in tokens]}


@blueprint.post("/users/<name>/tokens")
@requires(Role.VIEWER)
@body(NewTokenBody)
@responds(NEW_TOKEN, 201)
async def create_token(name: str, data: NewTokenBody) -> tuple[dict[str, Any], int]:
    """A new API token: body ``{"name", "role"?, "expires"?}``; 201 with its ``secret``.

    The secret (``oc_...``) is in this answer only: it is stored hashed.
    ``role`` defaults to the user's and cannot be above it; ``expires`` is
    epoch ms, an ISO 8601 time or a duration (``"90d"``), absent for none.
    The user themself or an admin; 409 when the user has a live token so named.
    """
    _self_or_admin(name)
    auth = services().get(Authenticator)
    expires_ms = parse_expiry_ms(data.expires, auth.clock.now_ms())
    made = await auth.create_token(
        name,
        validate_name(data.name, what="token name"),
        role=data.role,
        expires_ms=expires_ms,
    )
    await audit_write(
        "token.create",
        made.info.id,
        {"owner": name, "name": made.info.name, "role": made.info.role},
    )
    return {**to_json(made.info), "secret": made.secret}, 201


@blueprint.delete("/tokens/<token_id>")
@requires(Role.VIEWER)
@responds(TOKEN)
async def revoke_token(token_id: str) -> dict[str, Any]:
    """Revoke a token: refused from the next request on. Its owner or an admin.

    404 for no such token (also for somebody else's, to a non-admin), 409
    when it is already revoked. Returns the token.
    """
    token = await services().get(UserStore).get_token(token_id)
    try:
        _self_or_admin(token.owner)
    except Forbidden:
        # Somebody else's token does not exist for you: ids are not to be probed.
        raise NotFound(f"token {token_id!r} not found", token=token_id) from None
    revoked = await services().get(Authenticator).revoke_token(token_id)
    await audit_write("token.revoke", token_id, {"owner": revoked.owner, "name": revoked.name})
    return to_json(revoked)
