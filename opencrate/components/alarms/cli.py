"""``opencrate alarms``: list, acknowledge and shelve alarms of a running server.

Like ``opencrate nodes`` these commands go through the server's API rather
than opening ``alarms.db``: the server's AlarmStore holds the open alarms in
memory, publishes the events that drive the point flags, and records every
acknowledgement in the audit log. A write beside it would bypass all three.

::

    opencrate alarms list --severity minor
    opencrate alarms list --history -n 50
    opencrate alarms ack 12 --comment "damper stuck, ticket 4711"
    opencrate alarms shelve 12 --until 2h
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import asyncclick as click

from opencrate.cli.client import ApiClient, cli_errors, resolve_url, url_option
from opencrate.cli.options import count_option, json_lines_option
from opencrate.clock import ms_to_iso
from opencrate.components.alarms.store import AlarmState, Severity
from opencrate.validation import ascii_int

__all__ = ["alarms", "format_alarm"]


@click.group()
def alarms() -> None:
    """List, acknowledge and shelve alarms (through a running server)."""


def format_alarm(alarm: Mapping[str, Any]) -> str:
    """One line: id, severity, state, raised time, node, type, count and message."""
    count = f" x{alarm['count']}" if alarm["count"] > 1 else ""
    flags = " [shelved]" if alarm.get("shelved_until_ms") else ""
    flags += " [stale]" if alarm.get("stale_ms") else ""
    return (
        f"#{alarm['id']:<5} {alarm['severity']:<8} {alarm['state']:<16} "
        f"{ms_to_iso(alarm['raised_ms'])}  {alarm['node_id']} {alarm['type']}{count}"
        f"{flags}  {alarm['message']}"
    )


def _emit(items: list[dict[str, Any]], as_json: bool) -> None:
    for alarm in items:
        click.echo(json.dumps(alarm, ensure_ascii=False) if as_json else format_alarm(alarm))


@alarms.command("list")
@url_option
@click.option("--node", help="Only this point's alarms.")
@click.option(
    "--severity",
    type=click.Choice([s.value for s in Severity]),
    help="Only this severity or worse.",
)
@click.option(
    "--state",
    type=click.Choice([s.value for s in AlarmState if s is not AlarmState.CLOSED]),
    help="Only alarms in this state.",
)
@click.option("--shelved", is_flag=True, help="Include shelved alarms.")
@click.option("--history", is_flag=True, help="Closed alarms (newest first) instead of open ones.")
@count_option("-n", "--limit", default=100, maximum=500, help="At most this many alarms.")
@json_lines_option
@click.pass_context
async def list_alarms(
    ctx: click.Context,
    url: str | None,
    node: str | None,
    severity: str | None,
    state: str | None,
    shelved: bool,
    history: bool,
    limit: int,
    as_json: bool,
) -> None:
    """Print open alarms, most severe and newest first (or, with --history, closed ones)."""
    params: dict[str, Any] = {"limit": limit}
    if node is not None:
        params["node"] = node
    if history:
        if severity or state or shelved:
            raise click.UsageError("--history takes only --node and --limit")
        path = "/alarms/history"
    else:
        path = "/alarms"
        params.update(
            {k: v for k, v in (("severity", severity), ("state", state)) if v is not None}
        )
        if shelved:
            params["shelved"] = "true"
    with cli_errors():
        async with ApiClient(resolve_url(ctx, url)) as api:
            page = await api.get(path, params)
    _emit(page["items"], as_json)
    if not page["items"] and not as_json:
        click.echo("no closed alarms" if history else "no open alarms", err=True)


@alarms.command()
@url_option
@click.argument("alarm_id", type=click.IntRange(min=1))
@click.option("--comment", default="", help="Why, or what was done (kept with the alarm).")
@click.pass_context
async def ack(ctx: click.Context, url: str | None, alarm_id: int, comment: str) -> None:
    """Acknowledge alarm ALARM_ID (it closes if it was already cleared)."""
    with cli_errors():
        async with ApiClient(resolve_url(ctx, url)) as api:
            alarm = await api.post(f"/alarms/{alarm_id}/ack", {"comment": comment})
    click.echo(format_alarm(alarm))


@alarms.command()
@url_option
@click.argument("alarm_id", type=click.IntRange(min=1))
@click.option(
    "--until",
    help="Until when: a duration from now (2h, 30m), an ISO 8601 time or epoch ms.",
)
@click.option("--unshelve", is_flag=True, help="End the shelving now.")
@click.pass_context
async def shelve(
    ctx: click.Context, url: str | None, alarm_id: int, until: str | None, unshelve: bool
) -> None:
    """Shelve alarm ALARM_ID: hide it and mute its repeats until a time."""
    if unshelve == (until is not None):
        raise click.UsageError("give exactly one of --until and --unshelve")
    target: str | int | None = None
    if until is not None:
        # Epoch ms goes as a number; anything else as text for the server to parse or refuse.
        epoch_ms = ascii_int(until)
        target = until if epoch_ms is None else epoch_ms
    with cli_errors():
        async with ApiClient(resolve_url(ctx, url)) as api:
            alarm = await api.post(f"/alarms/{alarm_id}/shelve", {"until": target})
    click.echo(format_alarm(alarm))
