"""Shutdown never waits on a client that does not read (hypercorn's shielded socket write).

Each client here is a raw socket with a tiny receive buffer that reads the
answer's head and then nothing: the server's socket write blocks once the
kernel buffers are full. Before :mod:`opencrate.api.server` bounded those
writes, the server never returned (the write is shielded and has no timeout).
"""

from __future__ import annotations

import base64
import os
from functools import partial

import hypercorn.trio.run
import trio

from opencrate.api.app import create_app
from opencrate.api.server import BoundedSendTCPServer, serve_api
from opencrate.app import Services
from opencrate.components.points.store import PointStore
from opencrate.components.properties.store import PropertyStore
from opencrate.components.users.roles import Role
from opencrate.runtime.fanout import SubscriptionStatistics
from tests.harness import add_user_with_token, build_tree

#: What the whole shutdown may take, whatever the clients do (the issue's promise).
SHUTDOWN_LIMIT_S = 5.0


async def _stuck_client(
    port: int, request: bytes, *, receive_buffer: int = 4096
) -> trio.socket.SocketType:
    """A connected socket that sent ``request``, read the answer's head, and reads no more."""
    sock = trio.socket.socket()
    try:
        # Before connect, so the advertised window stays tiny.
        sock.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_RCVBUF, receive_buffer)
        await sock.connect(("127.0.0.1", port))
        await sock.send(request)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = await sock.recv(1)
            assert chunk, f"server closed before answering: {head!r}"
            head += chunk
    except BaseException:
        sock.close()
        raise
    return sock


async def _serve(services: Services, nursery: trio.Nursery, done: trio.Event) -> int:
    assert services.supervisor is not None

    async def run(*, task_status: trio.TaskStatus[list[str]]) -> None:
        try:
            assert services.supervisor is not None
            await serve_api(
                create_app(services),
                host="127.0.0.1",
                port=0,
                shutdown_trigger=services.supervisor.shutdown_requested.wait,
                task_status=task_status,
            )
        finally:
            done.set()

    urls: list[str] = await nursery.start(run)
    return int(urls[0].rsplit(":", 1)[1])


def _ws_stream(stats: tuple[SubscriptionStatistics, ...]) -> SubscriptionStatistics:
    (found,) = [s for s in stats if s.name.startswith("ws")]
    return found


def test_hypercorn_builds_our_tcp_server() -> None:
    # hypercorn.trio.serve has no hook for the TCP server class: if this global
    # moves in a hypercorn release, the bound writes silently stop applying.
    assert hypercorn.trio.run.TCPServer is BoundedSendTCPServer


async def test_shutdown_drops_a_websocket_client_that_never_reads(
    services: Services, nursery: trio.Nursery
) -> None:
    await build_tree(services)
    token = await add_user_with_token(services, "watcher", Role.VIEWER)
    done = trio.Event()
    port = await _serve(services, nursery, done)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /api/ws?types=ValueChanged HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n"
    ).encode()
    with await _stuck_client(port, request):
        await _flood_until_stuck(services)
        assert services.supervisor is not None
        started = trio.current_time()
        services.supervisor.request_shutdown()
        with trio.fail_after(SHUTDOWN_LIMIT_S):
            await done.wait()
        assert trio.current_time() - started < SHUTDOWN_LIMIT_S


async def _flood_until_stuck(services: Services) -> None:
    points = services.get(PointStore)
    with trio.fail_after(30):
        # Publish until the stream's handler is stuck in its socket write: then
        # every event published while it is stuck is dropped for it.
        while True:
            before = _ws_stream(services.bus.statistics().subscribers).dropped
            for i in range(200):
                points.set("1001/sat", float(i))
                await trio.lowlevel.checkpoint()
            if _ws_stream(services.bus.statistics().subscribers).dropped - before >= 190:
                break


async def test_shutdown_drops_an_http_client_that_never_reads_its_response(
    services: Services, nursery: trio.Nursery
) -> None:
    properties = services.get(PropertyStore)
    size = 32 * 1024 * 1024  # more than every kernel buffer on the way holds
    await properties.put("site", "firmware", os.urandom(size))
    token = await add_user_with_token(services, "reader", Role.VIEWER)
    done = trio.Event()
    port = await _serve(services, nursery, done)
    request = (
        f"GET /api/properties/site/firmware/blob HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\n\r\n"
    ).encode()
    with await _stuck_client(port, request):
        with trio.fail_after(10):
            await properties.wait_blocks_read(1)  # the response is under way
        assert services.supervisor is not None
        started = trio.current_time()
        services.supervisor.request_shutdown()
        with trio.fail_after(SHUTDOWN_LIMIT_S):
            await done.wait()
        assert trio.current_time() - started < SHUTDOWN_LIMIT_S
    # It did not get everything: it was dropped, not waited for.
    assert properties.statistics().detail.blocks_read < size // (64 * 1024)


async def test_a_slow_reader_is_dropped_while_serving(
    services: Services, nursery: trio.Nursery
) -> None:
    properties = services.get(PropertyStore)
    size = 32 * 1024 * 1024
    await properties.put("site", "firmware", os.urandom(size))
    token = await add_user_with_token(services, "reader", Role.VIEWER)
    assert services.supervisor is not None
    urls: list[str] = await nursery.start(
        partial(
            serve_api,
            create_app(services),
            host="127.0.0.1",
            port=0,
            send_timeout_s=0.3,
            shutdown_trigger=services.supervisor.shutdown_requested.wait,
        )
    )
    port = int(urls[0].rsplit(":", 1)[1])
    request = (
        f"GET /api/properties/site/firmware/blob HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\n\r\n"
    ).encode()
    with await _stuck_client(port, request) as sock:
        await _read_slowly_to_the_end(sock, size)
    services.supervisor.request_shutdown()


async def _read_slowly_to_the_end(sock: trio.socket.SocketType, size: int) -> None:
    # Slower than the send timeout: the server gives up on this client. Had it
    # waited, the whole body would arrive and the keep-alive connection stay open.
    await trio.sleep(1.0)
    received = 0
    with trio.fail_after(10):
        while True:
            try:
                chunk = await sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += len(chunk)
    assert received < size


async def test_a_slow_but_steady_reader_of_a_large_answer_is_not_dropped(
    services: Services, nursery: trio.Nursery
) -> None:
    # One 2 MB JSON answer is one socket write; the deadline is per 64 KiB slice
    # of it ("no progress"), so a client taking 16 KiB every 10 ms (its window
    # is small) gets it all, though the whole write takes longer than the 0.5 s
    # send timeout.
    properties = services.get(PropertyStore)
    await properties.put("site", "notes", "n" * (2 * 1024 * 1024))
    token = await add_user_with_token(services, "reader", Role.VIEWER)
    assert services.supervisor is not None
    urls: list[str] = await nursery.start(
        partial(
            serve_api,
            create_app(services),
            host="127.0.0.1",
            port=0,
            send_timeout_s=0.5,
            shutdown_trigger=services.supervisor.shutdown_requested.wait,
        )
    )
    port = int(urls[0].rsplit(":", 1)[1])
    request = (
        f"GET /api/properties/site/notes HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\n\r\n"
    ).encode()
    received = 0
    started = trio.current_time()
    with await _stuck_client(port, request, receive_buffer=16384) as sock, trio.fail_after(30):
        while received < 2 * 1024 * 1024 and (chunk := await sock.recv(16384)):
            received += len(chunk)
            await trio.sleep(0.01)  # a slow reader, steadily taking what comes
    took = trio.current_time() - started
    assert received >= 2 * 1024 * 1024
    assert took > 0.5  # longer than the send timeout: one deadline for it all would cut it
    services.supervisor.request_shutdown()
