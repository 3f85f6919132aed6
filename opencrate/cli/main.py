"""The ``opencrate`` command: an asyncclick group running on trio.

Each command group lives in its own module under :mod:`opencrate.cli` and is
added in :func:`_register`. The entry point always passes
``_anyio_backend="trio"``: asyncclick would otherwise pick asyncio whenever
anyio is installed (httpx installs it), and trio code would fail.
"""

from __future__ import annotations

import logging
from pathlib import Path

import asyncclick as click

from opencrate import __version__

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="opencrate")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="OPENCRATE_CONFIG",
    help="Settings file (TOML). Env: OPENCRATE_CONFIG.",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.pass_context
async def cli(ctx: click.Context, config_path: Path | None, verbose: int) -> None:
    """OpenCrate: an open building-management data core.

    Serve a building over HTTP and websockets, and inspect its model,
    history, alarms and events from the command line.
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path


def _register() -> None:
    from opencrate.cli import serve
    from opencrate.components.alarms import cli as alarms
    from opencrate.components.audit import cli as audit
    from opencrate.components.eventlog import cli as events
    from opencrate.components.history import cli as history
    from opencrate.components.history import config_cli as persistence
    from opencrate.components.nodes import cli as nodes

    for command in (
        serve.serve,
        serve.init,
        events.events,
        nodes.nodes,
        audit.audit,
        alarms.alarms,
        history.history,
        persistence.persistence,
    ):
        cli.add_command(command)


_register()


def main() -> None:
    """Console-script entry point."""
    cli(_anyio_backend="trio")
