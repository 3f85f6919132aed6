"""Operator overrides: list the active ones, set one on a point, release it.

``PUT`` and ``DELETE`` on ``/api/points/{id}/override`` go through the
OverrideStore, which keeps the override on top of whatever the field reports
and ends it at its expiry. Both are recorded in the audit log.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from quart import Blueprint

from opencrate.api.access import Role, requires
from opencrate.api.auditing import audit_write, current_user
from opencrate.api.context import services
from opencrate.api.contract import body, list_of, query, record_component, responds
from opencrate.api.params import decode_cursor, encode_cursor, node_id_arg
from opencrate.api.wire import NodeIdText, PageQuery
from opencrate.clock import parse_time_ms
from opencrate.components.nodes.store import NodeStore
from opencrate.components.nodes.well_known import value_range
from opencrate.components.overrides.store import EndedOverride, Override, OverrideStore
from opencrate.errors import InvalidInput
from opencrate.runtime.records import to_json

__all__ = ["blueprint", "parse_expiry_ms"]

blueprint = Blueprint("overrides", __name__)

_LISTING = "overrides"
_HISTORY = "override-history"

OVERRIDE = record_component(Override)
ENDED_OVERRIDE = record_component(EndedOverride)


class OverridePage(msgspec.Struct):
    items: Annotated[list[Any], list_of(OVERRIDE)]
    next_cursor: str | None


class EndedPage(msgspec.Struct):
    items: Annotated[list[Any], list_of(ENDED_OVERRIDE)]
    next_cursor: str | None


class OverrideHistoryQuery(PageQuery, kw_only=True):
    node: NodeIdText | None = None


class OverrideBody(msgspec.Struct, forbid_unknown_fields=True):
    value: Annotated[
        float | bool | str, msgspec.Meta(description="Coerced to the point's kind ('21.5').")
    ]
    reason: str = ""
    expires: Annotated[
        int | str | None,
        msgspec.Meta(description="Epoch ms, ISO 8601, or a duration from now; null: never."),
    ] = None


def parse_expiry_ms(raw: object, now_ms: int) -> int | None:
    """An override's ``expires``: null, epoch ms, an ISO 8601 time, or a duration from now.

    Durations are ``"90s"``, ``"15m"``, ``"2h"``, ``"7d"``; naive ISO times are
    UTC. Raises InvalidInput naming ``expires`` for anything else. (Whether it
    lies in the future is the OverrideStore's check.)
    """
    if raw is None:
        return None
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInput(
            "expires must be epoch ms, an ISO 8601 time or a duration like '2h'", field="expires"
        )
    try:
        return parse_time_ms(raw, now_ms=now_ms, ahead=True)
    except InvalidInput as exc:
        raise InvalidInput(f"expires: {exc}", field="expires") from None


@blueprint.get("/overrides")
@requires(Role.VIEWER)
@query(PageQuery)
@responds(OverridePage)
async def list_overrides(query_args: PageQuery) -> dict[str, Any]:
    """Active overrides by node id: ``{"items": [...], "next_cursor"}`` (``limit``, ``cursor``).

    Each item: ``node_id``, ``value``, ``user``, ``reason``, ``set_ms``,
    ``expires_ms`` (null: until released) and ``previous`` (the point's state
    before the override, or null).
    """
    limit = query_args.limit
    after = decode_cursor(_LISTING, query_args.cursor, str)
    active = services().get(OverrideStore).active()
    if after is not None:
        active = [o for o in active if o.node_id > after]
    page = active[:limit]
    return {
        "items": [to_json(o) for o in page],
        "next_cursor": encode_cursor(_LISTING, page[-1].node_id) if len(active) > limit else None,
    }


@blueprint.get("/overrides/history")
@requires(Role.VIEWER)
@query(OverrideHistoryQuery)
@responds(EndedPage)
async def override_history(query_args: OverrideHistoryQuery) -> dict[str, Any]:
    """Ended overrides newest first (``node`` to pick one point; ``limit``, ``cursor``).

    Each item adds ``id``, ``ended_ms``, ``ended_by`` and ``end_reason``
    (``released``, ``expired`` or ``replaced``).
    """
    limit = query_args.limit
    before_id = decode_cursor(_HISTORY, query_args.cursor, int)
    node_raw = query_args.node
    node_id = None if node_raw is None else node_id_arg(node_raw, what="node")
    ended = (
        await services().get(OverrideStore).history(node_id, limit=limit + 1, before_id=before_id)
    )
    page = ended[:limit]
    return {
        "items": [to_json(e) for e in page],
        "next_cursor": encode_cursor(_HISTORY, page[-1].id) if len(ended) > limit else None,
    }


@blueprint.put("/points/<path:node_id>/override")
@requires(Role.OPERATOR)
@body(OverrideBody)
@responds(OVERRIDE)
async def set_override(node_id: str, data: OverrideBody) -> dict[str, Any]:
    """Override a point: body ``{"value", "reason"?, "expires"?}``; returns the override.

    The value is coerced to the point's ``kind`` when it has one (``"21.5"``
    for a number point). ``expires`` is epoch ms, ISO 8601 or a duration from
    now (``"2h"``); absent or null: until released. 404 for an unknown node,
    400 for a node that is not a point, a bad value (not finite, or outside
    the point's ``minVal`` / ``maxVal`` properties), an unknown field or an
    expiry not in the future (the current override, if any, stays).
    """
    svc = services()
    node = svc.get(NodeStore).get(node_id_arg(node_id))
    if not node.is_point:
        raise InvalidInput(
            f"node {node.id!r} is a {node.node_type.value}, not a point; "
            "only points take overrides",
            node_id=node.id,
        )
    reason = data.reason
    expires_ms = parse_expiry_ms(data.expires, svc.clock.now_ms())
    override = await svc.get(OverrideStore).set(
        node.id,
        data.value,
        user=current_user(),
        reason=reason,
        expires_ms=expires_ms,
        kind=node.kind,
        value_range=value_range(node.properties),
    )
    await audit_write(
        "override.set",
        node.id,
        {"value": override.value, "reason": reason, "expires_ms": expires_ms},
    )
    return to_json(override)


@blueprint.delete("/points/<path:node_id>/override")
@requires(Role.OPERATOR)
@responds(OVERRIDE)
async def release_override(node_id: str) -> dict[str, Any]:
    """Release a point's override; returns the override that ended.

    The point goes back to what its source last reported. 404 when the point
    is not overridden.
    """
    node_id = node_id_arg(node_id)
    ended = await services().get(OverrideStore).release(node_id, user=current_user())
    await audit_write("override.release", node_id, {"value": ended.value})
    return to_json(ended)
