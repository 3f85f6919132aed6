"""``/api/events``: the event log, paged by a keyset cursor; acknowledge, enrich, purge.

Every listing is bounded: a page holds at most ``limit`` events (1..500), the
store merges its tables lazily, and the client follows ``next_cursor``. Bad
parameters are 400 naming the parameter, and nothing is written.

``POST /api/events/purge`` runs the purge job's batch loop on demand (it is
what ``opencrate events purge`` calls): through the server's store actor, so a
purge never competes with the running server for the database file.
"""

from __future__ import annotations

from typing import Any

import attrs
from attrs import frozen
from quart import Blueprint, request

from opencrate.api.access import Role, requires
from opencrate.api.auditing import audit_write, current_user
from opencrate.api.context import json_body, services
from opencrate.api.params import check_fields, decode_cursor, encode_cursor, page_limit, str_arg
from opencrate.clock import parse_time_ms
from opencrate.components.eventlog.engine import EventPurger
from opencrate.components.eventlog.records import EventCursor, EventLevel, EventQuery, Order
from opencrate.components.eventlog.rules import EventLogSettings
from opencrate.components.eventlog.store import EventLogStore
from opencrate.errors import InvalidInput
from opencrate.runtime.records import to_json
from opencrate.validation import ascii_int, is_int

blueprint = Blueprint("events", __name__)

_LISTING = "events"

#: Largest ``batch`` a purge request may ask for. One batch is one store
#: command that every other writer of the event log waits behind; at the
#: measured ~23,000 deletes/s, 100,000 rows hold the writer for about 4 s.
MAX_PURGE_BATCH = 100_000


def _time_arg(name: str, now_ms: int) -> int | None:
    raw = str_arg(name)
    if raw is None:
        return None
    try:
        return parse_time_ms(raw, now_ms=now_ms)
    except InvalidInput as exc:
        raise InvalidInput(f"query parameter {name!r}: {exc.message}", field=name) from None


def _event_id(raw: str) -> int:
    value = ascii_int(raw, minimum=1)
    if value is None:
        raise InvalidInput(f"event id must be a positive integer, got {raw[:40]!r}", field="id")
    return value


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
@requires(Role.VIEWER)
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
    page = await services().get(EventLogStore).query(query, limit=limit, cursor=cursor)
    return {
        "items": [to_json(event) for event in page.events],
        "next_cursor": (
            encode_cursor(_LISTING, str(page.next_cursor)) if page.next_cursor else None
        ),
    }


@blueprint.get("/events/<event_id>")
@requires(Role.VIEWER)
async def get_event(event_id: str) -> dict[str, Any]:
    """One event by id; 404 when there is none."""
    return to_json(await services().get(EventLogStore).get(_event_id(event_id)))


@blueprint.post("/events/<event_id>/ack")
@requires(Role.OPERATOR)
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
    event = (
        await services().get(EventLogStore).acknowledge(ident, user=current_user(), comment=comment)
    )
    await audit_write("event.ack", str(ident), {"comment": comment})
    return to_json(event)


@blueprint.post("/events/<event_id>/enrich")
@requires(Role.OPERATOR)
async def enrich_event(event_id: str) -> dict[str, Any]:
    """Attach ``{"name": str, "value": any JSON}`` to an event; returns it, 404 if unknown."""
    ident = _event_id(event_id)
    body = await json_body()
    check_fields(body, allowed=("name", "value"), required=("name", "value"))
    event = (
        await services()
        .get(EventLogStore)
        .enrich(ident, name=body["name"], value=body["value"], author=current_user())
    )
    await audit_write("event.enrich", str(ident), {"name": body["name"]})
    return to_json(event)


@frozen
class _StoppedClock:
    """A clock that stays at one instant, so a purge deletes what had expired by then."""

    ms: int

    def now_ms(self) -> int:
        return self.ms


def _purge_options(body: dict[str, Any], default_batch: int) -> tuple[bool, int]:
    check_fields(body, allowed=("dry_run", "batch"))
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise InvalidInput(f"dry_run must be true or false, got {dry_run!r}", field="dry_run")
    batch = body.get("batch", default_batch)
    if "batch" in body and not is_int(batch, minimum=1, maximum=MAX_PURGE_BATCH):
        raise InvalidInput(
            f"batch must be an integer from 1 to {MAX_PURGE_BATCH}, got {batch!r}", field="batch"
        )
    return dry_run, batch


@blueprint.post("/events/purge")
@requires(Role.ADMIN)
async def purge_events() -> dict[str, Any]:
    """Delete the events expired now, in batches, as the periodic purge job does.

    Body (optional; may be empty): ``{"dry_run": bool, "batch": int}``.
    ``dry_run`` (default false) only counts; ``batch`` (1..100000, default
    ``[events] purge_batch``) is the rows per delete command, with
    ``purge_pause`` between two so other writers get in. Returns
    ``{"dry_run", "expired", "deleted", "batches", "tables"}``: ``expired``
    counts the events expired when the request started, ``tables`` per table;
    ``deleted`` and ``batches`` are 0 for a dry run. A real purge is audited
    as ``event.purge`` (a dry run writes nothing). Bad input is 400 naming the
    field, and nothing is deleted. A client that goes away ends the purge
    between two batches; the batches done stay deleted.
    """
    svc = services()
    settings = EventLogSettings.from_section(svc.settings.sections.get("events"))
    body = await json_body() if await request.get_data() else {}
    dry_run, batch = _purge_options(body, settings.purge_batch)
    clock = _StoppedClock(svc.clock.now_ms())
    tables = await svc.get(EventLogStore).count_expired(now_ms=clock.ms)
    expired = sum(tables.values())
    deleted = batches = 0
    if not dry_run:
        purger = EventPurger(
            svc.get(EventLogStore), attrs.evolve(settings, purge_batch=batch), clock=clock
        )
        deleted = await purger.purge_once()
        batches = purger.statistics().batches
        await audit_write(
            "event.purge", "events", {"deleted": deleted, "batches": batches, "batch": batch}
        )
    return {
        "dry_run": dry_run,
        "expired": expired,
        "deleted": deleted,
        "batches": batches,
        "tables": tables,
    }
