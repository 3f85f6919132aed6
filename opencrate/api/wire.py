"""Wire models shared by several route groups: paging, filters, small answers.

See :mod:`opencrate.api.contract` for how routes declare them. Constraints are
``msgspec.Meta`` on the field, so the schema shows them and the conversion
enforces them.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from opencrate.api.contract import path_parameter
from opencrate.api.params import DEFAULT_PAGE, MAX_PAGE
from opencrate.model.ids import MAX_NODE_ID_LENGTH

__all__ = [
    "NODE_ID_SCHEMA",
    "POSITIVE_ID_SCHEMA",
    "Cursor",
    "IdList",
    "Limit",
    "NodeIdText",
    "PageQuery",
    "Text",
]

#: A non-blank text parameter (``?user=``, ``?action=``).
Text = Annotated[str, msgspec.Meta(pattern=r"\S", description="Not empty.")]
#: A node id in a query (``?under=``, ``?node=``); the node-id rules are checked by the route.
NodeIdText = Annotated[str, msgspec.Meta(description="A node id, e.g. 1001/analog-input-1.")]
#: A page size.
Limit = Annotated[int, msgspec.Meta(ge=1, le=MAX_PAGE, description=f"Page size, 1..{MAX_PAGE}.")]
#: The ``next_cursor`` of the previous page, passed back as given.
Cursor = Annotated[str, msgspec.Meta(description="The previous page's next_cursor.")]
IdList = Annotated[list[str], msgspec.Meta(description="Node ids.")]


class PageQuery(msgspec.Struct, kw_only=True):
    """``limit`` and ``cursor``, as every paged listing takes them."""

    limit: Limit = DEFAULT_PAGE
    cursor: Cursor | None = None


#: The node-id rules (:func:`~opencrate.model.ids.validate_node_id`) as a schema:
#: no control character, no surrounding blank, no leading, trailing or double '/'.
NODE_ID_SCHEMA: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_NODE_ID_LENGTH,
    "pattern": r"^(?!/)(?!.*//)(?!.*/$)[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*"
    r"[^\s\x00-\x1f\x7f-\x9f])?$",
}
#: A positive 64-bit id in a path (alarms, events).
POSITIVE_ID_SCHEMA: dict[str, Any] = {"type": "string", "pattern": r"^0*[1-9][0-9]{0,17}$"}

for _name in ("node_id", "point_id"):
    path_parameter(_name, NODE_ID_SCHEMA)
for _name in ("alarm_id", "event_id"):
    path_parameter(_name, POSITIVE_ID_SCHEMA)
