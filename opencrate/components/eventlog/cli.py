"""``opencrate events``: read, follow and purge the event log of a running server.

Like the other operator commands these go through the server's API
(:mod:`opencrate.cli.client`) rather than opening ``events.db``: the server's
EventLogStore is the one writer of that file, keeps its table registry and
id sequence in memory, and records a purge in the audit log.

``query`` follows the API's ``next_cursor`` and prints each page as it
arrives, so even ``--limit 0`` over millions of events holds one page (at most
500 events) in memory. ``tail --follow`` polls ``GET /api/events`` in ascending
order from the last event printed: it sees exactly the stored records (the
websocket stream carries bus events, before the event log's rules and
deduplication decide what is stored), and a missed poll loses nothing.

::

    opencrate events query --level warning --since 2h --limit 0 --json
    opencrate events tail -n 20 --follow
    opencrate events purge --dry-run
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import aclosing
from typing import Any

import asyncclick as click
import trio

from opencrate.cli.client import ApiClient, cli_errors, resolve_url, url_option
from opencrate.cli.options import compose, count_option, json_lines_option
from opencrate.clock import ms_to_iso, parse_duration_ms
from opencrate.errors import OpenCrateError

__all__ = ["events", "follow_events", "format_event", "iter_events"]

#: The API's largest page (``limit`` 1..500).
PAGE = 500

_LEVELS = click.Choice(["debug", "info", "notice", "warning", "error", "fatal"])


def format_event(event: Mapping[str, Any]) -> str:
    """One line: time, level, type, context, duplicate count, [acked], id and data."""
    count = f" x{event['count']}" if event["count"] > 1 else ""
    acked = " [acked]" if event["acknowledgements"] else ""
    data = json.dumps(event["data"], separators=(",", ":"), ensure_ascii=False)
    return (
        f"{ms_to_iso(event['created_ms'])}  {event['level']:<7}  {event['name']:<20} "
        f"{event['context']}{count}{acked}  id={event['id']}  {data}"
    )


def _emit(event: Mapping[str, Any], as_json: bool) -> None:
    click.echo(json.dumps(event, ensure_ascii=False) if as_json else format_event(event))


async def iter_events(
    api: ApiClient, params: Mapping[str, Any], *, page_size: int = PAGE
) -> AsyncGenerator[dict[str, Any], None]:
    """Every event ``GET /api/events`` matches with ``params``, one page in memory at a time.

    Follows ``next_cursor`` (sending the same filters with it) until the last
    page. API errors propagate as OpenCrateError (a bad filter: InvalidInput).
    A caller that may stop early wraps it in ``contextlib.aclosing``.
    """
    cursor: str | None = None
    while True:
        query = {**params, "limit": page_size}
        if cursor is not None:
            query["cursor"] = cursor
        page = await api.get("/events", query)
        for event in page["items"]:
            yield event
        cursor = page["next_cursor"]
        if cursor is None:
            return


def _key(event: Mapping[str, Any]) -> tuple[int, int]:
    # The log's own order: (created_ms, id), ties on the time broken by id.
    return event["created_ms"], event["id"]


async def follow_events(
    api: ApiClient,
    filters: Mapping[str, str],
    *,
    after: Mapping[str, Any] | None,
    interval_s: float,
    emit: Callable[[dict[str, Any]], None],
) -> None:
    """Forever: every ``interval_s`` seconds, ``emit`` the events stored after ``after``.

    ``after`` is the last event already shown (``None``: from the start of
    what ``filters`` match). Each look asks for ``since=<its created_ms>`` in
    ascending order, pages through everything that arrived, and skips what is
    not strictly after the last event in ``(created_ms, id)`` order, so every
    event comes out once and in order however many arrived between two looks.
    An event folded into an open duplicate moves to its new time and is shown
    again with its new count. Cancel it to stop; API errors propagate as
    OpenCrateError.
    """
    last = _key(after) if after is not None else None
    while True:
        await trio.sleep(interval_s)
        params: dict[str, Any] = {**filters, "order": "asc"}
        if last is not None:
            params["since"] = str(last[0])
        async with aclosing(iter_events(api, params)) as arrived:
            async for event in arrived:
                if last is None or _key(event) > last:
                    emit(event)
                    last = _key(event)


#: The filters both ``events query`` and ``events tail`` take.
_filters = compose(
    url_option,
    click.option("--context", help="Only this node id or resource path (exact)."),
    click.option(
        "--under", help="Only this context and those beneath it (a device and its points)."
    ),
    click.option("--name", help="Only this event type, e.g. DeviceDown."),
    click.option("--level", type=_LEVELS, help="Only this level and above."),
    click.option("--since", help="From this time: ISO 8601, epoch ms, or ago (2h)."),
    click.option("--until", help="Before this time (same forms as --since)."),
    json_lines_option,
)


def _params(**filters: str | None) -> dict[str, str]:
    """The ``GET /api/events`` filters that were given (the server parses and checks them)."""
    return {key: value for key, value in filters.items() if value is not None}


@click.group()
def events() -> None:
    """Read, follow and purge the event log (through a running server)."""


@events.command()
@_filters
@count_option(
    "--limit",
    default=100,
    minimum=0,
    maximum=None,
    help="How many events to print in all (0: every match, paged).",
)
@click.option("--oldest-first", is_flag=True, help="Oldest first (default: newest first).")
@click.pass_context
async def query(
    ctx: click.Context,
    url: str | None,
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
    params = _params(context=context, under=under, name=name, level=level, since=since, until=until)
    params["order"] = "asc" if oldest_first else "desc"
    page_size = min(limit, PAGE) if limit else PAGE
    printed = 0
    with cli_errors():
        # aclosing: stopping at --limit must finalize the generator here, not in GC.
        async with (
            ApiClient(resolve_url(ctx, url)) as api,
            aclosing(iter_events(api, params, page_size=page_size)) as found,
        ):
            async for event in found:
                _emit(event, as_json)
                printed += 1
                if printed == limit:
                    break


@events.command()
@_filters
@count_option(
    "-n", "lines", default=20, maximum=PAGE, help="How many of the newest events to print first."
)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new events as they arrive.")
@click.option("--interval", default="1s", show_default=True, help="How often --follow looks.")
@click.pass_context
async def tail(
    ctx: click.Context,
    url: str | None,
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

    Following polls the server every --interval for events after the last one
    printed (see :func:`follow_events`).
    """
    try:
        interval_s = parse_duration_ms(interval) / 1000
    except OpenCrateError as exc:
        raise click.BadParameter(str(exc), param_hint="--interval") from None
    filters = _params(context=context, under=under, name=name, level=level, until=until)
    with cli_errors():
        async with ApiClient(resolve_url(ctx, url)) as api:
            newest = await api.get(
                "/events", {**filters, **_params(since=since), "order": "desc", "limit": lines}
            )
            for event in reversed(newest["items"]):
                _emit(event, as_json)
            if not follow:
                return
            after = newest["items"][0] if newest["items"] else None
            await follow_events(
                # With nothing printed yet, the user's --since is where to start.
                api,
                filters if after is not None else {**filters, **_params(since=since)},
                after=after,
                interval_s=interval_s,
                emit=lambda event: _emit(event, as_json),
            )


@events.command()
@url_option
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted, per table.")
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    help="Rows per delete (default: the server's [events] purge_batch).",
)
@click.pass_context
async def purge(ctx: click.Context, url: str | None, dry_run: bool, batch: int | None) -> None:
    """Delete expired events now, in bounded batches (what the periodic job does)."""
    body: dict[str, Any] = {"dry_run": dry_run}
    if batch is not None:
        body["batch"] = batch
    with cli_errors():
        # No timeout: a purge takes as long as the backlog (about 23,000 rows/s).
        async with ApiClient(resolve_url(ctx, url), timeout_s=None) as api:
            report = await api.post("/events/purge", body)
    if dry_run:
        for table, count in report["tables"].items():
            if count:
                click.echo(f"{table}: {count}")
        click.echo(f"would delete {report['expired']} expired events (dry run)")
        return
    click.echo(f"deleted {report['deleted']} expired events in {report['batches']} batches")
