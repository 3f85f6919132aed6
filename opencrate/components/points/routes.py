"""``/api/points``: current point values and status from the in-memory PointStore."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from quart import Blueprint

from opencrate.api.access import Role, requires
from opencrate.api.context import services
from opencrate.api.contract import query, responds
from opencrate.api.params import decode_cursor, encode_cursor, node_id_arg
from opencrate.api.wire import NodeIdText, PageQuery
from opencrate.components.nodes.store import NodeStore
from opencrate.components.points.store import PointState, PointStore
from opencrate.model.values import PointStatus

__all__ = ["blueprint", "point_json"]

blueprint = Blueprint("points", __name__)

_LISTING = "points"

#: A point's value: a number, a boolean or text (null before the first reading).
PointValueSchema = Annotated[
    float | bool | str | None, msgspec.Meta(description="null until the point is first read")
]


class PointView(msgspec.Struct):
    """A point's current value, status and timestamp."""

    node_id: str
    value: PointValueSchema
    status: PointStatus
    ts_ms: int | None
    overridden: bool


class PointsQuery(PageQuery, kw_only=True):
    under: NodeIdText | None = None


class PointPage(msgspec.Struct):
    items: list[PointView]
    next_cursor: str | None


def point_json(node_id: str, state: PointState | None) -> dict[str, Any]:
    """``{"node_id", "value", "status", "ts_ms", "overridden"}``; value and ts_ms null if unread."""
    if state is None:
        return {
            "node_id": node_id,
            "value": None,
            "status": "unknown",
            "ts_ms": None,
            "overridden": False,
        }
    return {
        "node_id": node_id,
        "value": state.value,
        "status": state.status.value,
        "ts_ms": state.ts_ms,
        "overridden": services().get(PointStore).is_overridden(node_id),
    }


@blueprint.get("/points")
@requires(Role.VIEWER)
@query(PointsQuery)
@responds(PointPage)
async def list_points(query_args: PointsQuery) -> dict[str, Any]:
    """Every point that has a value or status: ``{"items": [...], "next_cursor"}``.

    Sorted by node id; ``limit`` 1..500 (default 100), ``cursor`` as in every
    paged listing; ``under`` keeps the points within a node's subtree (404 for
    an unknown node). The page is taken from one snapshot of the point table.
    """
    svc = services()
    limit = query_args.limit
    after = decode_cursor(_LISTING, query_args.cursor, str)
    under_raw = query_args.under
    snapshot = svc.get(PointStore).snapshot()
    ids = sorted(snapshot)
    if under_raw is not None:
        within = svc.get(NodeStore).subtree_ids(node_id_arg(under_raw, what="under"))
        ids = [node_id for node_id in ids if node_id in within]
    if after is not None:
        ids = [node_id for node_id in ids if node_id > after]
    page = ids[:limit]
    return {
        "items": [point_json(node_id, snapshot[node_id]) for node_id in page],
        "next_cursor": encode_cursor(_LISTING, page[-1]) if len(ids) > limit else None,
    }


@blueprint.get("/points/<path:node_id>")
@requires(Role.VIEWER)
@responds(PointView)
async def get_point(node_id: str) -> dict[str, Any]:
    """A point's current value, status and timestamp.

    404 when no node has this id; 200 with ``value: null`` and status
    ``unknown`` for a known node that has no value yet.
    """
    svc = services()
    node = svc.get(NodeStore).get(node_id_arg(node_id))
    return point_json(node.id, svc.get(PointStore).get(node.id))
