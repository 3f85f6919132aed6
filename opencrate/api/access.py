"""What each route needs: the role, the body size and the body types it accepts.

Every route declares its access with one decorator, directly under the
route's own decorator, so a reader sees the rule beside the path::

    @blueprint.put("/points/<path:node_id>/override")
    @requires(Role.OPERATOR)
    async def set_override(node_id: str) -> ...

    @blueprint.get("/health")
    @public
    async def health() -> ...

The guard (:mod:`opencrate.api.guard`) reads the declaration of the route a
request matched; a route without one is refused to everybody (fail closed),
and ``tests/api/test_access.py`` fails when any route lacks one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeVar

import attrs

from opencrate.components.users.roles import Role

__all__ = [
    "JSON",
    "LARGE_BODY",
    "OCTET_STREAM",
    "PERSIST_TEXT",
    "SMALL_BODY",
    "Access",
    "Role",
    "access_of",
    "public",
    "requires",
]

F = TypeVar("F", bound=Callable[..., Any])

JSON: Final = "application/json"
OCTET_STREAM: Final = "application/octet-stream"
#: ``.persist`` text (openHAB's persistence syntax). Its own type, not
#: ``text/plain``: a web page may send ``text/plain`` to any site without a
#: CORS preflight, so a route that took it could be written to cross-site.
PERSIST_TEXT: Final = "text/x-openhab-persist"

#: The body limit of an ordinary write: a node, an override, an acknowledgement.
SMALL_BODY: Final = 64 * 1024
#: The body limit of the routes that take bulk data (property blobs, history imports).
LARGE_BODY: Final = 32 * 1024 * 1024

_ATTRIBUTE: Final = "__opencrate_access__"


def _lowercase(types: tuple[str, ...]) -> tuple[str, ...]:
    # Media types are case-insensitive; werkzeug's request.mimetype is lowercase.
    return tuple(t.lower() for t in types)


@attrs.frozen
class Access:
    """One route's declaration.

    ``role`` is ``None`` for a public route (health, login, the page's static
    files). ``content_types`` are the body types a write accepts; a body of
    any other type is refused with 415 before the route runs, so a web page
    on another site cannot reach it with a ``text/plain`` form post.
    """

    role: Role | None
    body_limit: int = attrs.field(default=SMALL_BODY, validator=attrs.validators.gt(0))
    content_types: tuple[str, ...] = attrs.field(default=(JSON,), converter=_lowercase)

    @property
    def is_public(self) -> bool:
        return self.role is None


def requires(
    role: Role,
    *,
    body_limit: int = SMALL_BODY,
    content_types: tuple[str, ...] = (JSON,),
) -> Callable[[F], F]:
    """Declare that a route needs ``role`` (or a higher one)."""
    return _declare(Access(role, body_limit, content_types))


def public(view: F) -> F:
    """Declare a route open to everybody, logged in or not."""
    return _declare(Access(None))(view)


def _declare(access: Access) -> Callable[[F], F]:
    def mark(view: F) -> F:
        setattr(view, _ATTRIBUTE, access)
        return view

    return mark


def access_of(view: Callable[..., Any]) -> Access | None:
    """The declaration of a view function, ``None`` when it has none."""
    found = getattr(view, _ATTRIBUTE, None)
    return found if isinstance(found, Access) else None
