"""``/api/ws`` over a real socket: hypercorn on 127.0.0.1 port 0, trio-websocket as client.

Why the ``filterwarnings`` marks and the ``gc.collect()``: when the *server*
closes a websocket, trio-websocket 0.12.2 answers the close frame but never
closes its own TCP stream (``_handle_close_connection_event`` only does that
for server connections), so the socket reaches the garbage collector open and
emits ``ResourceWarning: unclosed <socket.socket ...>`` (also noted in
``stack-feasibility.md`` §3). Under ``-W error`` that would fail the run for a
client-library quirk. So the client work runs in a helper whose frames die
when it returns, ``gc.collect()`` runs inside the test, and exactly that
warning is ignored in exactly the tests where the server closes. Nothing on
the server side is excused: the server's sockets are closed by hypercorn.
"""

from __future__ import annotations

import gc
import json
from functools import partial
from typing import Any

import pytest
import trio
from trio_websocket import CloseReason, ConnectionClosed, open_websocket_url

import opencrate.runtime.events as events_module
from opencrate.api.app import create_app
from opencrate.api.server import serve_api
from opencrate.app import Services
from opencrate.components.points.store import PointStore
from opencrate.components.users.roles import Role
from opencrate.runtime.events import Event
from tests.harness import TEST_BUS_CAPACITY, add_user_with_token, build_tree

_SERVER_CLOSES = pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")


async def _serve(services: Services, nursery: trio.Nursery) -> str:
    assert services.supervisor is not None
    urls: list[str] = await nursery.start(
        partial(
            serve_api,
            create_app(services),
            host="127.0.0.1",
            port=0,
            shutdown_trigger=services.supervisor.shutdown_requested.wait,
        )
    )
    return urls[0].replace("http://", "ws://")


async def _flood_then_shut_down(
    services: Services, url: str, published: int
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any], CloseReason]:
    """Flood the stream past its queue, read everything, then request shutdown."""
    async with open_websocket_url(url, extra_headers=await _credentials(services)) as ws:
        services.get(PointStore).set("2001/zat", 20.0)  # on floor-2: filtered out in publish
        # No checkpoint in between: the first ones are queued (trio hands one
        # more straight to the waiting handler), the rest are dropped and counted.
        for i in range(published):
            services.get(PointStore).set("1001/sat", float(i))
        delivered = [json.loads(await ws.get_message()) for _ in range(TEST_BUS_CAPACITY)]
        services.get(PointStore).set("1001/sat", 99.0)
        while (message := json.loads(await ws.get_message()))["type"] != "Lagged":
            delivered.append(message)
        after = json.loads(await ws.get_message())
        assert services.supervisor is not None
        services.supervisor.request_shutdown()
        with pytest.raises(ConnectionClosed) as closed:
            await ws.get_message()
        return delivered, message, after, closed.value.reason


@_SERVER_CLOSES
async def test_stream_filters_reports_lag_and_closes_1001_on_shutdown(
    services: Services, nursery: trio.Nursery
) -> None:
    await build_tree(services)
    base = await _serve(services, nursery)
    published = 3 * TEST_BUS_CAPACITY
    delivered, lagged, after, reason = await _flood_then_shut_down(
        services, f"{base}/api/ws?types=ValueChanged&under=floor-1", published
    )
    gc.collect()  # the client's socket warns here, under this test's filter

    assert {(m["type"], m["node_id"]) for m in delivered} == {("ValueChanged", "1001/sat")}
    # No gap goes unreported: what arrived, then exactly how many did not, then live again.
    assert [m["value"] for m in delivered] == [float(i) for i in range(len(delivered))]
    assert lagged == {"type": "Lagged", "count": published - len(delivered)}
    assert lagged["count"] > 0
    assert (after["type"], after["value"]) == ("ValueChanged", 99.0)
    assert (reason.code, reason.reason) == (1001, "server shutting down")


async def _credentials(services: Services) -> list[tuple[bytes, bytes]]:
    token = await add_user_with_token(services, "watcher", Role.VIEWER)
    return [(b"Authorization", f"Bearer {token}".encode())]


async def _refused(
    url: str, headers: list[tuple[bytes, bytes]]
) -> tuple[dict[str, Any], CloseReason]:
    async with open_websocket_url(url, extra_headers=headers) as ws:
        message = json.loads(await ws.get_message())
        with pytest.raises(ConnectionClosed) as closed:
            await ws.get_message()
        return message, closed.value.reason


@_SERVER_CLOSES
async def test_unknown_type_gets_an_error_message_and_close_1008_naming_it(
    services: Services, nursery: trio.Nursery
) -> None:
    base = await _serve(services, nursery)
    message, reason = await _refused(
        f"{base}/api/ws?types=ValueChanged,Bogus", await _credentials(services)
    )
    gc.collect()
    assert services.supervisor is not None
    services.supervisor.request_shutdown()

    assert message["type"] == "error"
    assert message["error"]["code"] == "invalid_input"
    assert reason.code == 1008
    assert "'Bogus'" in (reason.reason or "")


async def test_every_client_gets_the_same_frames_serialized_once_per_event(
    services: Services, nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Count the serializations: the real event_to_dict, counted on its way through.
    made: list[Event] = []
    real = events_module.event_to_dict

    def counted(event: Event) -> dict[str, Any]:
        made.append(event)
        return real(event)

    monkeypatch.setattr(events_module, "event_to_dict", counted)
    await build_tree(services)
    base = await _serve(services, nursery)
    headers = await _credentials(services)
    clients, published = 5, TEST_BUS_CAPACITY // 2  # no client falls behind
    frames: list[list[str]] = []
    connected = 0
    all_connected = trio.Event()

    async def client(url: str) -> None:
        nonlocal connected
        async with open_websocket_url(url, extra_headers=headers) as ws:
            connected += 1  # subscribed: the stream subscribes before it accepts
            if connected == clients:
                all_connected.set()
            got = []
            for _ in range(published):
                message = await ws.get_message()
                assert isinstance(message, str)  # text frames
                got.append(message)
            frames.append(got)

    with trio.fail_after(10):
        async with trio.open_nursery() as readers:
            for i in range(clients):
                # Different filters on the same events: the text is still shared.
                query = "types=ValueChanged" if i % 2 else "types=ValueChanged&under=floor-1"
                readers.start_soon(client, f"{base}/api/ws?{query}")
            await all_connected.wait()
            for i in range(published):
                services.get(PointStore).set("1001/sat", float(i))
    assert services.supervisor is not None
    services.supervisor.request_shutdown()

    assert len(frames) == clients
    assert all(got == frames[0] for got in frames)
    assert [json.loads(m)["value"] for m in frames[0]] == [float(i) for i in range(published)]
    sent = [event for event in made if type(event).__name__ == "ValueChanged"]
    assert len(sent) == published  # once per event, not once per client
