"""``opencrate simulate bacnet``: a scenario's simulated BACnet devices, standalone.

The command joins the shared ``simulate`` group (:mod:`opencrate.cli.simulate`), beside
``opencrate simulate modbus``; this component's spec lists that group, which makes importing
this module (and so registering ``bacnet``) part of building the CLI.
"""

from __future__ import annotations

import signal
from pathlib import Path

import asyncclick as click
import trio

from opencrate.cli.client import cli_errors
from opencrate.cli.simulate import simulate
from opencrate.components.bacnet.simulator import DEFAULT_PORT, BacnetSimulator

__all__ = ["simulate", "simulate_bacnet"]


@simulate.command("bacnet")
@click.option(
    "--scenario",
    "scenario_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Scenario file whose BACnet-bound equipment is served.",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="UDP port every device shares (clients must use another one).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="First device's IPv4 address; the next devices take the addresses after it.",
)
@click.option(
    "--extra-objects",
    type=click.IntRange(0, 10_000),
    default=0,
    show_default=True,
    help="Filler objects added to every device (benchmarks).",
)
async def simulate_bacnet(scenario_path: Path, port: int, host: str, extra_objects: int) -> None:
    """Serve the scenario's simulated BACnet/IP devices, one address each on one UDP port.

    The first device is also a BBMD: a client on another port registers with it as a foreign
    device to discover every device with a global Who-Is; a directed Who-Is or a read to any
    device's address works without registering. The points' signals drive the objects. A table
    of devices is printed at start. Ctrl-C (SIGINT) or SIGTERM stops it with exit status 0.
    """
    from opencrate.components.scenario.parse import load_scenario

    with cli_errors():
        scenario = await trio.to_thread.run_sync(load_scenario, scenario_path)
        simulator = BacnetSimulator.from_scenario(
            scenario, host=host, port=port, extra=extra_objects
        )
    if not simulator.simulated:
        raise click.ClickException(f"{scenario_path}: no equipment has a bacnet binding")
    refused: OSError | None = None
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            try:
                await nursery.start(simulator.run)
            except OSError as exc:
                # Raised after the nursery, which would wrap it in an ExceptionGroup.
                refused = exc
            else:
                for line in banner(simulator):
                    click.echo(line)
                click.echo("Ctrl-C to stop")
                async for _ in signals:
                    break
            nursery.cancel_scope.cancel()
    if refused is not None:
        raise click.ClickException(refused.strerror or str(refused))
    click.echo("stopped")


def banner(simulator: BacnetSimulator) -> list[str]:
    """The start table: a line per device, then how to reach them from another port."""
    port = simulator.port
    client_port = port + 1 if port < 65535 else port - 1
    bbmd_ip, _, bbmd_port = simulator.bbmd_address.rpartition(":")
    lines = [
        f"{'instance':>8}  {'name':<20} {'address':<21} {'objects':>7}  {'bbmd':<4}  "
        "read its first object (bacnet-stack's bacrp, registered with the BBMD)"
    ]
    first_read = ""
    for device in simulator.simulated:
        spec = device.spec
        example = "-"
        if spec.objects:
            obj = spec.objects[0]
            example = f"bacrp {spec.instance} {obj.object_type} {obj.instance} present-value"
            if not first_read:
                first_read = f"read {device.address} {obj.object_type},{obj.instance} present-value"
        lines.append(
            f"{spec.instance:>8}  {spec.name:<20} {device.address:<21} {len(spec.objects):>7}  "
            f"{'yes' if device.bbmd else '':<4}  {example}"
        )
    lines.append(
        f"bacrp needs: export BACNET_IP_PORT={client_port} BACNET_BBMD_ADDRESS={bbmd_ip} "
        f"BACNET_BBMD_PORT={bbmd_port}"
    )
    lines.append(
        f"bacpypes3: python -m bacpypes3 --address {bbmd_ip}/{simulator.prefix}:{client_port} "
        f"--foreign {simulator.bbmd_address}, then: whois, {first_read}"
    )
    return lines
