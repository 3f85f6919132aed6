"""``opencrate devices list|show``: the field devices and their health, from a running server."""

from __future__ import annotations

import json
from typing import Any

import asyncclick as click

from opencrate.cli.client import ApiClient, cli_errors, resolve_url, url_option
from opencrate.cli.options import json_lines_option
from opencrate.clock import ms_to_iso

__all__ = ["devices"]


@click.group()
async def devices() -> None:
    """Field devices (Modbus) and their health."""


def _line(device: dict[str, Any]) -> str:
    rtt = "-" if device["last_rtt_ms"] is None else f"{device['last_rtt_ms']:.1f} ms"
    where = f"{device['host']}:{device['port']} unit {device['unit_id']}"
    error = (
        f"  last error: {device['last_error']}"
        if device["state"] != "online" and device["last_error"]
        else ""
    )
    return (
        f"{device['id']:<16} {device['protocol']:<7} {device['state']:<9} {where:<26} "
        f"{device['points']:>4} points  rtt {rtt}{error}"
    )


@devices.command("list")
@url_option
@json_lines_option
@click.pass_context
async def list_devices(ctx: click.Context, url: str | None, as_json: bool) -> None:
    """List the polled devices: state, address, points, last round-trip time."""
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
    """Show DEVICE_ID's health and counts."""
    with cli_errors():
        async with ApiClient(resolve_url(ctx, url)) as api:
            device = await api.get(f"/devices/{device_id}")
    for key, value in device.items():
        if key.endswith("_ms") and key != "last_rtt_ms" and isinstance(value, int):
            value = ms_to_iso(value)
        click.echo(f"{key:<22} {value}")
