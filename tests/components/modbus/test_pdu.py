"""Request frames and response checks (no I/O).

Requests are checked by decoding them with pymodbus's server-side decoder;
responses are built with pymodbus's response classes and its framer.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymodbus.framer import FramerSocket
from pymodbus.pdu import DecodePDU, ExceptionResponse, ModbusPDU
from pymodbus.pdu.bit_message import (
    ReadCoilsResponse,
    ReadDiscreteInputsResponse,
    WriteMultipleCoilsResponse,
    WriteSingleCoilResponse,
)
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersResponse,
    ReadInputRegistersResponse,
    WriteMultipleRegistersResponse,
    WriteSingleRegisterResponse,
)

from opencrate.components.modbus import pdu
from opencrate.errors import DeviceError, InvalidInput, ProtocolError

SERVER = FramerSocket(DecodePDU(is_server=True))

units = st.integers(0, 255)
tids = st.integers(0, 0xFFFF)
words = st.integers(0, 0xFFFF)


def as_server_sees(request: pdu.Request) -> ModbusPDU:
    used, decoded = SERVER.handleFrame(request.frame, 0, 0)
    assert used == len(request.frame)
    assert decoded is not None
    assert (decoded.dev_id, decoded.transaction_id) == (request.unit_id, request.transaction_id)
    return decoded


def answer(request: pdu.Request, response: ModbusPDU) -> list[bool] | list[int] | None:
    response.dev_id, response.transaction_id = request.unit_id, request.transaction_id
    frame = SERVER.buildFrame(response)
    header = pdu.parse_header(frame[: pdu.HEADER_SIZE])
    return pdu.decode_response(request, header, frame[pdu.HEADER_SIZE :], device="d")


@st.composite
def register_reads(draw: st.DrawFn) -> tuple[int, int, list[int]]:
    address = draw(st.integers(0, 0xFFFF))
    count = draw(st.integers(1, min(125, 0x10000 - address)))
    pattern = draw(st.integers(0, 2 ** (16 * count) - 1))
    return address, count, [pattern >> (16 * i) & 0xFFFF for i in range(count)]


@st.composite
def bit_reads(draw: st.DrawFn) -> tuple[int, int, list[bool]]:
    address = draw(st.integers(0, 0xFFFF))
    count = draw(st.integers(1, min(2000, 0x10000 - address)))
    # One integer as the bit pattern: far faster to draw than a list of 2000 booleans.
    pattern = draw(st.integers(0, 2**count - 1))
    return address, count, [bool(pattern >> i & 1) for i in range(count)]


@given(read=register_reads(), unit=units, tid=tids, holding=st.booleans())
def test_register_read_round_trips_through_pymodbus(
    read: tuple[int, int, list[int]], unit: int, tid: int, holding: bool
) -> None:
    address, count, values = read
    fc = 3 if holding else 4
    request = pdu.read_request(fc, address, count, unit_id=unit, transaction_id=tid)
    seen = as_server_sees(request)
    assert (seen.function_code, seen.address, seen.count) == (fc, address, count)
    response = (ReadHoldingRegistersResponse if holding else ReadInputRegistersResponse)(
        registers=values
    )
    assert answer(request, response) == values


@given(read=bit_reads(), unit=units, tid=tids, coils=st.booleans())
def test_bit_read_round_trips_through_pymodbus(
    read: tuple[int, int, list[bool]], unit: int, tid: int, coils: bool
) -> None:
    address, count, values = read
    fc = 1 if coils else 2
    request = pdu.read_request(fc, address, count, unit_id=unit, transaction_id=tid)
    seen = as_server_sees(request)
    assert (seen.function_code, seen.address, seen.count) == (fc, address, count)
    # pymodbus pads the bits to whole bytes; the padding is not returned.
    response = (ReadCoilsResponse if coils else ReadDiscreteInputsResponse)(bits=values)
    assert answer(request, response) == values


@given(address=st.integers(0, 0xFFFF), value=words, unit=units, tid=tids)
def test_single_writes_carry_their_value_and_accept_the_echo(
    address: int, value: int, unit: int, tid: int
) -> None:
    ids = {"unit_id": unit, "transaction_id": tid}
    request = pdu.write_register_request(address, value, **ids)
    seen = as_server_sees(request)
    assert (seen.function_code, seen.address, list(seen.registers)) == (6, address, [value])
    assert answer(request, WriteSingleRegisterResponse(address=address, registers=[value])) is None

    coil = pdu.write_coil_request(address, bool(value & 1), **ids)
    seen = as_server_sees(coil)
    assert (seen.function_code, seen.address, list(seen.bits)) == (5, address, [bool(value & 1)])
    response = WriteSingleCoilResponse(address=address, bits=[bool(value & 1)])
    assert answer(coil, response) is None


@given(write=register_reads(), unit=units, tid=tids)
def test_multiple_register_write_carries_the_values(
    write: tuple[int, int, list[int]], unit: int, tid: int
) -> None:
    address, _, values = write
    values = values[:123]
    request = pdu.write_registers_request(address, values, unit_id=unit, transaction_id=tid)
    seen = as_server_sees(request)
    assert (seen.function_code, seen.address, list(seen.registers)) == (16, address, values)
    response = WriteMultipleRegistersResponse(address=address, count=len(values))
    assert answer(request, response) is None


@given(write=bit_reads(), unit=units, tid=tids)
def test_multiple_coil_write_carries_the_values(
    write: tuple[int, int, list[bool]], unit: int, tid: int
) -> None:
    address, _, values = write
    values = values[:1968]
    request = pdu.write_coils_request(address, values, unit_id=unit, transaction_id=tid)
    seen = as_server_sees(request)
    assert (seen.function_code, seen.address, list(seen.bits)) == (15, address, values)
    response = WriteMultipleCoilsResponse(address=address, count=len(values))
    assert answer(request, response) is None


def test_write_answers_that_do_not_echo_the_request_are_protocol_errors() -> None:
    ids = {"unit_id": 1, "transaction_id": 9}
    request = pdu.write_register_request(10, 500, **ids)
    with pytest.raises(ProtocolError, match="does not echo"):
        answer(request, WriteSingleRegisterResponse(address=10, registers=[501]))
    request = pdu.write_registers_request(10, [1, 2, 3], **ids)
    with pytest.raises(ProtocolError, match="does not echo"):
        answer(request, WriteMultipleRegistersResponse(address=10, count=2))
    # pymodbus reads any non-zero FC 5 value as "on"; the protocol allows only FF00 and 0000.
    request = pdu.write_coil_request(10, True, **ids)
    header = pdu.Header(transaction_id=9, unit_id=1, pdu_size=5)
    with pytest.raises(ProtocolError, match="does not echo"):
        pdu.decode_response(request, header, bytes([5, 0, 10, 0x12, 0x00]))


@pytest.mark.parametrize(
    ("code", "name"),
    [(1, "ILLEGAL FUNCTION (1)"), (6, "SERVER DEVICE BUSY (6)"), (7, "UNKNOWN (7)")],
)
def test_exception_response_is_a_device_error_named_by_its_code(code: int, name: str) -> None:
    request = pdu.read_request(3, 0, 1, unit_id=2, transaction_id=3)
    with pytest.raises(DeviceError) as caught:
        answer(request, ExceptionResponse(3, code))
    assert str(caught.value) == f"{name} in the response to FC 3 at 0 (1)"
    assert caught.value.detail == {"device": "d", "exception_code": code, "function_code": 3}


def test_exception_response_for_another_function_is_a_protocol_error() -> None:
    request = pdu.read_request(3, 0, 1, unit_id=2, transaction_id=3)
    with pytest.raises(ProtocolError, match="function code 132"):
        answer(request, ExceptionResponse(4, 2))


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (struct.pack(">HHHB", 1, 1, 5, 1), "protocol id 1"),
        (struct.pack(">HHHB", 1, 0, 2, 1), "MBAP length 2"),
        (struct.pack(">HHHB", 1, 0, 256, 1), "MBAP length 256"),
        (b"\x00" * 6, "6 bytes"),
    ],
)
def test_impossible_headers_are_protocol_errors(header: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message) as caught:
        pdu.parse_header(header, device="d")
    assert caught.value.detail["device"] == "d"


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda ids: pdu.read_request(3, 0, 126, **ids), "count"),
        (lambda ids: pdu.read_request(3, 0, 0, **ids), "count"),
        (lambda ids: pdu.read_request(1, 0, 2001, **ids), "count"),
        (lambda ids: pdu.read_request(3, 65535, 2, **ids), "count"),
        (lambda ids: pdu.read_request(3, 65536, 1, **ids), "address"),
        (lambda ids: pdu.read_request(7, 0, 1, **ids), "function_code"),
        (lambda ids: pdu.write_register_request(0, 65536, **ids), "value"),
        (lambda ids: pdu.write_registers_request(0, [0] * 124, **ids), "count"),
        (lambda ids: pdu.write_registers_request(0, [-1], **ids), "value"),
        (lambda ids: pdu.write_coils_request(0, [], **ids), "count"),
        (lambda ids: pdu.write_coils_request(0, [True] * 1969, **ids), "count"),
    ],
)
def test_requests_outside_the_protocol_are_invalid_input(build: object, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        build({"unit_id": 1, "transaction_id": 1})  # type: ignore[operator]
    assert caught.value.detail["field"] == field
