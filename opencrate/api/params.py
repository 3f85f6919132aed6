"""Reading request input the declared models cannot check: node ids, record bodies, cursors.

Types, ranges, enumerations, required and unknown fields of query strings and
bodies are the routes' models (:mod:`opencrate.api.contract`). What is left
here: the node-id rules, a record body's fields (a node is checked by its own
converters), and cursors. Every helper raises
:class:`~opencrate.errors.InvalidInput` naming the field or parameter that was
wrong, so each route validates *before* it touches a store and a bad request
stores nothing.

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

from opencrate.errors import InvalidInput
from opencrate.model.ids import validate_node_id
from opencrate.validation import decode_cursor, encode_cursor

__all__ = [
    "DEFAULT_PAGE",
    "MAX_PAGE",
    "check_fields",
    "decode_cursor",
    "encode_cursor",
    "node_id_arg",
]

DEFAULT_PAGE = 100
#: Largest page; below the stores' own cap (1000) so a route can ask for one
#: extra row to know whether another page follows.
MAX_PAGE = 500


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
