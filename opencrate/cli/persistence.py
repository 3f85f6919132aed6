"""``opencrate persistence check FILE``: validate a ``.persist`` or TOML persistence file.

Reads the file the way the server would (no server needed) and prints what it
configures, one line per service and item line; an error names the file, the
line and the offending token and exits with status 1.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import asyncclick as click
import trio

from opencrate.cli.client import cli_errors
from opencrate.persistence.config import SERVICE_KINDS, PersistenceConfig
from opencrate.persistence.config_toml import load_config_file

__all__ = ["persistence", "summary"]


@click.group()
def persistence() -> None:
    """Persistence configuration (strategies, filters, items, aliases)."""


def summary(config: PersistenceConfig) -> list[str]:
    """Human-readable lines describing ``config``."""
    lines: list[str] = []
    for service in config.services:
        default = " (default)" if service.name == config.default_service() else ""
        lines.append(f"service {service.name} [{service.kind}]{default}")
        for strategy in service.strategies:
            lines.append(f"  strategy {strategy.name}: {strategy.expression}")
        for item in service.items:
            where = f"line {item.line}: " if item.line is not None else ""
            points = ", ".join(str(s) for s in item.selectors)
            alias = f" -> {item.alias}" if item.alias else ""
            filters = f" filter={','.join(item.filters)}" if item.filters else ""
            lines.append(f"  {where}{points}{alias} : {','.join(item.strategies)}{filters}")
        for point, alias in service.aliases.items():
            lines.append(f"  alias {point} -> {alias}")
    return lines


@persistence.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--kind",
    type=click.Choice(sorted(SERVICE_KINDS)),
    help="Kind of a .persist file's service when its file name is not a kind.",
)
async def check(file: Path, kind: str | None) -> None:
    """Validate a .persist or .toml file and print what it configures."""
    with cli_errors():
        config = await trio.to_thread.run_sync(partial(load_config_file, file, kind=kind))
    for line in summary(config):
        click.echo(line)
    click.echo(f"ok: {file}")
