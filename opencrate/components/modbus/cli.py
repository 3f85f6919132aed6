"""``opencrate devices list|show`` (the field devices and their health, from a running server)
and ``opencrate simulate modbus`` (a scenario's simulated Modbus devices as a standalone server).
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncclick as click
import trio

from opencrate.cli.client import ApiClient, cli_errors, resolve_url, url_option
from opencrate.cli.options import json_lines_option
from opencrate.clock import ms_to_iso

if TYPE_CHECKING:
    from opencrate.components.modbus.simulator import ModbusSimulator

__all__ = ["devices", "point", "simulate"]


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
    active = result["active_priority"]
    click.echo(
        f"{result['point_id']}: slot {priority} relinquished; "
        + ("no slot commands it now" if active is None else f"priority {active} commands "
           f"{result['commanded']!r}, device reads back {result['read_back']!r}")
    )  # fmt: skip


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
        click.echo(f"{mark}{slot['priority']:>3}  {slot['value']!r:<12} by {slot['by']}{until}")
    if view["active_priority"] is None:
        click.echo("no slot is occupied")


@click.group()
async def simulate() -> None:
    """Simulated devices, to try a client without hardware."""


#: mbpoll's ``-t`` table for each register type (16-bit; ``:int`` / ``:float`` for 32 bits).
_MBPOLL_TABLE = {"coil": "0", "discrete_input": "1", "input": "3", "holding": "4"}
_MBPOLL_SUFFIX = {"int32": ":int", "uint32": ":int", "float32": ":float"}


@simulate.command("modbus")
@click.option(
    "--scenario",
    "scenario_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Scenario file whose Modbus-bound points are served.",
)
@click.option(
    "--port", type=click.IntRange(0, 65535), required=True, help="TCP port (0: a free one)."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
async def simulate_modbus(scenario_path: Path, port: int, host: str) -> None:
    """Serve the scenario's simulated Modbus devices on one Modbus TCP port.

    Every device_id gets a unit id, 1..n in device-id order; the points' signals drive
    their registers. A table of devices and registers is printed at start. Ctrl-C
    (SIGINT) or SIGTERM stops it with exit status 0.
    """
    from opencrate.components.modbus.server import serve_modbus
    from opencrate.components.modbus.simulator import ModbusSimulator
    from opencrate.components.scenario.parse import load_scenario

    with cli_errors():
        scenario = await trio.to_thread.run_sync(load_scenario, scenario_path)
        simulator = ModbusSimulator(scenario)
    if not simulator.banks:
        raise click.ClickException(f"{scenario_path}: no point has a modbus binding")
    device_ids = sorted(simulator.banks)
    banks = {unit: simulator.banks[d] for unit, d in enumerate(device_ids, start=1)}
    refused: OSError | None = None
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(simulator.run)
            try:
                bound: int = await nursery.start(serve_modbus, banks, host, port)
            except OSError as exc:
                # Raised after the nursery, which would wrap it in an ExceptionGroup.
                refused = exc
            else:
                for line in _banner(simulator, device_ids, host, bound):
                    click.echo(line)
                click.echo("Ctrl-C to stop")
                async for _ in signals:
                    break
            nursery.cancel_scope.cancel()
    if refused is not None:
        raise click.ClickException(f"cannot listen on {host}:{port}: {refused.strerror or refused}")
    click.echo("stopped")


def _banner(simulator: ModbusSimulator, device_ids: list[str], host: str, port: int) -> list[str]:
    """The start table: a line per point, under its device's unit id and address."""
    where = f"{host}:{port}"
    lines = [
        f"{'device':<16} {'unit':>4}  {'host:port':<21} {'point':<24} {'register':<14} "
        f"{'addr':>5} {'ref':>5}  {'data type':<26} mbpoll",
    ]
    points = sorted(
        simulator.points.values(),
        key=lambda p: (p.device_id, p.format.register_type, p.address),
    )
    for unit, device_id in enumerate(device_ids, start=1):
        for point in points:
            if point.device_id != device_id:
                continue
            fmt = point.format
            data_type = str(fmt.data_type)
            if fmt.count > 1 and fmt.word_order == "little-endian":
                data_type += " CDAB"
            if fmt.byte_order == "little-endian":
                data_type += " bytes-swapped"
            if fmt.bit is not None:
                data_type += f" bit {fmt.bit}"
            if fmt.scale != 1.0:
                data_type += f" scale {fmt.scale:g}"
            if fmt.offset != 0.0:
                data_type += f" offset {fmt.offset:g}"
            table = _MBPOLL_TABLE[fmt.register_type]
            suffix = _MBPOLL_SUFFIX.get(str(fmt.data_type), "") if table in "34" else ""
            big = " -B" if suffix and fmt.word_order == "big-endian" else ""
            mbpoll = (
                f"mbpoll -a {unit} -p {port} -t {table}{suffix}{big} -r {point.address + 1} "
                f"-c {1 if suffix else fmt.count} -1 {host}"
            )
            lines.append(
                f"{device_id:<16} {unit:>4}  {where:<21} {point.node_id:<24} "
                f"{fmt.register_type:<14} {point.address:>5} {point.address + 1:>5}  "
                f"{data_type:<26} {mbpoll}"
            )
    return lines
