"""Alarms: the open ones (filtered, paged), the history, acknowledge, shelve, point flags.

Acknowledging and shelving are recorded in the audit log. Alarm ids in paths
must be positive integers (400 otherwise); an id with no open alarm is 404.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, request

from opencrate.api.access import Role, requires
from opencrate.api.auditing import audit_write, current_user
from opencrate.api.context import json_body, services
from opencrate.api.params import (
    bool_arg,
    check_fields,
    decode_cursor,
    encode_cursor,
    node_id_arg,
    page_limit,
    str_arg,
)
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


async def _optional_body() -> dict[str, Any]:
    return await json_body() if await request.get_data() else {}


@blueprint.get("/alarms")
@requires(Role.VIEWER)
async def list_alarms() -> dict[str, Any]:
    """Open alarms, most severe then newest first: ``{"items", "next_cursor"}``.

    Filters: ``node`` (one point), ``severity`` (this severity or worse),
    ``state`` (``active-unacked``, ``active-acked``, ``cleared-unacked``),
    ``shelved=true`` to include shelved alarms. Paging: ``limit``, ``cursor``.
    """
    limit = page_limit()
    after = decode_cursor(_LISTING, request.args.get("cursor"), str)
    node_raw = str_arg("node")
    severity_raw = str_arg("severity")
    state_raw = str_arg("state")
    state = None
    if state_raw is not None:
        try:
            state = AlarmState(state_raw)
        except ValueError:
            raise InvalidInput(
                f"state must be one of {', '.join(s.value for s in AlarmState)}, got {state_raw!r}",
                field="state",
            ) from None
    found = (
        services()
        .get(AlarmStore)
        .active(
            node_id=None if node_raw is None else node_id_arg(node_raw, what="node"),
            min_severity=None if severity_raw is None else Severity.parse(severity_raw),
            state=state,
            include_shelved=bool_arg("shelved"),
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
async def alarm_history() -> dict[str, Any]:
    """Closed alarms, newest first (``node``; ``limit``, ``cursor``)."""
    limit = page_limit()
    before_id = decode_cursor(_HISTORY, request.args.get("cursor"), int)
    node_raw = str_arg("node")
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
async def get_alarm(alarm_id: str) -> dict[str, Any]:
    """One alarm, open or closed; 404 when there is none with this id."""
    return to_json(await services().get(AlarmStore).get(_alarm_id(alarm_id)))


@blueprint.post("/alarms/<alarm_id>/ack")
@requires(Role.OPERATOR)
async def acknowledge_alarm(alarm_id: str) -> dict[str, Any]:
    """Acknowledge: optional body ``{"comment"}``; returns the alarm (closed if it was cleared).

    404 for no open alarm with this id, 409 when already acknowledged.
    """
    ident = _alarm_id(alarm_id)
    body = await _optional_body()
    check_fields(body, allowed=("comment",))
    comment = body.get("comment", "")
    if not isinstance(comment, str):
        raise InvalidInput("comment must be a string", field="comment")
    alarm = (
        await services().get(AlarmStore).acknowledge(ident, user=current_user(), comment=comment)
    )
    await audit_write("alarm.ack", str(ident), {"node_id": alarm.node_id, "comment": comment})
    return to_json(alarm)


@blueprint.post("/alarms/<alarm_id>/shelve")
@requires(Role.OPERATOR)
async def shelve_alarm(alarm_id: str) -> dict[str, Any]:
    """Shelve until a time: body ``{"until"}`` (epoch ms, ISO 8601, or a duration like ``"2h"``).

    ``"until": null`` unshelves. 400 for a time not in the future, 404 for no
    open alarm with this id.
    """
    ident = _alarm_id(alarm_id)
    body = await _optional_body()
    check_fields(body, allowed=("until",), required=("until",))
    svc = services()
    try:
        until_ms = parse_expiry_ms(body["until"], svc.clock.now_ms())
    except InvalidInput:
        raise InvalidInput(
            f"until {body['until']!r} is not epoch ms, an ISO 8601 time or a duration like '2h'",
            field="until",
        ) from None
    alarm = await svc.get(AlarmStore).shelve(ident, until_ms=until_ms, user=current_user())
    await audit_write("alarm.shelve", str(ident), {"node_id": alarm.node_id, "until_ms": until_ms})
    return to_json(alarm)
