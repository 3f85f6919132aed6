"""``/api/points``: current point values and status from the in-memory PointStore."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, request

from opencrate.api.access import Role, requires
from opencrate.api.context import services
from opencrate.api.params import decode_cursor, encode_cursor, node_id_arg, page_limit
from opencrate.components.nodes.store import NodeStore
from opencrate.components.points.store import PointState, PointStore

__all__ = ["blueprint", "point_json"]

blueprint = Blueprint("points", __name__)

_LISTING = "points"


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
async def list_points() -> dict[str, Any]:
    """Every point that has a value or status: ``{"items": [...], "next_cursor"}``.

    Sorted by node id; ``limit`` 1..500 (default 100), ``cursor`` as in every
    paged listing; ``under`` keeps the points within a node's subtree (404 for
    an unknown node). The page is taken from one snapshot of the point table.
    """
    svc = services()
    limit = page_limit()
    after = decode_cursor(_LISTING, request.args.get("cursor"), str)
    under_raw = request.args.get("under")
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
async def get_point(node_id: str) -> dict[str, Any]:
    """A point's current value, status and timestamp.

    404 when no node has this id; 200 with ``value: null`` and status
    ``unknown`` for a known node that has no value yet.
    """
    svc = services()
    node = svc.get(NodeStore).get(node_id_arg(node_id))
    return point_json(node.id, svc.get(PointStore).get(node.id))
