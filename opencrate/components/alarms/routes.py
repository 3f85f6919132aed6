"""Alarms: the open ones (filtered, paged), the history, acknowledge, shelve, point flags.

Acknowledging and shelving are recorded in the audit log. Alarm ids in paths
must be positive integers (400 otherwise); an id with no open alarm is 404.
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
from opencrate.components.alarms.flags import AlarmFlags
from opencrate.components.alarms.store import Alarm, AlarmState, AlarmStore, Severity
from opencrate.components.overrides.routes import parse_expiry_ms
from opencrate.errors import InvalidInput
from opencrate.runtime.records import to_json
from opencrate.validation import ascii_int

__all__ = ["blueprint"]

blueprint = Blueprint("alarms", __name__)

_LISTING = "alarms"
_HISTORY = "alarm-history"

ALARM = record_component(Alarm)
#: When: epoch ms, ISO 8601, or a duration from now (``"2h"``).
Expiry = Annotated[
    int | str | None, msgspec.Meta(description="Epoch ms, ISO 8601, or a duration like '2h'.")
]


class AlarmsQuery(PageQuery, kw_only=True):
    node: NodeIdText | None = None
    severity: Annotated[Severity | None, msgspec.Meta(description="This severity or worse.")] = None
    state: AlarmState | None = None
    shelved: Annotated[bool, msgspec.Meta(description="Include shelved alarms.")] = False


class AlarmHistoryQuery(PageQuery, kw_only=True):
    node: NodeIdText | None = None


class AlarmPage(msgspec.Struct):
    items: Annotated[list[Any], list_of(ALARM)]
    next_cursor: str | None


class PointFlags(msgspec.Struct):
    in_alarm: bool
    unacked: bool


class FlagsView(msgspec.Struct):
    items: dict[str, PointFlags]


class AlarmAckBody(msgspec.Struct, forbid_unknown_fields=True):
    comment: str = ""


class ShelveBody(msgspec.Struct, forbid_unknown_fields=True):
    until: Annotated[Expiry, msgspec.Meta(description="null unshelves.")]


def _alarm_id(raw: str) -> int:
    value = ascii_int(raw, minimum=1)
    if value is None:
        raise InvalidInput(f"alarm id must be a positive integer, got {raw[:40]!r}", field="id")
    return value


def _sort_key(alarm: Alarm) -> str:
    # The listing's order (most severe, then newest) as a string a cursor can carry.
    return f"{alarm.severity.rank}:{-alarm.updated_ms}:{-alarm.id}"


def _parse_key(key: str) -> tuple[int, int, int]:
    parts = [ascii_int(part, signed=True) for part in key.split(":")]
    if len(parts) != 3 or None in parts:
        raise InvalidInput("cursor is not a cursor of this listing", field="cursor")
    rank, updated, ident = (part for part in parts if part is not None)
    return rank, updated, ident


@blueprint.get("/alarms")
@requires(Role.VIEWER)
@query(AlarmsQuery)
@responds(AlarmPage)
async def list_alarms(query_args: AlarmsQuery) -> dict[str, Any]:
    """Open alarms, most severe then newest first: ``{"items", "next_cursor"}``.

    Filters: ``node`` (one point), ``severity`` (this severity or worse),
    ``state`` (``active-unacked``, ``active-acked``, ``cleared-unacked``),
    ``shelved=true`` to include shelved alarms. Paging: ``limit``, ``cursor``.
    """
    q = query_args
    limit = q.limit
    after = decode_cursor(_LISTING, q.cursor, str)
    found = (
        services()
        .get(AlarmStore)
        .active(
            node_id=None if q.node is None else node_id_arg(q.node, what="node"),
            min_severity=q.severity,
            state=q.state,
            include_shelved=q.shelved,
        )
    )
    if after is not None:
        start = _parse_key(after)
        found = [a for a in found if _parse_key(_sort_key(a)) > start]
    page = found[:limit]
    return {
        "items": [to_json(a) for a in page],
        "next_cursor": encode_cursor(_LISTING, _sort_key(page[-1])) if len(found) > limit else None,
    }


@blueprint.get("/alarms/history")
@requires(Role.VIEWER)
@query(AlarmHistoryQuery)
@responds(AlarmPage)
async def alarm_history(query_args: AlarmHistoryQuery) -> dict[str, Any]:
    """Closed alarms, newest first (``node``; ``limit``, ``cursor``)."""
    limit = query_args.limit
    before_id = decode_cursor(_HISTORY, query_args.cursor, int)
    node_raw = query_args.node
    node_id = None if node_raw is None else node_id_arg(node_raw, what="node")
    closed = (
        await services()
        .get(AlarmStore)
        .history(node_id=node_id, limit=limit + 1, before_id=before_id)
    )
    page = closed[:limit]
    return {
        "items": [to_json(a) for a in page],
        "next_cursor": encode_cursor(_HISTORY, page[-1].id) if len(closed) > limit else None,
    }


@blueprint.get("/alarms/flags")
@requires(Role.VIEWER)
@responds(FlagsView)
async def alarm_flags() -> dict[str, Any]:
    """Points with an open alarm: ``{"items": {node_id: {"in_alarm", "unacked"}}}``."""
    return {
        "items": {
            node_id: {"in_alarm": flags.in_alarm, "unacked": flags.unacked}
            for node_id, flags in services().get(AlarmFlags).flagged().items()
        }
    }


@blueprint.get("/alarms/<alarm_id>")
@requires(Role.VIEWER)
@responds(ALARM)
async def get_alarm(alarm_id: str) -> dict[str, Any]:
    """One alarm, open or closed; 404 when there is none with this id."""
    return to_json(await services().get(AlarmStore).get(_alarm_id(alarm_id)))


@blueprint.post("/alarms/<alarm_id>/ack")
@requires(Role.OPERATOR)
@body(AlarmAckBody, optional=True)
@responds(ALARM)
async def acknowledge_alarm(alarm_id: str, data: AlarmAckBody) -> dict[str, Any]:
    """Acknowledge: optional body ``{"comment"}``; returns the alarm (closed if it was cleared).

    404 for no open alarm with this id, 409 when already acknowledged.
    """
    ident = _alarm_id(alarm_id)
    comment = data.comment
    alarm = (
        await services().get(AlarmStore).acknowledge(ident, user=current_user(), comment=comment)
    )
    await audit_write("alarm.ack", str(ident), {"node_id": alarm.node_id, "comment": comment})
    return to_json(alarm)


@blueprint.post("/alarms/<alarm_id>/shelve")
@requires(Role.OPERATOR)
@body(ShelveBody)
@responds(ALARM)
async def shelve_alarm(alarm_id: str, data: ShelveBody) -> dict[str, Any]:
    """Shelve until a time: body ``{"until"}`` (epoch ms, ISO 8601, or a duration like ``"2h"``).

    ``"until": null`` unshelves. 400 for a time not in the future, 404 for no
    open alarm with this id.
    """
    ident = _alarm_id(alarm_id)
    svc = services()
    try:
        until_ms = parse_expiry_ms(data.until, svc.clock.now_ms())
    except InvalidInput:
        raise InvalidInput(
            f"until {data.until!r} is not epoch ms, an ISO 8601 time or a duration like '2h'",
            field="until",
        ) from None
    alarm = await svc.get(AlarmStore).shelve(ident, until_ms=until_ms, user=current_user())
    await audit_write("alarm.shelve", str(ident), {"node_id": alarm.node_id, "until_ms": until_ms})
    return to_json(alarm)
