"""``opencrate simulate modbus``: a scenario's simulated Modbus devices as a standalone server.

(The devices and point commands of every bridge are the devices component's.)
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING

import asyncclick as click
import trio

from opencrate.cli.client import cli_errors
from opencrate.cli.simulate import simulate

if TYPE_CHECKING:
    from opencrate.components.modbus.simulator import ModbusSimulator

__all__ = ["simulate"]


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
