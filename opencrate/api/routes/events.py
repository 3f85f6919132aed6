"""``/api/events``: the event log, paged by a keyset cursor; acknowledge and enrich events.

Every listing is bounded: a page holds at most ``limit`` events (1..500), the
store merges its tables lazily, and the client follows ``next_cursor``. Bad
parameters are 400 naming the parameter, and nothing is written.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, request

from opencrate.api.auditing import API_USER, audit_write
from opencrate.api.context import json_body, services
from opencrate.api.params import check_fields, decode_cursor, encode_cursor, page_limit, str_arg
from opencrate.clock import parse_time_ms
from opencrate.errors import InvalidInput
from opencrate.stores.eventlog_model import EventCursor, EventLevel, EventQuery, Order

blueprint = Blueprint("events", __name__)

_LISTING = "events"


def _time_arg(name: str, now_ms: int) -> int | None:
    raw = str_arg(name)
    if raw is None:
        return None
    try:
        return parse_time_ms(raw, now_ms=now_ms)
    except InvalidInput as exc:
        raise InvalidInput(f"query parameter {name!r}: {exc.message}", field=name) from None


def _event_id(raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise InvalidInput(f"event id must be a positive integer, got {raw[:40]!r}", field="id")
    return int(raw)


def _query() -> EventQuery:
    now_ms = services().clock.now_ms()
    level = str_arg("level")
    order = str_arg("order") or Order.NEWEST_FIRST.value
    if order not in {o.value for o in Order}:
        raise InvalidInput(
            f"query parameter 'order' must be 'desc' or 'asc', got {order!r}", field="order"
        )
    return EventQuery(
        context=str_arg("context"),
        under=str_arg("under"),
        name=str_arg("name"),
        min_level=EventLevel.parse(level) if level is not None else None,
        since_ms=_time_arg("since", now_ms),
        until_ms=_time_arg("until", now_ms),
        order=Order(order),
    )


@blueprint.get("/events")
async def list_events() -> dict[str, Any]:
    """Events matching the filters: ``{"items": [...], "next_cursor": str | null}``.

    Query: ``context`` (a node id or resource path, exact), ``under`` (that
    context and every ``<under>/...`` beneath it, e.g. a device and its
    points), ``name`` (event
    type), ``level`` (minimum: debug, info, notice, warning, error, fatal),
    ``since`` (inclusive) and ``until`` (exclusive) as ISO 8601, epoch ms or a
    duration ago (``2h``), ``order`` (``desc``, newest first, the default; or
    ``asc``), ``limit`` (1..500, default 100) and ``cursor`` (the previous
    page's ``next_cursor``; pass the same filters with it).
    """
    query = _query()
    limit = page_limit()
    token = decode_cursor(_LISTING, request.args.get("cursor"), str)
    cursor = EventCursor.parse(token) if token is not None else None
    page = await services().events.query(query, limit=limit, cursor=cursor)
    return {
        "items": [event.to_json() for event in page.events],
        "next_cursor": (
            encode_cursor(_LISTING, str(page.next_cursor)) if page.next_cursor else None
        ),
    }


@blueprint.get("/events/<event_id>")
async def get_event(event_id: str) -> dict[str, Any]:
    """One event by id; 404 when there is none."""
    return (await services().events.get(_event_id(event_id))).to_json()


@blueprint.post("/events/<event_id>/ack")
async def acknowledge_event(event_id: str) -> dict[str, Any]:
    """Acknowledge an event; body ``{"comment": str}`` (optional). Returns the event.

    Acknowledging closes the event for deduplication: the next identical
    event starts a new row. 404 for an unknown id.
    """
    ident = _event_id(event_id)
    body = await json_body() if await request.get_data() else {}
    check_fields(body, allowed=("comment",))
    comment = body.get("comment", "")
    if not isinstance(comment, str):
        raise InvalidInput("comment must be a string", field="comment")
    event = await services().events.acknowledge(ident, user=API_USER, comment=comment)
    await audit_write("event.ack", str(ident), {"comment": comment})
    return event.to_json()


@blueprint.post("/events/<event_id>/enrich")
async def enrich_event(event_id: str) -> dict[str, Any]:
    """Attach ``{"name": str, "value": any JSON}`` to an event; returns it, 404 if unknown."""
    ident = _event_id(event_id)
    body = await json_body()
    check_fields(body, allowed=("name", "value"), required=("name", "value"))
    event = await services().events.enrich(
        ident, name=body["name"], value=body["value"], author=API_USER
    )
    await audit_write("event.enrich", str(ident), {"name": body["name"]})
    return event.to_json()
