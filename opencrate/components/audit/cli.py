"""``opencrate audit``: read the audit log of a running server."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import asyncclick as click
import trio

from opencrate.cli.client import ApiClient, cli_errors, resolve_url, url_option
from opencrate.cli.options import count_option
from opencrate.clock import ms_to_iso

__all__ = ["audit", "entries_after", "follow_audit", "format_entry"]

#: Page size used while catching up in ``--follow``.
_FOLLOW_PAGE = 100


@click.group()
def audit() -> None:
    """Read the audit log: who changed what, and when (through a running server)."""


def format_entry(entry: Mapping[str, Any]) -> str:
    """One line: time, user, action, target and the detail as compact JSON."""
    detail = json.dumps(entry["detail"], ensure_ascii=False, separators=(",", ":"))
    target = entry["target"] or "-"
    line = f"{ms_to_iso(entry['ts_ms'])}  {entry['user']:<8} {entry['action']:<18} {target}"
    return f"{line}  {detail}" if entry["detail"] else line


async def entries_after(
    api: ApiClient, after_id: int, filters: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Every entry with an id above ``after_id``, oldest first (pages back as far as needed)."""
    collected: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {**filters, "limit": _FOLLOW_PAGE}
        if cursor is not None:
            params["cursor"] = cursor
        page = await api.get("/audit", params)
        fresh = [entry for entry in page["items"] if entry["id"] > after_id]
        collected.extend(fresh)
        if len(fresh) < len(page["items"]) or page["next_cursor"] is None:
            break
        cursor = page["next_cursor"]
    collected.reverse()
    return collected


async def follow_audit(
    api: ApiClient,
    *,
    after_id: int,
    interval_s: float,
    filters: Mapping[str, str],
    emit: Callable[[dict[str, Any]], None],
) -> None:
    """Forever: every ``interval_s`` seconds, ``emit`` the entries appended since the last look.

    Entries come out oldest first and each exactly once, however many arrived
    in between. Cancel it to stop; API errors propagate as OpenCrateError.
    """
    while True:
        for entry in await entries_after(api, after_id, filters):
            emit(entry)
            after_id = entry["id"]
        await trio.sleep(interval_s)


@audit.command()
@url_option
@count_option(
    "-n",
    "--lines",
    "count",
    default=20,
    maximum=500,
    help="How many of the newest entries to print.",
)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new entries until Ctrl-C.")
@click.option("--user", help="Only entries by this user.")
@click.option("--action", help="Only entries with this action (e.g. node.create).")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.05),
    default=1.0,
    show_default=True,
    help="Seconds between looks with --follow.",
)
@click.pass_context
async def tail(
    ctx: click.Context,
    url: str | None,
    count: int,
    follow: bool,
    user: str | None,
    action: str | None,
    interval: float,
) -> None:
    """Print the newest audit entries, oldest of them first (as tail does)."""
    filters = {k: v for k, v in (("user", user), ("action", action)) if v is not None}
    with cli_errors():
        async with ApiClient(resolve_url(ctx, url)) as api:
            page = await api.get("/audit", {**filters, "limit": count})
            newest = page["items"]
            for entry in reversed(newest):
                click.echo(format_entry(entry))
            if follow:
                await follow_audit(
                    api,
                    after_id=newest[0]["id"] if newest else 0,
                    interval_s=interval,
                    filters=filters,
                    emit=lambda entry: click.echo(format_entry(entry)),
                )
