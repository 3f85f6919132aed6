"""``/api/events``: the event log, paged by a keyset cursor; acknowledge, enrich, purge.

Every listing is bounded: a page holds at most ``limit`` events (1..500), the
store merges its tables lazily, and the client follows ``next_cursor``. Bad
parameters are 400 naming the parameter, and nothing is written.

``POST /api/events/purge`` runs the purge job's batch loop on demand (it is
what ``opencrate events purge`` calls): through the server's store actor, so a
purge never competes with the running server for the database file.
"""

from __future__ import annotations

from typing import Annotated, Any

import attrs
import msgspec
from attrs import frozen
from quart import Blueprint

from opencrate.api.access import Role, requires
from opencrate.api.auditing import audit_write, current_user
from opencrate.api.context import services
from opencrate.api.contract import body, list_of, query, record_component, responds
from opencrate.api.params import decode_cursor, encode_cursor
from opencrate.api.wire import PageQuery, Text
from opencrate.clock import parse_time_ms
from opencrate.components.eventlog.engine import EventPurger
from opencrate.components.eventlog.records import (
    EventCursor,
    EventLevel,
    EventQuery,
    EventRecord,
    Order,
)
from opencrate.components.eventlog.rules import EventLogSettings
from opencrate.components.eventlog.store import EventLogStore
from opencrate.errors import InvalidInput
from opencrate.runtime.records import to_json
from opencrate.validation import ascii_int

blueprint = Blueprint("events", __name__)

_LISTING = "events"

#: Largest ``batch`` a purge request may ask for. One batch is one store
#: command that every other writer of the event log waits behind; at the
#: measured ~23,000 deletes/s, 100,000 rows hold the writer for about 4 s.
MAX_PURGE_BATCH = 100_000

EVENT = record_component(EventRecord, name="Event")
#: A time: ISO 8601, epoch ms, or a duration ago (``2h``).
TimeText = Annotated[str, msgspec.Meta(description="ISO 8601, epoch ms, or a duration ago (2h).")]
LevelName = Annotated[
    str,
    msgspec.Meta(
        description="Minimum level (any case).",
        extra_json_schema={"enum": [level.label for level in EventLevel]},
    ),
]


class EventsQuery(PageQuery, kw_only=True):
    context: Text | None = None
    under: Text | None = None
    name: Annotated[Text | None, msgspec.Meta(description="Event type.")] = None
    level: LevelName | None = None
    since: TimeText | None = None
    until: TimeText | None = None
    order: Order = Order.NEWEST_FIRST


class EventPage(msgspec.Struct):
    items: Annotated[list[Any], list_of(EVENT)]
    next_cursor: str | None


class EventAckBody(msgspec.Struct, forbid_unknown_fields=True):
    comment: str = ""


class EnrichBody(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    value: Annotated[Any, msgspec.Meta(description="Any JSON value.")]


class PurgeBody(msgspec.Struct, forbid_unknown_fields=True):
    dry_run: bool = False
    batch: Annotated[int, msgspec.Meta(ge=1, le=MAX_PURGE_BATCH)] | None = None


class PurgeResult(msgspec.Struct):
    dry_run: bool
    expired: int
    deleted: int
    batches: int
    tables: dict[str, int]


def _time_arg(name: str, raw: str | None, now_ms: int) -> int | None:
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


def _query(q: EventsQuery) -> EventQuery:
    now_ms = services().clock.now_ms()
    return EventQuery(
        context=q.context,
        under=q.under,
        name=q.name,
        min_level=EventLevel.parse(q.level) if q.level is not None else None,
        since_ms=_time_arg("since", q.since, now_ms),
        until_ms=_time_arg("until", q.until, now_ms),
        order=q.order,
    )


@blueprint.get("/events")
@requires(Role.VIEWER)
@query(EventsQuery)
@responds(EventPage)
async def list_events(query_args: EventsQuery) -> dict[str, Any]:
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
    query = _query(query_args)
    limit = query_args.limit
    token = decode_cursor(_LISTING, query_args.cursor, str)
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
@responds(EVENT)
async def get_event(event_id: str) -> dict[str, Any]:
    """One event by id; 404 when there is none."""
    return to_json(await services().get(EventLogStore).get(_event_id(event_id)))


@blueprint.post("/events/<event_id>/ack")
@requires(Role.OPERATOR)
@body(EventAckBody, optional=True)
@responds(EVENT)
async def acknowledge_event(event_id: str, data: EventAckBody) -> dict[str, Any]:
    """Acknowledge an event; body ``{"comment": str}`` (optional). Returns the event.

    Acknowledging closes the event for deduplication: the next identical
    event starts a new row. 404 for an unknown id.
    """
    ident = _event_id(event_id)
    comment = data.comment
    event = (
        await services().get(EventLogStore).acknowledge(ident, user=current_user(), comment=comment)
    )
    await audit_write("event.ack", str(ident), {"comment": comment})
    return to_json(event)


@blueprint.post("/events/<event_id>/enrich")
@requires(Role.OPERATOR)
@body(EnrichBody)
@responds(EVENT)
async def enrich_event(event_id: str, data: EnrichBody) -> dict[str, Any]:
    """Attach ``{"name": str, "value": any JSON}`` to an event; returns it, 404 if unknown."""
    ident = _event_id(event_id)
    event = (
        await services()
        .get(EventLogStore)
        .enrich(ident, name=data.name, value=data.value, author=current_user())
    )
    await audit_write("event.enrich", str(ident), {"name": data.name})
    return to_json(event)


@frozen
class _StoppedClock:
    """A clock that stays at one instant, so a purge deletes what had expired by then."""

    ms: int

    def now_ms(self) -> int:
        return self.ms


@blueprint.post("/events/purge")
@requires(Role.ADMIN)
@body(PurgeBody, optional=True)
@responds(PurgeResult)
async def purge_events(data: PurgeBody) -> dict[str, Any]:
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
    dry_run = data.dry_run
    batch = settings.purge_batch if data.batch is None else data.batch
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
