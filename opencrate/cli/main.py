"""The ``opencrate`` command: an asyncclick group running on trio.

``serve`` and ``init`` live here (:mod:`opencrate.cli.serve`); every other
command group comes from its component's declaration
(``opencrate.app.COMPONENTS``). The entry point always passes
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
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="OPENCRATE_TOKEN_FILE",
    help="Send the API token in this file (default: $OPENCRATE_TOKEN, else the one "
    "`opencrate login` stored). Env: OPENCRATE_TOKEN_FILE.",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.pass_context
async def cli(
    ctx: click.Context, config_path: Path | None, token_file: Path | None, verbose: int
) -> None:
    """OpenCrate: an open building-management data core.

    Serve a building over HTTP and websockets, and inspect its model,
    history, alarms and events from the command line.
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path
    ctx.obj["token_file"] = token_file


def _register() -> None:
    from opencrate.app import COMPONENTS
    from opencrate.cli import serve

    for command in (serve.serve, serve.init):
        cli.add_command(command)
    for spec in COMPONENTS:
        for command in spec.cli_commands():
            cli.add_command(command)


_register()


def main() -> None:
    """Console-script entry point."""
    cli(_anyio_backend="trio")
