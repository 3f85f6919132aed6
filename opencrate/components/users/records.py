"""What the users component hands out: users, tokens, sessions, and who a request is."""

from __future__ import annotations

import hashlib
import re

from attrs import frozen

from opencrate.components.users.roles import Role
from opencrate.errors import InvalidInput
from opencrate.runtime.records import column, enum_codec

__all__ = [
    "TOKEN_PREFIX",
    "Principal",
    "Session",
    "TokenInfo",
    "User",
    "secret_digest",
    "validate_name",
]

#: Every API token starts with this, so a leaked one is recognisable (and greppable).
TOKEN_PREFIX = "oc_"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


def validate_name(raw: object, *, what: str) -> str:
    """A user or token name: 1-64 letters, digits or ``. _ @ -``, not starting with a sign."""
    if not isinstance(raw, str) or not _NAME.match(raw):
        shown = repr(raw)[:40]
        raise InvalidInput(
            f"{what} must be 1-64 letters, digits or . _ @ - (starting with a letter or digit), "
            f"got {shown}",
            field="name" if what.endswith("name") else what,
        )
    return raw


def secret_digest(secret: str) -> str:
    """The sha256 (hex) a token or session secret is stored and looked up by.

    The secrets are 32 random bytes, so a fast hash is enough: nobody can
    guess one, and the database never holds anything that would let in.
    """
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


_ROLE = enum_codec(Role)


@frozen(kw_only=True)
class User:
    """A user as the API shows it (never the password hash); its JSON shape is the API's."""

    name: str = column()
    role: Role = column(codec=_ROLE)
    disabled: bool = column()
    created_ms: int = column()
    updated_ms: int = column()


@frozen(kw_only=True)
class TokenInfo:
    """An API token as listed: everything but the secret (shown once, at creation)."""

    id: str = column()
    name: str = column()
    owner: str = column()
    role: Role = column(codec=_ROLE)
    created_ms: int = column()
    expires_ms: int | None = column()
    last_used_ms: int | None = column()
    revoked_ms: int | None = column()


@frozen(kw_only=True)
class Session:
    """A login session of the web page (its cookie secret is known only to the browser)."""

    digest: str
    user: str
    csrf_token: str
    created_ms: int
    expires_ms: int


@frozen(kw_only=True)
class Principal:
    """Who a request comes from, and what they may do.

    ``role`` is what the request may do: a token's own role, never more than
    its owner's current role. ``token_name`` / ``token_id`` are set for a
    bearer token, ``session`` (the session's digest) and ``csrf_token`` for a
    cookie login; neither for the anonymous viewer.
    """

    user: str
    role: Role
    token_name: str | None = None
    token_id: str | None = None
    session: str | None = None
    csrf_token: str | None = None
    anonymous: bool = False

    @property
    def audit_name(self) -> str:
        """The name the audit log records: ``alice``, or ``alice (token backup-script)``."""
        if self.token_name is not None:
            return f"{self.user} (token {self.token_name})"
        return self.user
