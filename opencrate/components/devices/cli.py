"""``opencrate devices list|show`` and ``opencrate point write|relinquish|priority``.

Every bridge's field devices and their health, and commands to bridged
points, from a running server (``GET /api/devices``,
``POST /api/points/{id}/write``): one group for all protocols, so an operator
need not know which bridge a device or point is on.
"""

from __future__ import annotations

import json
from typing import Any

import asyncclick as click

from opencrate.cli.client import ApiClient, cli_errors, resolve_url, url_option
from opencrate.cli.options import json_lines_option
from opencrate.clock import ms_to_iso

__all__ = ["devices", "point"]


@click.group()
async def devices() -> None:
    """Field devices (every bridge's) and their health."""


def _line(device: dict[str, Any]) -> str:
    rtt = "-" if device["last_rtt_ms"] is None else f"{device['last_rtt_ms']:.1f} ms"
    error = (
        f"  last error: {device['last_error']}"
        if device["state"] != "online" and device["last_error"]
        else ""
    )
    return (
        f"{device['id']:<16} {device['protocol']:<7} {device['state']:<9} "
        f"{device['address']:<26} {device['points']:>4} points  rtt {rtt}{error}"
    )


def _shown(key: str, value: object) -> object:
    if key.endswith("_ms") and key != "last_rtt_ms" and isinstance(value, int):
        return ms_to_iso(value)
    return value


@devices.command("list")
@url_option
@json_lines_option
@click.pass_context
async def list_devices(ctx: click.Context, url: str | None, as_json: bool) -> None:
    """List every bridge's devices: protocol, state, address, points, last round-trip time."""
    with cli_errors():
        async with ApiClient(resolve_url(ctx, url)) as api:
            page = await api.get("/devices")
    for device in page["items"]:
        click.echo(json.dumps(device) if as_json else _line(device))


@devices.command()
@url_option
@click.argument("device_id")
@click.pass_context
async def show(ctx: click.Context, url: str | None, device_id: str) -> None:
    """Show DEVICE_ID's health and counts, then its protocol's own details."""
    with cli_errors():
        async with ApiClient(resolve_url(ctx, url)) as api:
            device = await api.get(f"/devices/{device_id}")
    details = device.pop("details", None) or {}
    for key, value in device.items():
        click.echo(f"{key:<22} {_shown(key, value)}")
    if details:
        click.echo("details")
    for key, value in details.items():
        click.echo(f"  {key:<20} {_shown(key, value)}")


@click.group()
async def point() -> None:
    """Command points (writes with a priority) and see who commands them."""


def _cli_value(text: str) -> object:
    # "21.5", "true", "3" are JSON; anything else is sent as text (the server
    # coerces it to the point's kind and names the point if it cannot).
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, int | float | bool) else text


@point.command()
@url_option
@click.argument("point_id")
@click.argument("value")
@click.option("--priority", type=click.IntRange(1, 16), default=8, show_default=True,
              help="1 (highest) .. 16; 8 is the manual operator's.")  # fmt: skip
@click.option("--duration", help="Relinquish after this long ('30m', '2h').")
@click.pass_context
async def write(
    ctx: click.Context,
    url: str | None,
    point_id: str,
    value: str,
    priority: int,
    duration: str | None,
) -> None:
    """Write VALUE to POINT_ID at --priority (operator); prints what the device read back."""
    body: dict[str, Any] = {"value": _cli_value(value), "priority": priority}
    if duration:
        body["duration"] = duration
    with cli_errors():
        async with ApiClient(resolve_url(ctx, url)) as api:
            result = await api.post(f"/points/{point_id}/write", body)
    click.echo(
        f"{result['point_id']}: commanded {result['commanded']!r} at priority "
        f"{result['active_priority']}, device reads back {result['read_back']!r}"
    )


@point.command()
@url_option
@click.argument("point_id")
@click.option("--priority", type=click.IntRange(1, 16), default=8, show_default=True)
@click.pass_context
async def relinquish(ctx: click.Context, url: str | None, point_id: str, priority: int) -> None:
    """Empty POINT_ID's --priority slot; the next one down takes over."""
    with cli_errors():
        async with ApiClient(resolve_url(ctx, url)) as api:
            result = await api.post(
                f"/points/{point_id}/write", {"value": None, "priority": priority}
            )
    active, read_back = result["active_priority"], result["read_back"]
    if active is not None:
        now = f"priority {active} commands {result['commanded']!r}, device reads back {read_back!r}"
    elif read_back is None:
        now = "no slot commands it now; the device keeps its last value"
    else:
        # A device that keeps its own array (BACnet) may still be commanded by another client.
        now = f"no slot of OpenCrate's commands it now; device reads back {read_back!r}"
    click.echo(f"{result['point_id']}: slot {priority} relinquished; {now}")


@point.command()
@url_option
@click.argument("point_id")
@click.pass_context
async def priority(ctx: click.Context, url: str | None, point_id: str) -> None:
    """Show POINT_ID's sixteen priority slots and which one wins."""
    with cli_errors():
        async with ApiClient(resolve_url(ctx, url)) as api:
            view = await api.get(f"/points/{point_id}/priority")
    for slot in view["slots"]:
        if slot is None:
            continue
        until = "" if slot["until_ms"] is None else f" until {ms_to_iso(slot['until_ms'])}"
        mark = "*" if slot["priority"] == view["active_priority"] else " "
        # No "by" for a slot the device holds that OpenCrate did not write.
        by = slot["by"] or "(not written by OpenCrate)"
        click.echo(f"{mark}{slot['priority']:>3}  {slot['value']!r:<12} by {by}{until}")
    if view["active_priority"] is None:
        click.echo("no slot is occupied")
