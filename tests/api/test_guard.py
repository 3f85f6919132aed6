"""The request guard (``opencrate/api/guard.py``): each attack of issue 9 does no harm.

The app's own test client for what the guard decides, and a real hypercorn
server (``tests.harness.serving``) where the socket matters: Content-Length
and chunked bodies, keep-alive after a refused body, websocket handshakes.
"""

from __future__ import annotations

import gc
import json
from collections.abc import AsyncIterator
from typing import Any

import h11
import httpx
import pytest
import trio
import trio.testing
from quart.testing import WebsocketResponseError
from quart.typing import TestClientProtocol as Client
from quart_trio import QuartTrio
from trio_websocket import ConnectionRejected, open_websocket_url

from opencrate.api.access import LARGE_BODY, SMALL_BODY
from opencrate.api.app import create_app
from opencrate.api.guard import CONTENT_SECURITY_POLICY
from opencrate.app import Services
from opencrate.components.audit.store import AuditStore
from opencrate.components.history.setup import Persistence
from opencrate.components.nodes.store import NodeStore
from opencrate.components.users.roles import Role
from tests.harness import build_tree, serving

_SITE = {"id": "evil-site", "node_type": "site", "dis": "Evil"}


async def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, await response.get_data(as_text=True)
    error: dict[str, Any] = (await response.get_json())["error"]
    return error


async def _nothing_written(services: Services, nodes_before: int) -> None:
    assert len(services.get(NodeStore)) == nodes_before
    assert services.get(NodeStore).get_or_none("evil-site") is None
    assert await services.get(AuditStore).count() == 0


# -- body types (415) ------------------------------------------------------------------


async def test_a_cross_site_text_plain_post_creates_no_node(
    services: Services, client: Client
) -> None:
    await build_tree(services)
    before = len(services.get(NodeStore))
    # What a form or fetch() on another site can send without a CORS preflight.
    response = await client.post(
        "/api/nodes", data=json.dumps(_SITE), headers={"Content-Type": "text/plain"}
    )
    error = await _error(response, 415)
    assert error["code"] == "unsupported_media_type"
    assert error["message"] == (
        "POST /api/nodes takes a body of type application/json; "
        "the request sent Content-Type 'text/plain'"
    )
    assert error["detail"] == {"content_type": "text/plain", "accepted": ["application/json"]}
    for form_type in ("application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        form = await client.post(
            "/api/nodes", data=b"id=evil-site", headers={"Content-Type": form_type}
        )
        await _error(form, 415)
    await _nothing_written(services, before)


async def test_a_body_without_a_content_type_is_415_and_an_empty_one_needs_none(
    services: Services, client: Client
) -> None:
    await build_tree(services)
    before = len(services.get(NodeStore))
    error = await _error(await client.post("/api/nodes", data=json.dumps(_SITE)), 415)
    assert "the request sent no Content-Type" in error["message"]
    await _nothing_written(services, before)
    # An acknowledgement without a body reaches its route (which finds no such alarm).
    assert (await _error(await client.post("/api/alarms/99/ack"), 404))["code"] == "not_found"
    # A charset parameter is fine: the type is what counts.
    created = await client.post(
        "/api/nodes",
        data=json.dumps(_SITE),
        headers={"Content-Type": "Application/JSON; charset=utf-8"},
    )
    assert created.status_code == 201, await created.get_data(as_text=True)


async def test_a_delete_with_a_foreign_body_is_refused_and_deletes_nothing(
    services: Services, client: Client
) -> None:
    await build_tree(services)
    before = len(services.get(NodeStore))
    response = await client.delete(
        "/api/nodes/hq?recursive=true", data=b"x", headers={"Content-Type": "text/plain"}
    )
    assert (await _error(response, 415))["code"] == "unsupported_media_type"
    await _nothing_written(services, before)


async def test_persistence_text_needs_its_own_type_and_text_plain_changes_nothing(
    services: Services, client: Client
) -> None:
    persistence = services.get(Persistence)
    version = persistence.config.version
    attack = "Items { nothing : strategy = everyUpdate }"  # record nothing
    response = await client.put(
        "/api/persistence/sqlite", data=attack, headers={"Content-Type": "text/plain"}
    )
    error = await _error(response, 415)
    assert error["detail"]["accepted"] == ["application/json", "text/x-openhab-persist"]
    assert persistence.config.version == version
    assert await services.get(AuditStore).count() == 0
    accepted = await client.put(
        "/api/persistence/sqlite", data=attack, headers={"Content-Type": "text/x-openhab-persist"}
    )
    assert accepted.status_code == 200, await accepted.get_data(as_text=True)
    assert persistence.config.version != version


async def test_property_blobs_may_be_octet_streams_other_routes_not(client: Client) -> None:
    blob = await client.put(
        "/api/properties/devices/1001/setpoint",
        data=b"\x00\x01",
        headers={"Content-Type": "application/octet-stream"},
    )
    assert blob.status_code == 200, await blob.get_data(as_text=True)
    override = await client.put(
        "/api/points/1001/sat/override",
        data=b'{"value": 1}',
        headers={"Content-Type": "application/octet-stream"},
    )
    assert (await _error(override, 415))["detail"]["accepted"] == ["application/json"]


# -- body size (413) -------------------------------------------------------------------


async def test_a_body_over_the_route_limit_is_413_naming_the_limit(
    services: Services, client: Client
) -> None:
    await build_tree(services)
    before = len(services.get(NodeStore))
    padded = {**_SITE, "properties": {"pad": "x" * SMALL_BODY}}
    response = await client.post("/api/nodes", json=padded)
    error = await _error(response, 413)
    assert error["code"] == "content_too_large"
    assert "over the 64 KiB limit of POST /api/nodes" in error["message"]
    assert error["detail"] == {"limit": SMALL_BODY}
    await _nothing_written(services, before)


async def test_history_imports_take_large_bodies(services: Services, client: Client) -> None:
    await build_tree(services)
    samples = [
        {"point_id": "1001/sat", "time": 1_600_000_000_000 + i, "value": float(i)}
        for i in range(2000)
    ]
    body = json.dumps({"samples": samples}).encode()
    assert SMALL_BODY < len(body) < LARGE_BODY
    response = await client.post(
        "/api/history", data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, await response.get_data(as_text=True)


async def _chunks(total: int, size: int = 8192) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        piece = min(size, total - sent)
        sent += piece
        yield b" " * piece


async def test_a_real_server_refuses_long_and_chunked_bodies_with_413(services: Services) -> None:
    await build_tree(services)
    before = len(services.get(NodeStore))
    body = json.dumps({**_SITE, "properties": {"pad": "x" * SMALL_BODY}}).encode()
    async with serving(services) as url, httpx.AsyncClient(base_url=url) as http:
        declared = await http.post(
            "/api/nodes", content=body, headers={"Content-Type": "application/json"}
        )
        assert declared.status_code == 413, declared.text
        message = declared.json()["error"]["message"]
        assert f"({len(body)} bytes) is over the 64 KiB limit" in message
        # No Content-Length: the body arrives chunked and is refused once it grows past 64 KiB.
        chunked = await http.post(
            "/api/nodes",
            content=_chunks(SMALL_BODY + 20_000),
            headers={"Content-Type": "application/json"},
        )
        assert "content-length" not in chunked.request.headers
        assert chunked.request.headers["transfer-encoding"] == "chunked"
        assert chunked.status_code == 413, chunked.text
        assert "is over the 64 KiB limit of POST /api/nodes" in chunked.json()["error"]["message"]
        # The server is still there for the next request.
        assert (await http.get("/api/health")).status_code == 200
    await _nothing_written(services, before)


async def _exchange(
    stream: trio.SocketStream, conn: h11.Connection, head: h11.Request, body: bytes = b""
) -> int:
    """One request on a kept-alive connection, its body sent only once the server has
    seen the head (and decided, had it not waited for the body); the answer's status."""
    await stream.send_all(conn.send(head))
    await trio.testing.wait_all_tasks_blocked()
    await stream.send_all(conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage()))
    status = 0
    while not isinstance(event := conn.next_event(), h11.EndOfMessage):
        assert not isinstance(event, h11.ConnectionClosed), "the server closed the connection"
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.receive_some(65536))
        elif isinstance(event, h11.Response):
            status = event.status_code
    conn.start_next_cycle()
    return status


async def test_a_refused_body_does_not_stall_the_next_request_on_the_connection(
    services: Services, tokens: dict[Role, str]
) -> None:
    # stack-feasibility.md §8, trap 3: a body the app never read stalled the next
    # request on the same keep-alive connection. Refusing a body before reading it
    # reproduces that here (the GET below never got an answer); the guard reads
    # every body, then refuses.
    await build_tree(services)
    async with serving(services) as url:
        host = url.removeprefix("http://")
        address, port = host.rsplit(":", 1)
        stream = await trio.open_tcp_stream(address, int(port))
        conn = h11.Connection(h11.CLIENT)
        body = b"{" * 2000
        post = h11.Request(
            method="POST",
            target="/api/nodes",
            headers=[
                ("Host", host),
                ("Content-Type", "text/plain"),
                ("Content-Length", str(len(body))),
            ],
        )
        get = h11.Request(
            method="GET",
            target="/api/nodes/hq",
            headers=[("Host", host), ("Authorization", f"Bearer {tokens[Role.VIEWER]}")],
        )
        with trio.fail_after(10):
            for _ in range(20):
                assert await _exchange(stream, conn, post, body) == 415
                assert await _exchange(stream, conn, get) == 200
        await stream.aclose()
    assert services.get(NodeStore).get_or_none("evil-site") is None


async def test_a_body_refused_before_it_was_read_closes_the_connection(
    services: Services, tokens: dict[Role, str]
) -> None:
    # A declared length over the limit is answered 413 at once, before the body
    # arrives; the rest of that body must not be read as the next request (trap 3),
    # so the answer closes the connection. A body read whole keeps it open.
    await build_tree(services)
    async with serving(services) as url:
        host = url.removeprefix("http://")
        address, port = host.rsplit(":", 1)
        stream = await trio.open_tcp_stream(address, int(port))
        conn = h11.Connection(h11.CLIENT)
        headers = [("Host", host), ("Content-Type", "application/json")]
        small = h11.Request(
            method="POST", target="/api/nodes", headers=[*headers, ("Content-Length", "2")]
        )
        large = h11.Request(
            method="POST",
            target="/api/nodes",
            headers=[*headers, ("Content-Length", str(SMALL_BODY + 1))],
        )
        with trio.fail_after(10):
            assert await _exchange(stream, conn, small, b"{}") == 401  # read whole: kept open
            await stream.send_all(conn.send(large))
            response = None
            while response is None:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await stream.receive_some(65536))
                elif isinstance(event, h11.Response):
                    response = event
            assert response.status_code == 413
            assert (b"connection", b"close") in response.headers
            # The client sends the body it had begun, then (wrongly) another request:
            # the server reads no further request on this connection and closes it.
            await stream.send_all(b" " * (SMALL_BODY + 1))
            await stream.send_all(
                b"GET /api/health HTTP/1.1\r\nHost: " + host.encode() + b"\r\n\r\n"
            )
            rest = b""
            while chunk := await stream.receive_some(65536):
                rest += chunk
            assert b"HTTP/1.1 200" not in rest
        await stream.aclose()
        async with httpx.AsyncClient(base_url=url) as http:
            assert (await http.get("/api/health")).status_code == 200


# -- Host (DNS rebinding) ----------------------------------------------------------------


async def test_a_foreign_host_is_400_naming_it_and_writes_nothing(
    services: Services, client: Client
) -> None:
    await build_tree(services)
    before = len(services.get(NodeStore))
    # A page on evil.example whose name now resolves to this server (DNS rebinding).
    headers = {"Host": "evil.example:8080"}
    error = await _error(await client.post("/api/nodes", json=_SITE, headers=headers), 400)
    assert error["code"] == "invalid_host"
    assert error["message"] == (
        "Host 'evil.example:8080' is not a name this server answers to; if it is one of "
        "this server's names, add it to [server] allowed_hosts in the settings file"
    )
    await _error(await client.get("/api/nodes", headers=headers), 400)
    await _nothing_written(services, before)
    for own in ("localhost", "localhost:8080", "127.0.0.1:9", "[::1]:8080", "LOCALHOST."):
        response = await client.get("/api/health", headers={"Host": own})
        assert response.status_code == 200, own


async def test_configured_hosts_are_allowed_beside_the_defaults(services: Services) -> None:
    services.settings = services.settings.with_changes(
        allowed_hosts=("bms.plant.example", ".site.example")
    )
    client = create_app(services).test_client()
    for host in ("bms.plant.example:8080", "site.example", "ahu.site.example", "localhost"):
        assert (await client.get("/api/health", headers={"Host": host})).status_code == 200, host
    for host in ("plant.example", "evil-site.example", "10.0.0.5"):
        response = await client.get("/api/health", headers={"Host": host})
        assert response.status_code == 400, host


async def test_bound_to_every_interface_any_ip_literal_is_allowed(services: Services) -> None:
    services.settings = services.settings.with_changes(host="0.0.0.0")
    client = create_app(services).test_client()
    for host in ("10.0.0.5:8080", "[fe80::1]", "192.168.1.20"):
        assert (await client.get("/api/health", headers={"Host": host})).status_code == 200, host
    assert (await client.get("/api/health", headers={"Host": "evil.example"})).status_code == 400


async def test_a_websocket_with_a_foreign_host_is_refused(app: QuartTrio) -> None:
    async with app.test_client().websocket("/api/ws", headers={"Host": "evil.example"}) as ws:
        with pytest.raises(WebsocketResponseError) as refused:
            await ws.receive()
    assert refused.value.response.status_code == 400
    assert (await refused.value.response.get_json())["error"]["code"] == "invalid_host"


# -- websocket Origin ------------------------------------------------------------------


async def _handshake(url: str, origin: str | None, token: str | None = None) -> int | None:
    """Open and close the stream; None when accepted, else the refusal's status."""
    headers = [] if origin is None else [("Origin", origin)]
    if token is not None:
        headers.append(("Authorization", f"Bearer {token}"))
    try:
        async with open_websocket_url(url, extra_headers=headers):
            return None
    except ConnectionRejected as rejected:
        return rejected.status_code


# trio-websocket 0.12.2 leaves the socket of a refused handshake to the garbage
# collector (as for server-side closes, see test_ws_server.py): that warning only.
@pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")
async def test_a_browser_websocket_from_another_origin_is_refused_before_accept(
    services: Services, tokens: dict[Role, str]
) -> None:
    async with serving(services) as base:
        url = f"{base.replace('http://', 'ws://')}/api/ws"
        port = base.rsplit(":", 1)[1]
        subscribers = services.bus.statistics().subscribers
        assert await _handshake(url, "https://evil.example") == 403
        assert await _handshake(url, f"http://evil.example:{port}") == 403
        assert await _handshake(url, "null") == 403  # a sandboxed frame or a file page
        assert await _handshake(url, f"http://127.0.0.1:{int(port) + 1}") == 403  # another port
        assert services.bus.statistics().subscribers == subscribers
        # The operator page (same origin), and clients that are not browsers (no Origin).
        # The Origin is refused before credentials are read: no token was needed above.
        viewer = tokens[Role.VIEWER]
        assert await _handshake(url, f"http://127.0.0.1:{port}", viewer) is None
        assert await _handshake(url, None, viewer) is None
    gc.collect()


# -- response headers --------------------------------------------------------------------


async def test_every_response_carries_the_security_headers(client: Client) -> None:
    responses = {
        "api": await client.get("/api/health"),
        "error": await client.get("/api/nodes/nope"),
        "page": await client.get("/ui/"),
        "asset": await client.get("/ui/app.js"),
    }
    for name, response in responses.items():
        headers = response.headers
        assert headers["X-Content-Type-Options"] == "nosniff", name
        assert headers["X-Frame-Options"] == "DENY", name
        assert headers["Referrer-Policy"] == "no-referrer", name
        assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, name
        assert "Strict-Transport-Security" not in headers, name  # plain HTTP
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert responses["api"].headers["Cache-Control"] == "no-store"
    assert responses["error"].headers["Cache-Control"] == "no-store"
    assert responses["page"].headers["Cache-Control"] == "no-cache"  # revalidated with its ETag
