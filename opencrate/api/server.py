"""Serving the quart-trio app with hypercorn inside our own nursery.

Slow readers and shutdown
    hypercorn 0.18's trio ``TCPServer.protocol_send`` writes every chunk with
    ``stream.send_all`` inside a *shielded* cancel scope with no timeout. When
    a client stops reading (a frozen tablet, a websocket client that never
    reads), the kernel's send buffer fills and that write waits for as long as
    TCP takes to give up: neither hypercorn's graceful timeout nor our second
    SIGINT (both are cancellations) can reach it, so shutdown hangs. The
    server here uses :class:`BoundedSendTCPServer`, which keeps the shield
    (a write must not be cut half-way on a live connection) but bounds each
    write. It sends in slices of :data:`SEND_SLICE` bytes, each of which must
    be taken within :data:`SEND_TIMEOUT_S` while serving (a slow but live
    client, 6 KiB/s or more, is never cut off, however large the answer);
    once shutdown begins, every write in flight or started later must be done
    :data:`SHUTDOWN_SEND_TIMEOUT_S` after shutdown began. A write that misses
    its deadline drops the connection (the client sees it closed), so a
    client that does not read is dropped, never waited for.
"""

from __future__ import annotations

import logging
import math
import weakref
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

import hypercorn.trio.run
import trio
from hypercorn.config import Config
from hypercorn.events import Closed, Event, RawData
from hypercorn.trio import serve
from hypercorn.trio.tcp_server import TCPServer
from quart_trio import QuartTrio

from opencrate.api.tls import check_tls_files

__all__ = [
    "SEND_SLICE",
    "SEND_TIMEOUT_S",
    "SHUTDOWN_SEND_TIMEOUT_S",
    "BoundedSendTCPServer",
    "SendDeadlines",
    "serve_api",
]

log = logging.getLogger(__name__)

#: A write to a client that makes no progress for this long drops the connection.
SEND_TIMEOUT_S = 10.0
#: Once shutdown begins, every write must be done this long after it began.
SHUTDOWN_SEND_TIMEOUT_S = 0.5
#: Each slice of a write gets its own deadline: "no progress", not "too large".
SEND_SLICE = 64 * 1024


class SendDeadlines:
    """The cancel scopes of the writes in flight, so shutdown can tighten them."""

    def __init__(self, send_timeout_s: float, shutdown_send_timeout_s: float) -> None:
        self.send_timeout_s = send_timeout_s
        self.shutdown_send_timeout_s = shutdown_send_timeout_s
        self.dropped = 0  # connections dropped because a write missed its deadline
        self._latest = math.inf  # once shutting down: when every write must be done
        self._scopes: weakref.WeakSet[trio.CancelScope] = weakref.WeakSet()

    @property
    def shutting_down(self) -> bool:
        return self._latest < math.inf

    def scope(self) -> trio.CancelScope:
        """A shielded scope for one slice of a write, with the deadline that applies now."""
        deadline = min(trio.current_time() + self.send_timeout_s, self._latest)
        scope = trio.CancelScope(shield=True, deadline=deadline)
        self._scopes.add(scope)
        return scope

    def begin_shutdown(self) -> None:
        """Every write in flight, and every later one, must be done shortly."""
        self._latest = trio.current_time() + self.shutdown_send_timeout_s
        for scope in list(self._scopes):
            scope.deadline = min(scope.deadline, self._latest)


class _Config(Config):
    """hypercorn's Config with the write deadlines our TCP server reads."""

    send_deadlines: SendDeadlines


class BoundedSendTCPServer(TCPServer):
    """hypercorn's trio TCP server with a deadline on each socket write (module docstring)."""

    async def protocol_send(self, event: Event) -> None:
        if not isinstance(event, RawData):
            await super().protocol_send(event)
            return
        deadlines = getattr(self.config, "send_deadlines", None)
        if deadlines is None:  # a Config that is not ours: hypercorn's own behaviour
            await super().protocol_send(event)
            return
        async with self.send_lock:
            try:
                sent = await self._send_bounded(memoryview(event.data), deadlines)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                await self.protocol.handle(Closed())
                return
            if not sent:
                # Part of a slice may have gone out: the connection cannot continue.
                deadlines.dropped += 1
                log.info(
                    "dropped a connection whose client did not read (%s)",
                    "at shutdown" if deadlines.shutting_down else
                    f"{deadlines.send_timeout_s:g} s without taking {SEND_SLICE} bytes",
                )  # fmt: skip
                with trio.CancelScope(shield=True):
                    await self.stream.aclose()
                    await self.protocol.handle(Closed())

    async def _send_bounded(self, data: memoryview, deadlines: SendDeadlines) -> bool:
        """Send ``data`` slice by slice, each under its deadline; False when one missed it."""
        for start in range(0, len(data), SEND_SLICE):
            with deadlines.scope() as scope:
                await self.stream.send_all(data[start : start + SEND_SLICE])
            if scope.cancelled_caught:
                return False
        return True


# hypercorn.trio.serve builds its TCPServer from this module global and has no
# hook for another class; tests/api/test_slow_clients.py fails if it moves.
hypercorn.trio.run.TCPServer = BoundedSendTCPServer  # type: ignore[attr-defined]


async def serve_api(
    app: QuartTrio,
    *,
    host: str,
    port: int,
    shutdown_trigger: Callable[[], Awaitable[None]],
    graceful_timeout_s: float = 1.0,
    send_timeout_s: float = SEND_TIMEOUT_S,
    shutdown_send_timeout_s: float = SHUTDOWN_SEND_TIMEOUT_S,
    certfile: Path | None = None,
    keyfile: Path | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until ``shutdown_trigger`` returns; ``task_status.started`` gets the bound URLs.

    Port 0 picks a free port (tests). ``graceful_timeout_s`` is short because our
    websocket handlers close themselves with 1001 as soon as shutdown begins;
    hypercorn's default (3 s) would only delay exit. A write to a client that
    does not read is bounded by ``send_timeout_s`` (``shutdown_send_timeout_s``
    once shutdown begins), so shutdown takes at most about
    ``graceful_timeout_s + shutdown_send_timeout_s`` whatever the clients do.
    With ``certfile`` and ``keyfile`` (PEM) it serves HTTPS (and ``wss://``)
    only; a missing or unusable pair is a :class:`~opencrate.errors.ConfigError`
    before anything listens.
    """
    for name, value in (
        ("send timeout", send_timeout_s),
        ("shutdown send timeout", shutdown_send_timeout_s),
    ):
        if not (value > 0 and math.isfinite(value)):
            raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    config = _Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = graceful_timeout_s
    deadlines = SendDeadlines(send_timeout_s, shutdown_send_timeout_s)
    config.send_deadlines = deadlines
    if certfile is not None or keyfile is not None:
        if certfile is None or keyfile is None:
            raise ValueError("certfile and keyfile go together")
        await trio.to_thread.run_sync(check_tls_files, certfile, keyfile)
        config.certfile = str(certfile)
        config.keyfile = str(keyfile)

    async def trigger() -> None:
        await shutdown_trigger()
        deadlines.begin_shutdown()

    async with trio.open_nursery() as nursery:
        urls: list[str] = await nursery.start(partial(serve, app, config, shutdown_trigger=trigger))
        task_status.started(urls)
