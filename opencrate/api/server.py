"""Serving the quart-trio app with hypercorn inside our own nursery."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from quart_trio import QuartTrio

from opencrate.api.tls import check_tls_files

__all__ = ["serve_api"]


async def serve_api(
    app: QuartTrio,
    *,
    host: str,
    port: int,
    shutdown_trigger: Callable[[], Awaitable[None]],
    graceful_timeout_s: float = 1.0,
    certfile: Path | None = None,
    keyfile: Path | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until ``shutdown_trigger`` returns; ``task_status.started`` gets the bound URLs.

    Port 0 picks a free port (tests). ``graceful_timeout_s`` is short because our
    websocket handlers close themselves with 1001 as soon as shutdown begins;
    hypercorn's default (3 s) would only delay exit. With ``certfile`` and
    ``keyfile`` (PEM) it serves HTTPS (and ``wss://``) only; a missing or
    unusable pair is a :class:`~opencrate.errors.ConfigError` before anything listens.
    """
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = graceful_timeout_s
    if certfile is not None or keyfile is not None:
        if certfile is None or keyfile is None:
            raise ValueError("certfile and keyfile go together")
        await trio.to_thread.run_sync(check_tls_files, certfile, keyfile)
        config.certfile = str(certfile)
        config.keyfile = str(keyfile)
    async with trio.open_nursery() as nursery:
        urls: list[str] = await nursery.start(
            partial(serve, app, config, shutdown_trigger=shutdown_trigger)
        )
        task_status.started(urls)
