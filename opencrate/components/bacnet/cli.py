"""``opencrate discover scan|list|show|accept|ignore``: BACnet discovery from the terminal.

Talks to a running server (``/api/discovery/...``) like the other client
commands: ``--url`` or ``OPENCRATE_URL``, the login's token.
"""

from __future__ import annotations

import json
from typing import Any

import asyncclick as click

from opencrate.cli.client import ApiClient, cli_errors, resolve_url, url_option
from opencrate.cli.options import json_lines_option

__all__ = ["discover"]


@click.group()
async def discover() -> None:
    """Find BACnet devices, see what they hold, accept them into the model."""


def _device_line(device: dict[str, Any]) -> str:
    stale = "  (object list changed: accept again)" if device.get("object_list_stale") else ""
    name = device.get("device_name") or "-"
    vendor = device.get("vendor_name") or "-"
    count = device.get("object_count")
    return (
        f"{device['device_key']:<9} {device['state']:<10} {device['address']:<22} "
        f"{name[:28]:<28} {vendor[:18]:<18} {'-' if count is None else count:>5} objects{stale}"
    )


@discover.command()
@url_option
@click.option("--low", type=click.IntRange(0, 4_194_303), help="Ranged Who-Is: lowest instance.")
@click.option("--high", type=click.IntRange(0, 4_194_303), help="Ranged Who-Is: highest instance.")
@click.option("--address", help="Directed Who-Is to host[:port].")
@click.option("--timeout", help="How long to collect I-Ams, e.g. 3s.")
@click.pass_context
async def scan(
    ctx: click.Context,
    url: str | None,
    low: int | None,
    high: int | None,
    address: str | None,
    timeout: str | None,
) -> None:
    """Send a Who-Is (global unless --low/--high or --address) and read what answers."""
    body: dict[str, Any] = {}
    for key, value in (("low", low), ("high", high), ("address", address), ("timeout", timeout)):
        if value is not None:
            body[key] = value
    with cli_errors():
        async with ApiClient(resolve_url(ctx, url)) as api:
            result = await api.post("/discovery/scan", body)
    click.echo(
        f"{result['mode']} scan: {len(result['devices'])} devices "
        f"({len(result['new_devices'])} new), {result['point_count']} point objects "
        f"in {result['duration_s']:.1f}s"
    )
    for key in result["devices"]:
        click.echo(f"  {key}{'  new' if key in result['new_devices'] else ''}")
    for key in result["failed"]:
        click.echo(f"  {key}  answered the Who-Is but not the reads", err=True)


@discover.command("list")
@url_option
@click.option("--all", "include_ignored", is_flag=True, help="Include ignored devices.")
@json_lines_option
@click.pass_context
async def list_discovered(
    ctx: click.Context, url: str | None, include_ignored: bool, as_json: bool
) -> None:
    """List discovered devices: key, state, address, name, vendor, object count."""
    path = "/discovery/devices" + ("?include_ignored=true" if include_ignored else "")
    with cli_errors():
        async with ApiClient(resolve_url(ctx, url)) as api:
            page = await api.get(path)
    for device in page["items"]:
        click.echo(json.dumps(device) if as_json else _device_line(device))


@discover.command()
@url_option
@click.argument("key")
@click.pass_context
async def show(ctx: click.Context, url: str | None, key: str) -> None:
    """Show device KEY and its point objects (type, instance, name, units, value)."""
    with cli_errors():
        async with ApiClient(resolve_url(ctx, url)) as api:
            detail = await api.get(f"/discovery/devices/{key}")
    click.echo(_device_line(detail["device"]))
    for p in detail["points"]:
        writable = "w" if p.get("writable") else " "
        obj = f"{p['object_type']}-{p['object_instance']}"
        click.echo(
            f"  {obj:<24} {writable} {(p.get('object_name') or '-')[:32]:<32} "
            f"{p.get('units') or '':<18} {json.dumps(p.get('present_value'))}"
        )


@discover.command()
@url_option
@click.argument("key")
@click.option("--parent", "parent_id", help="A site or space for the equipment.")
@click.pass_context
async def accept(ctx: click.Context, url: str | None, key: str, parent_id: str | None) -> None:
    """Accept device KEY: create its equipment and points, start polling it."""
    body = {} if parent_id is None else {"parent_id": parent_id}
    with cli_errors():
        async with ApiClient(resolve_url(ctx, url)) as api:
            result = await api.post(f"/discovery/devices/{key}/accept", body)
    created = result["created_node_ids"]
    click.echo(
        f"accepted {key}: {len(created)} nodes created, {result['polled_points']} points polled"
    )
    for node_id in created:
        click.echo(f"  {node_id}")


@discover.command()
@url_option
@click.argument("key")
@click.pass_context
async def ignore(ctx: click.Context, url: str | None, key: str) -> None:
    """Ignore device KEY: hide it from listings and later scans."""
    with cli_errors():
        async with ApiClient(resolve_url(ctx, url)) as api:
            await api.post(f"/discovery/devices/{key}/ignore", {})
    click.echo(f"ignored {key}")
