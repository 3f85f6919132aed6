"""Serving the quart-trio app with hypercorn inside our own nursery."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from quart_trio import QuartTrio

__all__ = ["serve_api"]


async def serve_api(
    app: QuartTrio,
    *,
    host: str,
    port: int,
    shutdown_trigger: Callable[[], Awaitable[None]],
    graceful_timeout_s: float = 1.0,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until ``shutdown_trigger`` returns; ``task_status.started`` gets the bound URLs.

    Port 0 picks a free port (tests). ``graceful_timeout_s`` is short because our
    websocket handlers close themselves with 1001 as soon as shutdown begins;
    hypercorn's default (3 s) would only delay exit.
    """
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = graceful_timeout_s
    async with trio.open_nursery() as nursery:
        urls: list[str] = await nursery.start(
            partial(serve, app, config, shutdown_trigger=shutdown_trigger)
        )
        task_status.started(urls)
