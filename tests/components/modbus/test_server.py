"""The Modbus TCP server, over real loopback sockets, against clients we did not write.

pymodbus's sync client runs in a worker thread (``trio.to_thread``); mbpoll (C, libmodbus) runs as
a process; the pipelining, exception and garbage tests speak raw MBAP frames.
"""

from __future__ import annotations

import functools
import itertools
import re
import shutil
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st
from pymodbus.client import ModbusTcpClient

from opencrate.components.modbus.server import (
    RegisterBank,
    answer_frame,
    serve_modbus,
    split_frames,
)
from opencrate.errors import DeviceError, InvalidInput
from tests.conftest import require_program

UNIT = 1


@pytest.fixture
def writes() -> list[tuple[str, int, list[Any]]]:
    return []


@pytest.fixture
def bank(writes: list[tuple[str, int, list[Any]]]) -> RegisterBank:
    bank = RegisterBank(on_write=lambda kind, address, words: writes.append((kind, address, words)))
    bank.set_words("coil", 0, [True, False, True, True, False, False, False, False, True, False])
    bank.set_words("discrete_input", 100, [False, True, True])
    bank.set_words("holding", 0, [10, 11, 12, 13, 65535])
    bank.set_words("holding", 40, [0, 0])
    bank.set_words("input", 30, [300, 301, 302])
    return bank


@pytest.fixture
async def port(bank: RegisterBank, nursery: trio.Nursery) -> int:
    bound: int = await nursery.start(serve_modbus, {UNIT: bank}, "127.0.0.1", 0)
    return bound


def frame(transaction_id: int, pdu: bytes, unit: int = UNIT) -> bytes:
    return struct.pack(">HHHB", transaction_id, 0, 1 + len(pdu), unit) + pdu


async def receive_frames(stream: trio.SocketStream, n: int) -> list[tuple[int, int, bytes]]:
    """``n`` answers as (transaction id, unit id, PDU); fails if the server closes first."""
    buffer = bytearray()
    answers: list[tuple[int, int, bytes]] = []
    with trio.fail_after(5):
        while len(answers) < n:
            while len(buffer) >= 6 and len(buffer) >= 6 + struct.unpack_from(">H", buffer, 4)[0]:
                tid, protocol, length, unit = struct.unpack_from(">HHHB", buffer)
                assert protocol == 0
                answers.append((tid, unit, bytes(buffer[7 : 6 + length])))
                del buffer[: 6 + length]
            if len(answers) >= n:
                break
            data = await stream.receive_some()
            assert data, f"server closed the connection after {len(answers)} answers"
            buffer += data
    assert not buffer
    return answers


async def ask(port: int, pdu: bytes, unit: int = UNIT) -> bytes:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(frame(7, pdu, unit))
        [(tid, answered_unit, answer)] = await receive_frames(stream, 1)
    assert (tid, answered_unit) == (7, unit)
    return answer


async def assert_closed_by_server(stream: trio.SocketStream) -> None:
    with trio.fail_after(5):
        while data := await stream.receive_some():
            pass
    assert data == b""


# -- pymodbus's client -------------------------------------------------------------------------


def with_pymodbus(port: int, work: Callable[[ModbusTcpClient], Any]) -> Any:
    client = ModbusTcpClient("127.0.0.1", port=port, timeout=3, retries=0)
    assert client.connect()
    try:
        return work(client)
    finally:
        client.close()


async def test_pymodbus_client_reads_and_writes_every_function_code(
    port: int, bank: RegisterBank, writes: list[tuple[str, int, list[Any]]]
) -> None:
    def work(c: ModbusTcpClient) -> dict[str, Any]:
        out: dict[str, Any] = {}
        out["fc1"] = c.read_coils(0, count=10, device_id=UNIT).bits[:10]
        out["fc2"] = c.read_discrete_inputs(100, count=3, device_id=UNIT).bits[:3]
        out["fc3"] = c.read_holding_registers(0, count=5, device_id=UNIT).registers
        out["fc4"] = c.read_input_registers(30, count=3, device_id=UNIT).registers
        out["fc5"] = c.write_coil(1, True, device_id=UNIT).isError()
        out["fc6"] = c.write_register(4, 4242, device_id=UNIT).isError()
        out["fc15"] = c.write_coils(7, [True, True, False], device_id=UNIT).isError()
        out["fc16"] = c.write_registers(40, [1, 65534], device_id=UNIT).isError()
        out["coils after"] = c.read_coils(0, count=10, device_id=UNIT).bits[:10]
        out["holding after"] = c.read_holding_registers(0, count=5, device_id=UNIT).registers
        out["40 after"] = c.read_holding_registers(40, count=2, device_id=UNIT).registers
        return out

    out = await trio.to_thread.run_sync(with_pymodbus, port, work)

    assert out["fc1"] == [True, False, True, True, False, False, False, False, True, False]
    assert out["fc2"] == [False, True, True]
    assert out["fc3"] == [10, 11, 12, 13, 65535]
    assert out["fc4"] == [300, 301, 302]
    assert not any(out[k] for k in ("fc5", "fc6", "fc15", "fc16"))
    assert out["coils after"] == [True, True, True, True, False, False, False, True, True, False]
    assert out["holding after"] == [10, 11, 12, 13, 4242]
    assert out["40 after"] == [1, 65534]
    assert writes == [
        ("coil", 1, [True]),
        ("holding", 4, [4242]),
        ("coil", 7, [True, True, False]),
        ("holding", 40, [1, 65534]),
    ]
    assert bank.holding[41] == 65534


async def test_pymodbus_client_sees_the_exception_codes(port: int) -> None:
    def work(c: ModbusTcpClient) -> list[int]:
        return [
            c.read_holding_registers(3, count=5, device_id=UNIT).exception_code,  # 5..7 unmapped
            # (pymodbus checks quantities itself before sending: no exception 3 from here)
            c.write_coil(50, True, device_id=UNIT).exception_code,
            c.read_holding_registers(0, count=1, device_id=99).exception_code,
        ]

    assert await trio.to_thread.run_sync(with_pymodbus, port, work) == [2, 2, 11]


# -- mbpoll (libmodbus) --------------------------------------------------------------------------


@pytest.fixture
def mbpoll() -> Callable[..., Awaitable[tuple[int, dict[int, int]]]]:
    """``await mbpoll(port, port, *args, write=None)``: run mbpoll once against the server (writing
    ``write`` if given); its exit status and the ``[reference]: value`` lines it printed."""
    # A sync fixture, so the skip happens before the test's trio run (with its reason).
    program = require_program("mbpoll", shutil.which("mbpoll"))
    return functools.partial(run_mbpoll, program)


async def run_mbpoll(
    program: str, port: int, *args: str, write: str | None = None
) -> tuple[int, dict[int, int]]:
    with trio.fail_after(10):
        done = await trio.run_process(
            [program, "-m", "tcp", "-1", "-o", "2", "-p", str(port), *args, "127.0.0.1"]
            + ([] if write is None else ["--", write]),
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    printed = re.findall(rb"^\[(\d+)\]:\s+(-?\d+)", done.stdout, re.MULTILINE)
    return done.returncode, {int(ref): int(value) for ref, value in printed}


async def test_mbpoll_reads_holding_input_and_coils_and_writes_a_holding_register(
    mbpoll: Callable[..., Awaitable[tuple[int, dict[int, int]]]],
    port: int,
    bank: RegisterBank,
    writes: list[tuple[str, int, list[Any]]],
) -> None:
    # mbpoll's references are 1-based: reference 1 is protocol address 0.
    assert await mbpoll(port, "-a", "1", "-r", "1", "-c", "5", "-t", "4") == (
        0,
        {1: 10, 2: 11, 3: 12, 4: 13, 5: 65535},
    )
    assert await mbpoll(port, "-a", "1", "-r", "31", "-c", "3", "-t", "3") == (
        0,
        {31: 300, 32: 301, 33: 302},
    )
    assert await mbpoll(port, "-a", "1", "-r", "1", "-c", "4", "-t", "0") == (
        0,
        {1: 1, 2: 0, 3: 1, 4: 1},
    )

    status, _ = await mbpoll(port, "-a", "1", "-r", "3", "-t", "4", write="31337")
    assert status == 0
    assert bank.holding[2] == 31337
    assert writes == [("holding", 2, [31337])]
    assert await mbpoll(port, "-a", "1", "-r", "3", "-c", "1", "-t", "4") == (0, {3: 31337})


async def test_mbpoll_fails_on_an_unmapped_register_and_an_unknown_unit(
    mbpoll: Callable[..., Awaitable[tuple[int, dict[int, int]]]], port: int
) -> None:
    assert await mbpoll(port, "-a", "1", "-r", "100", "-c", "1", "-t", "4") == (1, {})
    assert await mbpoll(port, "-a", "9", "-r", "1", "-c", "1", "-t", "4") == (1, {})


# -- raw frames: pipelining, exceptions, garbage -------------------------------------------------


async def test_three_pipelined_requests_get_three_answers_in_order(port: int) -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(
            frame(11, bytes.fromhex("03 0000 0002"))
            + frame(12, bytes.fromhex("06 0001 0063"))
            + frame(13, bytes.fromhex("03 0000 0002"))
        )
        answers = await receive_frames(stream, 3)
    assert answers == [
        (11, UNIT, bytes.fromhex("03 04 000a 000b")),
        (12, UNIT, bytes.fromhex("06 0001 0063")),
        (13, UNIT, bytes.fromhex("03 04 000a 0063")),  # the write between them is seen
    ]


async def test_a_frame_sent_byte_by_byte_is_answered_once_complete(port: int) -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        for byte in frame(5, bytes.fromhex("04 001e 0001")):
            await stream.send_all(bytes([byte]))
        assert await receive_frames(stream, 1) == [(5, UNIT, bytes.fromhex("04 02 012c"))]


@pytest.mark.parametrize(
    ("pdu", "unit", "expected"),
    [
        pytest.param("07", UNIT, "87 01", id="fc7-read-exception-status-is-unknown"),
        pytest.param("2b 0e 01 00", UNIT, "ab 01", id="fc43-is-unknown"),
        pytest.param("03 0003 0003", UNIT, "83 02", id="read-past-mapped-holding"),
        pytest.param("04 0000 0001", UNIT, "84 02", id="input-not-mapped"),
        pytest.param("02 0064 0004", UNIT, "82 02", id="discrete-input-range-partly-mapped"),
        pytest.param("01 ffff 0002", UNIT, "81 02", id="range-past-65535"),
        pytest.param("05 0032 ff00", UNIT, "85 02", id="write-unmapped-coil"),
        pytest.param("06 0064 0001", UNIT, "86 02", id="write-unmapped-holding"),
        pytest.param("10 0004 0002 04 0001 0002", UNIT, "90 02", id="write-past-mapped-holding"),
        pytest.param("03 0000 0000", UNIT, "83 03", id="read-zero-registers"),
        pytest.param("03 0000 007e", UNIT, "83 03", id="read-126-registers"),
        pytest.param("01 0000 07d1", UNIT, "81 03", id="read-2001-coils"),
        pytest.param("03 0000", UNIT, "83 03", id="short-pdu"),
        pytest.param("03 0000 0001 00", UNIT, "83 03", id="long-pdu"),
        pytest.param("05 0000 1234", UNIT, "85 03", id="coil-value-not-ff00-or-0000"),
        pytest.param("0f 0000 0003 02 0700", UNIT, "8f 03", id="coil-byte-count-wrong"),
        pytest.param("10 0000 0002 03 000100", UNIT, "90 03", id="register-byte-count-wrong"),
        pytest.param("10 0000 0002 04 0001", UNIT, "90 03", id="register-data-short"),
        pytest.param("10 0000 007c f8" + "00" * 16, UNIT, "90 03", id="write-124-registers"),
        pytest.param("03 0000 0001", 2, "83 0b", id="unknown-unit"),
        pytest.param("07", 2, "87 0b", id="unknown-unit-before-unknown-function"),
    ],
)
async def test_exception_answers(port: int, pdu: str, unit: int, expected: str) -> None:
    assert await ask(port, bytes.fromhex(pdu), unit) == bytes.fromhex(expected)


async def test_a_write_touching_an_unmapped_address_stores_nothing(
    port: int, bank: RegisterBank, writes: list[tuple[str, int, list[Any]]]
) -> None:
    assert await ask(port, bytes.fromhex("10 0003 0003 06 0001 0002 0003")) == bytes.fromhex(
        "90 02"
    )
    assert bank.get_words("holding", 3, 2) == [13, 65535]
    assert writes == []


async def test_garbage_closes_only_its_connection(port: int) -> None:
    good = await trio.open_tcp_stream("127.0.0.1", port)
    bad = await trio.open_tcp_stream("127.0.0.1", port)
    async with good, bad:
        await good.send_all(frame(1, bytes.fromhex("03 0000 0001")))
        assert await receive_frames(good, 1) == [(1, UNIT, bytes.fromhex("03 02 000a"))]
        # A request, then a header with protocol id 0x4854 ("HT", as from an HTTP client):
        # the request is still answered, then the connection is closed.
        await bad.send_all(frame(2, bytes.fromhex("03 0001 0001")) + b"GET / HTTP/1.1\r\n\r\n")
        assert await receive_frames(bad, 1) == [(2, UNIT, bytes.fromhex("03 02 000b"))]
        await assert_closed_by_server(bad)

        await good.send_all(frame(3, bytes.fromhex("03 0002 0001")))
        assert await receive_frames(good, 1) == [(3, UNIT, bytes.fromhex("03 02 000c"))]


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("0001 0001 0006 01", id="protocol-id-not-0"),
        pytest.param("0001 0000 0001 01", id="length-1"),
        pytest.param("0001 0000 00ff 01", id="length-255"),
    ],
)
async def test_a_malformed_header_closes_the_connection(port: int, header: str) -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(bytes.fromhex(header) + bytes.fromhex("03 0000 0001"))
        await assert_closed_by_server(stream)
    assert await ask(port, bytes.fromhex("03 0000 0001")) == bytes.fromhex("03 02 000a")


async def test_a_client_that_resets_mid_request_does_not_stop_the_server(port: int) -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(frame(1, bytes.fromhex("03 0000 0001"))[:5])
    stream.socket.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_LINGER, struct.pack("ii", 1, 0))
    await stream.aclose()  # SO_LINGER 0: an RST, not a FIN
    assert await ask(port, bytes.fromhex("03 0000 0001")) == bytes.fromhex("03 02 000a")


async def test_an_on_write_that_raises_answers_server_device_failure(
    port: int, bank: RegisterBank, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(kind: str, address: int, words: list[Any]) -> None:
        raise RuntimeError("simulator bug")

    bank.on_write = broken
    assert await ask(port, bytes.fromhex("06 0000 0001")) == bytes.fromhex("86 04")
    assert "simulator bug" in caplog.text
    assert await ask(port, bytes.fromhex("03 0000 0001")) == bytes.fromhex("03 02 0001")


async def test_a_value_put_straight_into_a_table_answers_server_device_failure(
    port: int, bank: RegisterBank
) -> None:
    bank.holding[0] = 70000  # bypassing set_words' checks
    assert await ask(port, bytes.fromhex("03 0000 0001")) == bytes.fromhex("83 04")
    assert await ask(port, bytes.fromhex("03 0001 0001")) == bytes.fromhex("03 02 000b")


async def test_banks_per_unit_id_are_separate(nursery: trio.Nursery) -> None:
    one, two = RegisterBank(), RegisterBank()
    one.set_words("holding", 0, [1])
    two.set_words("holding", 0, [2])
    port = await nursery.start(serve_modbus, {1: one, 2: two}, "127.0.0.1", 0)
    assert await ask(port, bytes.fromhex("03 0000 0001"), unit=1) == bytes.fromhex("03 02 0001")
    assert await ask(port, bytes.fromhex("03 0000 0001"), unit=2) == bytes.fromhex("03 02 0002")
    assert await ask(port, bytes.fromhex("03 0000 0001"), unit=0) == bytes.fromhex("83 0b")


# -- the bank and the protocol without sockets ---------------------------------------------------


def test_get_words_of_an_unmapped_address_is_a_device_error_with_code_2() -> None:
    bank = RegisterBank()
    bank.set_words("input", 5, [1, 2])
    assert bank.get_words("input", 5, 2) == [1, 2]
    with pytest.raises(DeviceError, match="ILLEGAL DATA ADDRESS") as caught:
        bank.get_words("input", 5, 3)
    assert caught.value.detail["exception_code"] == 2
    assert caught.value.detail["address"] == 7


@pytest.mark.parametrize(
    ("register_type", "address", "words"),
    [
        ("holding", 0, [65536]),
        ("holding", 0, [-1]),
        ("holding", 0, [True]),
        ("holding", 0, [1.5]),
        ("coil", 0, [1]),
        ("input", 65535, [1, 2]),
        ("input", -1, [1]),
        ("register", 0, [1]),
    ],
)
def test_set_words_rejects_what_a_device_cannot_hold(
    register_type: str, address: int, words: list[Any]
) -> None:
    bank = RegisterBank()
    with pytest.raises(InvalidInput):
        bank.set_words(register_type, address, words)
    assert (bank.coils, bank.discrete_inputs, bank.holding, bank.input) == ({}, {}, {}, {})


def test_set_words_does_not_call_on_write() -> None:
    calls: list[Any] = []
    bank = RegisterBank(on_write=lambda *args: calls.append(args))
    bank.set_words("holding", 0, [1, 2])
    assert calls == []


@given(unit=st.integers(0, 255), pdu=st.binary(max_size=253))
def test_any_pdu_gets_an_answer_of_its_function(unit: int, pdu: bytes) -> None:
    bank = RegisterBank()
    bank.set_words("holding", 0, list(range(10)))
    bank.set_words("coil", 0, [False] * 10)
    answer = answer_frame({1: bank}, unit, pdu)
    function = pdu[0] if pdu else 0
    if answer[0] & 0x80:
        assert answer[0] == function | 0x80
        assert len(answer) == 2
        expected_codes = (1, 2, 3) if unit == 1 else (11,)
        assert answer[1] in expected_codes
    else:
        assert unit == 1
        assert answer[0] == function
        assert function in (1, 2, 3, 4, 5, 6, 15, 16)


_requests = st.lists(
    st.tuples(
        st.integers(0, 0xFFFF),  # transaction id
        st.sampled_from([1, 2]),  # unit (2 has no bank)
        st.one_of(
            st.builds(
                lambda a, n: struct.pack(">BHH", 3, a, n), st.integers(0, 12), st.integers(0, 4)
            ),
            st.builds(
                lambda a, v: struct.pack(">BHH", 6, a, v),
                st.integers(0, 12),
                st.integers(0, 0xFFFF),
            ),
            st.builds(lambda f: bytes([f]), st.integers(0, 255)),
        ),
    ),
    min_size=1,
    max_size=8,
)


@given(requests=_requests, cuts=st.lists(st.integers(0, 200), max_size=10))
def test_answers_do_not_depend_on_how_the_stream_is_cut(
    requests: list[tuple[int, int, bytes]], cuts: list[int]
) -> None:
    def fresh() -> dict[int, RegisterBank]:
        bank = RegisterBank()
        bank.set_words("holding", 0, list(range(10)))
        return {1: bank}

    stream = b"".join(frame(tid, pdu, unit) for tid, unit, pdu in requests)
    whole = bytearray(stream)
    expected, malformed = split_frames(whole, fresh())
    assert (malformed, bytes(whole)) == (None, b"")

    banks, buffer, answers = fresh(), bytearray(), b""
    edges = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    for start, end in itertools.pairwise(edges):
        buffer += stream[start:end]
        chunk, malformed = split_frames(buffer, banks)
        assert malformed is None
        answers += chunk
    assert answers == expected
    answered, rest = [], expected
    while rest:
        tid, protocol, length, unit = struct.unpack_from(">HHHB", rest)
        assert protocol == 0
        answered.append((tid, unit))
        rest = rest[6 + length :]
    assert answered == [(tid, unit) for tid, unit, _ in requests]


@pytest.fixture
def pymodbustcp_client() -> Any:
    """pyModbusTCP's client class (a pip dev dependency; skips, or fails in CI, without it)."""
    try:
        from pyModbusTCP.client import ModbusClient
    except ImportError:
        require_program("pyModbusTCP (pip)", None)
    return ModbusClient


async def test_pymodbustcp_client_reads_and_writes(
    port: int, bank: RegisterBank, pymodbustcp_client: Any
) -> None:
    # pyModbusTCP: a pure-Python client with no pymodbus inside, a second independent peer.
    def work() -> list[Any]:
        client = pymodbustcp_client(host="127.0.0.1", port=port, unit_id=UNIT, timeout=3)
        try:
            return [
                client.read_holding_registers(0, 5),
                client.read_input_registers(30, 3),
                client.read_coils(0, 4),
                client.read_discrete_inputs(100, 3),
                client.write_multiple_registers(40, [7, 8]),
                client.write_single_coil(9, True),
                client.read_holding_registers(3, 5),  # 5..7 unmapped
                client.last_except,
            ]
        finally:
            client.close()

    out = await trio.to_thread.run_sync(work)
    assert out == [
        [10, 11, 12, 13, 65535],
        [300, 301, 302],
        [True, False, True, True],
        [False, True, True],
        True,
        True,
        None,
        2,
    ]
    assert (bank.holding[40], bank.holding[41], bank.coils[9]) == (7, 8, True)
