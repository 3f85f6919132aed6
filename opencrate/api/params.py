"""Reading request input: body fields, ids in paths, cursors and flags.

Every helper raises :class:`~opencrate.errors.InvalidInput` naming the field or
parameter that was wrong, so each route validates *before* it touches a store
and a bad request stores nothing.

Cursors are opaque to clients: base64url of a small JSON array
``[listing, key]``. The listing name is inside so that a cursor taken from
``/api/audit`` is refused by ``/api/nodes`` instead of silently paging the wrong
thing; clients must only pass back the ``next_cursor`` they were given. The
codec (:func:`encode_cursor`, :func:`decode_cursor`) and the integer parse live
in :mod:`opencrate.validation`, shared with the CLI and the stores.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from quart import request

from opencrate.errors import InvalidInput
from opencrate.model.ids import validate_node_id
from opencrate.validation import ascii_int, decode_cursor, encode_cursor

__all__ = [
    "DEFAULT_PAGE",
    "MAX_PAGE",
    "bool_arg",
    "check_fields",
    "decode_cursor",
    "encode_cursor",
    "list_arg",
    "node_id_arg",
    "page_limit",
    "str_arg",
]

DEFAULT_PAGE = 100
#: Largest page; below the stores' own cap (1000) so a route can ask for one
#: extra row to know whether another page follows.
MAX_PAGE = 500

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def check_fields(
    body: Mapping[str, Any],
    *,
    allowed: Collection[str],
    required: Collection[str] = (),
    what: str = "request body",
) -> None:
    """Refuse a body with a missing required field or any field not in ``allowed``.

    Unknown fields are errors rather than ignored: a typo (``"vlaue"``) must
    not turn into a request that silently does something else.
    """
    for name in required:
        if name not in body:
            raise InvalidInput(f"{what} is missing {name!r}", field=name)
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise InvalidInput(
            f"{what} has unknown field {unknown[0]!r}; allowed: {sorted(allowed)}",
            field=unknown[0],
        )


def node_id_arg(raw: str, *, what: str = "node id") -> str:
    """A node id taken from a URL path or query, checked by the id rules."""
    return validate_node_id(raw, what=what)


def str_arg(name: str) -> str | None:
    """A query parameter that must not be empty when given."""
    raw = request.args.get(name)
    if raw is None:
        return None
    if not raw.strip():
        raise InvalidInput(f"query parameter {name!r} must not be empty", field=name)
    return raw


def list_arg(name: str) -> list[str]:
    """Every value of a repeatable query parameter (``?tag=a&tag=b``); none may be empty."""
    values = request.args.getlist(name)
    for value in values:
        if not value.strip():
            raise InvalidInput(f"query parameter {name!r} must not be empty", field=name)
    return values


def bool_arg(name: str, default: bool = False) -> bool:
    """A boolean query parameter: ``true/false``, ``1/0``, ``yes/no``, ``on/off``."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise InvalidInput(f"query parameter {name!r} must be true or false, got {raw!r}", field=name)


def page_limit() -> int:
    """The ``limit`` query parameter: 1..:data:`MAX_PAGE`, :data:`DEFAULT_PAGE` when absent."""
    raw = request.args.get("limit")
    if raw is None or raw == "":
        return DEFAULT_PAGE
    value = ascii_int(raw, signed=True)
    if value is None:
        raise InvalidInput(
            f"query parameter 'limit' must be an integer, got {raw[:40]!r}", field="limit"
        )
    if not 1 <= value <= MAX_PAGE:
        raise InvalidInput(
            f"query parameter 'limit' must be between 1 and {MAX_PAGE}, got {value}",
            field="limit",
        )
    return value
