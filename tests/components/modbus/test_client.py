"""ModbusClient against hostile servers written here (trio sockets on loopback).

Each server answers requests by a script of behaviours, one per request in
arrival order (across connections); past the script it answers FC 3 properly
with register ``address + i``. Every bad answer must give its error class, and
the good request after it must succeed.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import ParamSpec

import pytest
import trio

from opencrate.components.modbus.client import ModbusClient
from opencrate.errors import BridgeError, BridgeTimeout, DeviceError, InvalidInput, ProtocolError

# The client's timeout in these tests; the safety net around each test is far longer.
TIMEOUT_S = 0.3
SAFETY_S = 10

P = ParamSpec("P")
Behaviour = Callable[[trio.SocketStream, bytes], Awaitable[None]]


async def receive_exactly(stream: trio.SocketStream, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = await stream.receive_some(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def good_answer(request: bytes, *, tid_shift: int = 0, unit: int | None = None) -> bytes:
    """The proper FC 3 answer to ``request``: registers address, address + 1, ..."""
    tid, _, _, req_unit, fc, address, count = struct.unpack(">HHHBBHH", request[:12])
    assert fc == 3, f"the test server only answers FC 3, got {fc}"
    body = bytes([fc, 2 * count]) + b"".join(struct.pack(">H", address + i) for i in range(count))
    return (
        struct.pack(
            ">HHHB",
            (tid + tid_shift) & 0xFFFF,
            0,
            len(body) + 1,
            req_unit if unit is None else unit,
        )
        + body
    )


def exception_answer(request: bytes, code: int) -> bytes:
    tid, _, _, unit, fc = struct.unpack(">HHHBB", request[:8])
    return struct.pack(">HHHBBB", tid, 0, 3, unit, fc | 0x80, code)


class HostileServer:
    def __init__(self, script: list[Behaviour]) -> None:
        self.script = list(script)
        self.connections = 0
        self.requests: list[bytes] = []
        self.first_request = trio.Event()
        self.port = 0

    async def handle(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        async with stream:
            with contextlib.suppress(
                trio.ClosedResourceError, trio.BrokenResourceError
            ):  # a behaviour hung up
                await self._answer(stream)

    async def _answer(self, stream: trio.SocketStream) -> None:
        while True:
            header = await receive_exactly(stream, 7)
            if header is None:
                return
            (length,) = struct.unpack(">H", header[4:6])
            body = await receive_exactly(stream, length - 1)
            if body is None:
                return
            request = header + body
            self.requests.append(request)
            self.first_request.set()
            if self.script:
                await self.script.pop(0)(stream, request)
            else:
                await stream.send_all(good_answer(request))


@pytest.fixture
async def serve(nursery: trio.Nursery) -> Callable[[list[Behaviour]], Awaitable[HostileServer]]:
    async def start(script: list[Behaviour]) -> HostileServer:
        server = HostileServer(script)
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, server.handle, 0, host="127.0.0.1")
        )
        server.port = listeners[0].socket.getsockname()[1]
        return server

    return start


def safety_net(test: Callable[P, Awaitable[None]]) -> Callable[P, Awaitable[None]]:
    """Fail a test that hangs (a net only: the client's own timeouts are what is tested)."""

    @functools.wraps(test)
    async def run(*args: P.args, **kwargs: P.kwargs) -> None:
        with trio.fail_after(SAFETY_S):
            await test(*args, **kwargs)

    return run


@pytest.fixture
async def clients() -> AsyncIterator[Callable[..., ModbusClient]]:
    """``clients(server, timeout_s=...)``: a client for the server, closed after the test."""
    made: list[ModbusClient] = []

    def make(server: HostileServer, timeout_s: float = TIMEOUT_S) -> ModbusClient:
        made.append(ModbusClient("127.0.0.1", server.port, timeout_s=timeout_s, device="dev1"))
        return made[-1]

    yield make
    for client in made:
        await client.aclose()


async def silent(stream: trio.SocketStream, request: bytes) -> None:
    await trio.sleep_forever()


async def garbage(stream: trio.SocketStream, request: bytes) -> None:
    await stream.send_all(b"\xde\xad\xbe\xef" * 4)


async def wrong_transaction_id(stream: trio.SocketStream, request: bytes) -> None:
    await stream.send_all(good_answer(request, tid_shift=1))


async def wrong_unit_id(stream: trio.SocketStream, request: bytes) -> None:
    await stream.send_all(good_answer(request, unit=request[6] ^ 0x55))


async def wrong_byte_count(stream: trio.SocketStream, request: bytes) -> None:
    # Consistent MBAP length, but the byte count promises two more bytes than sent.
    answer = bytearray(good_answer(request))
    answer[8] += 2
    await stream.send_all(bytes(answer))


async def length_too_short(stream: trio.SocketStream, request: bytes) -> None:
    # The MBAP length stops one register early; the rest trails behind.
    answer = bytearray(good_answer(request))
    struct.pack_into(">H", answer, 4, struct.unpack(">H", answer[4:6])[0] - 2)
    await stream.send_all(bytes(answer))


async def length_impossible(stream: trio.SocketStream, request: bytes) -> None:
    answer = bytearray(good_answer(request))
    struct.pack_into(">H", answer, 4, 1000)
    await stream.send_all(bytes(answer))


async def wrong_function(stream: trio.SocketStream, request: bytes) -> None:
    answer = bytearray(good_answer(request))
    answer[7] = 4
    await stream.send_all(bytes(answer))


async def half_then_stall(stream: trio.SocketStream, request: bytes) -> None:
    answer = good_answer(request)
    await stream.send_all(answer[: len(answer) // 2])
    await trio.sleep_forever()


async def hang_up(stream: trio.SocketStream, request: bytes) -> None:
    await stream.aclose()


async def answer_then_junk(stream: trio.SocketStream, request: bytes) -> None:
    await stream.send_all(good_answer(request) + b"\x00\x01")


async def answer_then_hang_up(stream: trio.SocketStream, request: bytes) -> None:
    await stream.send_all(good_answer(request))
    await stream.aclose()


def exception(code: int) -> Behaviour:
    async def answer(stream: trio.SocketStream, request: bytes) -> None:
        await stream.send_all(exception_answer(request, code))

    return answer


@safety_net
async def test_good_server_answers_reads_with_its_registers_and_keeps_one_connection(
    serve: Callable[[list[Behaviour]], Awaitable[HostileServer]],
    clients: Callable[..., ModbusClient],
) -> None:
    server = await serve([])
    client = clients(server)
    assert await client.read_holding_registers(10, 3) == [10, 11, 12]
    assert await client.read_holding_registers(65533, 3) == [65533, 65534, 65535]
    stats = client.statistics()
    assert (stats.requests, stats.errors, stats.reconnects, stats.connected) == (2, 0, 0, True)
    assert stats.last_rtt_s is not None
    assert 0 < stats.last_rtt_s < TIMEOUT_S
    assert server.connections == 1
    # Transaction ids are fresh per request; the unit id is the client's.
    tids = [struct.unpack(">H", r[:2])[0] for r in server.requests]
    assert tids[0] != tids[1]
    assert [r[6] for r in server.requests] == [1, 1]
    await client.aclose()
    assert not client.statistics().connected
    with pytest.raises(BridgeError, match="closed"):
        await client.read_holding_registers(0, 1)


@safety_net
async def test_server_that_never_answers_times_out_and_next_request_reconnects(
    serve: Callable[[list[Behaviour]], Awaitable[HostileServer]],
    clients: Callable[..., ModbusClient],
) -> None:
    server = await serve([silent])
    client = clients(server)
    started = trio.current_time()
    with pytest.raises(BridgeTimeout) as caught:
        await client.read_holding_registers(0, 2)
    elapsed = trio.current_time() - started
    assert TIMEOUT_S <= elapsed < TIMEOUT_S + 0.5
    assert caught.value.detail["device"] == "dev1"
    stats = client.statistics()
    assert (stats.timeouts, stats.errors, stats.connected) == (1, 1, False)
    assert await client.read_holding_registers(5, 2) == [5, 6]
    assert server.connections == 2
    assert client.statistics().reconnects == 1


@safety_net
async def test_refused_connection_is_a_bridge_error_and_fast() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on port now.
    client = ModbusClient("127.0.0.1", port, timeout_s=5, device="gone")
    started = trio.current_time()
    with trio.fail_after(SAFETY_S), pytest.raises(BridgeError) as caught:
        await client.read_coils(0, 1)
    assert trio.current_time() - started < 1
    assert type(caught.value) is BridgeError
    assert str(caught.value) == f"cannot connect to 127.0.0.1:{port}: Connection refused"
    assert caught.value.detail["device"] == "gone"
    assert isinstance(caught.value.__cause__, OSError)


@pytest.mark.parametrize(
    ("behaviour", "error", "message"),
    [
        (garbage, ProtocolError, "protocol id"),
        (wrong_transaction_id, ProtocolError, "transaction id"),
        (wrong_unit_id, ProtocolError, "unit id"),
        (wrong_byte_count, ProtocolError, "byte count"),
        (length_too_short, ProtocolError, "byte count"),
        (length_impossible, ProtocolError, "MBAP length 1000"),
        (wrong_function, ProtocolError, "function code 4"),
        (half_then_stall, BridgeTimeout, "no answer"),
        (silent, BridgeTimeout, "no answer"),
        (hang_up, BridgeError, "closed by the device"),
    ],
)
@safety_net
async def test_bad_answer_gives_its_error_closes_and_next_request_succeeds(
    serve: Callable[[list[Behaviour]], Awaitable[HostileServer]],
    clients: Callable[..., ModbusClient],
    behaviour: Behaviour,
    error: type[BridgeError],
    message: str,
) -> None:
    server = await serve([behaviour])
    client = clients(server)
    with pytest.raises(error, match=message) as caught:
        await client.read_holding_registers(100, 2)
    assert type(caught.value) is error
    assert caught.value.detail["device"] == "dev1"
    assert not client.statistics().connected
    assert await client.read_holding_registers(100, 2) == [100, 101]
    assert server.connections == 2
    assert client.statistics().errors == 1


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (1, "ILLEGAL FUNCTION (1)"),
        (2, "ILLEGAL DATA ADDRESS (2)"),
        (3, "ILLEGAL DATA VALUE (3)"),
        (4, "SERVER DEVICE FAILURE (4)"),
        (11, "GATEWAY TARGET DEVICE FAILED TO RESPOND (11)"),
    ],
)
@safety_net
async def test_exception_response_is_a_named_device_error_and_keeps_the_connection(
    serve: Callable[[list[Behaviour]], Awaitable[HostileServer]],
    clients: Callable[..., ModbusClient],
    code: int,
    name: str,
) -> None:
    server = await serve([exception(code)])
    client = clients(server)
    with pytest.raises(DeviceError) as caught:
        await client.read_holding_registers(7, 1)
    assert str(caught.value).startswith(name)
    assert caught.value.detail["exception_code"] == code
    assert caught.value.detail["device"] == "dev1"
    # The device answered properly: the connection stays.
    assert client.statistics().connected
    assert await client.read_holding_registers(7, 1) == [7]
    assert server.connections == 1


@safety_net
async def test_cancelled_request_closes_the_connection(
    serve: Callable[[list[Behaviour]], Awaitable[HostileServer]],
    clients: Callable[..., ModbusClient],
) -> None:
    server = await serve([silent])
    client = clients(server, timeout_s=SAFETY_S)
    with trio.move_on_after(0.1) as scope:
        await client.read_holding_registers(0, 1)
    assert scope.cancelled_caught
    stats = client.statistics()
    assert (stats.connected, stats.errors, stats.timeouts) == (False, 0, 0)
    assert await client.read_holding_registers(3, 1) == [3]
    assert server.connections == 2


@safety_net
async def test_concurrent_requests_take_turns_and_each_gets_its_own_answer(
    serve: Callable[[list[Behaviour]], Awaitable[HostileServer]],
    clients: Callable[..., ModbusClient],
) -> None:
    server = await serve([])
    client = clients(server)
    results: dict[int, list[int]] = {}

    async def read(address: int) -> None:
        results[address] = await client.read_holding_registers(address, 2)

    async with trio.open_nursery() as nursery:
        for address in range(0, 50, 10):
            nursery.start_soon(read, address)
    assert results == {a: [a, a + 1] for a in range(0, 50, 10)}
    assert server.connections == 1
    assert len(server.requests) == 5


@safety_net
async def test_aclose_fails_the_request_in_flight_and_later_ones(
    serve: Callable[[list[Behaviour]], Awaitable[HostileServer]],
    clients: Callable[..., ModbusClient],
) -> None:
    server = await serve([silent])
    client = clients(server, timeout_s=SAFETY_S)
    failed: list[BaseException] = []

    async def read() -> None:
        try:
            await client.read_holding_registers(0, 1)
        except BridgeError as exc:
            failed.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read)
        await server.first_request.wait()
        await client.aclose()
    assert [type(e) for e in failed] == [BridgeError]
    assert "the client was closed during FC 3 at 0 (1)" in str(failed[0])
    with pytest.raises(BridgeError, match="the client is closed"):
        await client.write_coil(0, True)


@safety_net
async def test_bytes_after_a_good_answer_close_the_connection_and_the_answer_stands(
    serve: Callable[[list[Behaviour]], Awaitable[HostileServer]],
    clients: Callable[..., ModbusClient],
) -> None:
    server = await serve([answer_then_junk])
    client = clients(server)
    assert await client.read_holding_registers(1, 2) == [1, 2]
    assert not client.statistics().connected
    assert await client.read_holding_registers(3, 1) == [3]
    assert server.connections == 2


@safety_net
async def test_connect_that_never_completes_is_a_bridge_timeout() -> None:
    # A listener that never accepts, its accept queue filled: Linux drops further SYNs,
    # so the client's connect hangs, as to a host that is down.
    with contextlib.ExitStack() as stack:
        listener = stack.enter_context(socket.socket())
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(3):
            filler = stack.enter_context(socket.socket())
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
        client = ModbusClient("127.0.0.1", port, timeout_s=TIMEOUT_S, device="dev1")
        started = trio.current_time()
        with pytest.raises(BridgeTimeout, match=f"cannot connect to 127.0.0.1:{port}: no conn"):
            await client.read_input_registers(0, 1)
        assert TIMEOUT_S <= trio.current_time() - started < TIMEOUT_S + 0.5
        stats = client.statistics()
        assert (stats.timeouts, stats.errors, stats.connected) == (1, 1, False)


@safety_net
async def test_requests_outside_the_protocol_fail_before_anything_is_sent(
    serve: Callable[[list[Behaviour]], Awaitable[HostileServer]],
    clients: Callable[..., ModbusClient],
) -> None:
    server = await serve([])
    client = clients(server)
    with pytest.raises(InvalidInput, match="register type 'holdings'") as caught:
        await client.read("holdings", 0, 1)
    assert caught.value.detail["device"] == "dev1"
    with pytest.raises(InvalidInput, match="count 126"):
        await client.read_holding_registers(0, 126)
    with pytest.raises(InvalidInput, match="value 65536"):
        await client.write_register(0, 65536)
    assert server.connections == 0
    assert (client.statistics().requests, client.statistics().connected) == (0, False)
    with pytest.raises(InvalidInput, match="unit_id 256"):
        ModbusClient("127.0.0.1", server.port, unit_id=256)
    with pytest.raises(InvalidInput, match="timeout_s 0"):
        ModbusClient("127.0.0.1", server.port, timeout_s=0)


@safety_net
async def test_read_on_a_connection_the_device_closed_is_sent_again_on_a_new_one(
    serve: Callable[[list[Behaviour]], Awaitable[HostileServer]],
    clients: Callable[..., ModbusClient],
) -> None:
    server = await serve([answer_then_hang_up])
    client = clients(server)
    assert await client.read_holding_registers(1, 1) == [1]
    # The device closed the connection after answering (a reboot, an idle timeout).
    assert await client.read_holding_registers(2, 1) == [2]
    stats = client.statistics()
    assert (stats.errors, stats.reconnects, stats.requests) == (0, 1, 2)
    assert server.connections == 2


@safety_net
async def test_write_on_a_connection_the_device_closed_fails_and_is_not_repeated(
    serve: Callable[[list[Behaviour]], Awaitable[HostileServer]],
    clients: Callable[..., ModbusClient],
) -> None:
    server = await serve([answer_then_hang_up])
    client = clients(server)
    assert await client.read_holding_registers(1, 1) == [1]
    with pytest.raises(BridgeError) as caught:
        await client.write_register(5, 1)
    assert type(caught.value) is BridgeError
    assert server.connections == 1
    assert await client.read_holding_registers(3, 1) == [3]
    assert server.connections == 2
