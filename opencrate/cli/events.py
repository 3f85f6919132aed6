"""``opencrate events``: read, follow and purge the event log (``events.db``).

The commands open the data directory's ``events.db`` directly (WAL lets them
run beside a serving OpenCrate) and page through it with the store's keyset
cursor, so even ``query --limit 0`` over millions of events holds one page in
memory at a time.

::

    opencrate events query --level warning --since 2h --limit 0 --json
    opencrate events tail -n 20 --follow
    opencrate events purge --dry-run
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing, asynccontextmanager
from pathlib import Path
from typing import Any

import asyncclick as click
import attrs
import trio

from opencrate.clock import SystemClock, ms_to_iso, parse_duration_ms, parse_time_ms
from opencrate.config import load_settings
from opencrate.engines.eventlog import EventPurger
from opencrate.engines.eventlog_rules import EventLogSettings
from opencrate.errors import OpenCrateError
from opencrate.stores.eventlog import EventLogStore
from opencrate.stores.eventlog_model import (
    MAX_PAGE,
    EventCursor,
    EventQuery,
    EventRecord,
    Order,
)

__all__ = ["events", "follow_events"]

_LEVELS = click.Choice(["debug", "info", "notice", "warning", "error", "fatal"])


def _data_dir(ctx: click.Context, data_dir: Path | None) -> Path:
    if data_dir is not None:
        return data_dir
    try:
        return load_settings((ctx.obj or {}).get("config_path")).data_dir
    except OpenCrateError as exc:
        raise click.ClickException(str(exc)) from None


def _event_settings(ctx: click.Context) -> EventLogSettings:
    try:
        settings = load_settings((ctx.obj or {}).get("config_path"))
        return EventLogSettings.from_section(settings.sections.get("events"))
    except OpenCrateError as exc:
        raise click.ClickException(str(exc)) from None


@asynccontextmanager
async def _open_store(data_dir: Path) -> AsyncIterator[EventLogStore]:
    path = data_dir / "events.db"
    if not await trio.Path(path).exists():
        raise click.ClickException(f"no event log at {path} (has OpenCrate run with --data here?)")
    try:
        async with EventLogStore(path).running() as store:
            yield store
    except BaseException as exc:
        # The store runs in a nursery: errors come wrapped in exception groups.
        leaves = _leaves(exc)
        if all(isinstance(e, click.ClickException) for e in leaves):
            raise leaves[0] from None
        if all(isinstance(e, OpenCrateError) for e in leaves):
            raise click.ClickException("; ".join(str(e) for e in leaves)) from None
        raise


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _build_query(
    context: str | None,
    under: str | None,
    name: str | None,
    level: str | None,
    since: str | None,
    until: str | None,
    order: Order,
) -> EventQuery:
    now_ms = SystemClock().now_ms()
    try:
        return EventQuery(
            context=context,
            under=under,
            name=name,
            min_level=level,
            since_ms=parse_time_ms(since, now_ms=now_ms) if since else None,
            until_ms=parse_time_ms(until, now_ms=now_ms) if until else None,
            order=order,
        )
    except OpenCrateError as exc:
        raise click.BadParameter(str(exc)) from None


def _line(event: EventRecord) -> str:
    count = f" x{event.count}" if event.count > 1 else ""
    acked = " [acked]" if event.acknowledged else ""
    data = json.dumps(dict(event.data), separators=(",", ":"), ensure_ascii=False)
    return (
        f"{ms_to_iso(event.created_ms)}  {event.level.label:<7}  {event.name:<20} "
        f"{event.context}{count}{acked}  id={event.id}  {data}"
    )


def _emit(event: EventRecord, as_json: bool) -> None:
    click.echo(json.dumps(event.to_json(), ensure_ascii=False) if as_json else _line(event))


def _filters(fn: Any) -> Any:
    for option in reversed(
        [
            click.option(
                "--data",
                "data_dir",
                type=click.Path(file_okay=False, path_type=Path),
                help="Data directory (default: from the settings file, else data).",
            ),
            click.option("--context", help="Only this node id or resource path (exact)."),
            click.option(
                "--under", help="Only this context and those beneath it (a device and its points)."
            ),
            click.option("--name", help="Only this event type, e.g. DeviceDown."),
            click.option("--level", type=_LEVELS, help="Only this level and above."),
            click.option("--since", help="From this time: ISO 8601, epoch ms, or ago (2h)."),
            click.option("--until", help="Before this time (same forms as --since)."),
            click.option("--json", "as_json", is_flag=True, help="One JSON object per line."),
        ]
    ):
        fn = option(fn)
    return fn


@click.group()
def events() -> None:
    """Read, follow and purge the event log."""


@events.command()
@_filters
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=100,
    show_default=True,
    help="How many events to print in all (0: every match, paged).",
)
@click.option("--oldest-first", is_flag=True, help="Oldest first (default: newest first).")
@click.pass_context
async def query(
    ctx: click.Context,
    data_dir: Path | None,
    context: str | None,
    under: str | None,
    name: str | None,
    level: str | None,
    since: str | None,
    until: str | None,
    as_json: bool,
    limit: int,
    oldest_first: bool,
) -> None:
    """Print the events that match, newest first, paging through the log."""
    order = Order.OLDEST_FIRST if oldest_first else Order.NEWEST_FIRST
    event_query = _build_query(context, under, name, level, since, until, order)
    page_size = min(limit, MAX_PAGE) if limit else MAX_PAGE
    async with _open_store(_data_dir(ctx, data_dir)) as store:
        printed = 0
        # aclosing: stopping at --limit must finalize the generator here, not in GC.
        async with aclosing(store.iter_events(event_query, page_size=page_size)) as found:
            async for event in found:
                _emit(event, as_json)
                printed += 1
                if printed == limit:
                    break


@events.command()
@_filters
@click.option(
    "-n",
    "lines",
    type=click.IntRange(1, MAX_PAGE),
    default=20,
    show_default=True,
    help="How many of the newest events to print first.",
)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new events as they arrive.")
@click.option("--interval", default="1s", show_default=True, help="How often --follow polls.")
@click.pass_context
async def tail(
    ctx: click.Context,
    data_dir: Path | None,
    context: str | None,
    under: str | None,
    name: str | None,
    level: str | None,
    since: str | None,
    until: str | None,
    as_json: bool,
    lines: int,
    follow: bool,
    interval: str,
) -> None:
    """Print the newest events, oldest of them first; with --follow, keep printing new ones.

    Following polls for events after the last one printed, so an event whose
    duplicate count goes up is printed again with its new count.
    """
    try:
        poll_s = parse_duration_ms(interval) / 1000
    except OpenCrateError as exc:
        raise click.BadParameter(str(exc), param_hint="--interval") from None
    newest = _build_query(context, under, name, level, since, until, Order.NEWEST_FIRST)
    async with _open_store(_data_dir(ctx, data_dir)) as store:
        page = await store.query(newest, limit=lines)
        last: EventCursor | None = None
        for event in reversed(page.events):
            _emit(event, as_json)
            last = EventCursor(created_ms=event.created_ms, id=event.id)
        if not follow:
            return
        onward = _build_query(context, under, name, level, since, until, Order.OLDEST_FIRST)
        await follow_events(store, onward, last, poll_s, lambda event: _emit(event, as_json))


async def follow_events(
    store: EventLogStore,
    query: EventQuery,
    after: EventCursor | None,
    poll_s: float,
    emit: Callable[[EventRecord], None],
) -> None:
    """Every ``poll_s`` seconds, ``emit`` the events after ``after`` (oldest first); forever.

    ``query`` must be in ``Order.OLDEST_FIRST``. Each poll pages through what
    arrived since the last one, so a burst is bounded by the page size too.
    Cancellation stops it between polls or pages.
    """
    while True:
        await trio.sleep(poll_s)
        while True:
            page = await store.query(query, limit=MAX_PAGE, cursor=after)
            for event in page.events:
                emit(event)
                after = EventCursor(created_ms=event.created_ms, id=event.id)
            if page.next_cursor is None:
                break


@events.command()
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Data directory (default: from the settings file, else data).",
)
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted, per table.")
@click.option("--batch", type=click.IntRange(min=1), help="Rows per delete (default: settings).")
@click.pass_context
async def purge(
    ctx: click.Context, data_dir: Path | None, dry_run: bool, batch: int | None
) -> None:
    """Delete expired events now, in bounded batches (what the periodic job does)."""
    settings = _event_settings(ctx)
    if batch is not None:
        settings = attrs.evolve(settings, purge_batch=batch)
    async with _open_store(_data_dir(ctx, data_dir)) as store:
        if dry_run:
            counts = await store.count_expired()
            for table, count in counts.items():
                if count:
                    click.echo(f"{table}: {count}")
            click.echo(f"would delete {sum(counts.values())} expired events (dry run)")
            return
        deleted = await EventPurger(store, settings).purge_once()
    click.echo(f"deleted {deleted} expired events")
