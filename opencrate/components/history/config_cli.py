"""``opencrate persistence check FILE``: validate a ``.persist`` or TOML persistence file.

Reads the file the way the server would (no server needed) and prints what it
configures, one line per service and item line; an error names the file, the
line and the offending token and exits with status 1. FILE may also be the
settings file (``opencrate.toml``): its ``[persistence]`` section is checked,
following ``file = "..."`` relative to it. Options are printed with any DSN
password masked.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import asyncclick as click
import trio

from opencrate.cli.client import cli_errors
from opencrate.components.history.config.model import (
    SERVICE_KINDS,
    PersistenceConfig,
    RetentionConfig,
    RetentionOverride,
    format_keep,
    service_to_dict,
)
from opencrate.components.history.config.toml import load_config_file

__all__ = ["persistence", "summary"]


@click.group()
def persistence() -> None:
    """Persistence configuration (strategies, filters, items, aliases, retention)."""


def _toml(value: object) -> str:
    # As the settings file spells it: accept_unknown_points=true, not True.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def summary(config: PersistenceConfig, checked: str | None = None) -> list[str]:
    """Human-readable lines describing ``config`` (read from the file ``checked``)."""
    lines: list[str] = []
    for service in config.services:
        default = " (default)" if service.name == config.default_service() else ""
        lines.append(f"service {service.name} [{service.kind}]{default}")
        if service.source is not None and service.source != checked:
            # Item line numbers below refer to this file, not the one checked.
            lines.append(f"  from {service.source}")
        if service.options:
            shown = service_to_dict(service)  # masks a DSN's password
            options = ", ".join(f"{key}={_toml(shown[key])}" for key in service.options)
            lines.append(f"  options: {options}")
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
        lines += _retention_summary(service.retention)
    return lines


def _retention_summary(retention: RetentionConfig | None) -> list[str]:
    if retention is None:
        return []

    def keeps(rule: RetentionOverride | None) -> str:
        resolved = retention.resolve(rule)
        return ", ".join(f"{key} {format_keep(ms)}" for key, ms in resolved.items())

    every = format_keep(retention.interval_ms)
    lines = [f"  retention: {keeps(None)} (every {every}, {retention.batch_rows} rows a batch)"]
    for rule in retention.rules:
        where = f"line {rule.line}: " if rule.line is not None else ""
        lines.append(f"  retention {where}{', '.join(rule.points)} : {keeps(rule)}")
    return lines


@persistence.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--kind",
    type=click.Choice(sorted(SERVICE_KINDS)),
    help="Kind of a .persist file's service when its file name is not a kind.",
)
async def check(file: Path, kind: str | None) -> None:
    """Validate a .persist or .toml file (or opencrate.toml) and print what it configures."""
    with cli_errors():
        config = await trio.to_thread.run_sync(partial(load_config_file, file, kind=kind))
    for line in summary(config, str(file)):
        click.echo(line)
    click.echo(f"ok: {file}")
