"""Modbus TCP request and response frames (no I/O).

Requests are built with pymodbus 3.16.1's request classes and its socket framer
(``FramerSocket(DecodePDU(is_server=False)).buildFrame``). Responses are read
in two steps by the client: :func:`parse_header` checks the 7-byte MBAP header
and says how many PDU bytes follow, then :func:`decode_response` checks the
PDU against the :class:`Request` it answers and returns the values.

The MBAP header is checked here rather than by pymodbus's ``handleFrame``,
because that silently skips frames with a wrong transaction or unit id and
waits forever on a wrong protocol id: a client must fail such a frame instead.
pymodbus still decodes the PDUs, after the lengths and counts are checked
here (its decoders do not check a read response's byte count).

Errors: :class:`~opencrate.errors.InvalidInput` for a request out of the
protocol's range; :class:`~opencrate.errors.ProtocolError` for a response the
protocol does not allow (or that does not answer the request);
:class:`~opencrate.errors.DeviceError` for a Modbus exception response, named
in the message (``"ILLEGAL DATA ADDRESS (2)"``) with ``detail["exception_code"]``.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any, NoReturn

from attrs import frozen
from pymodbus.framer import FramerSocket
from pymodbus.pdu import DecodePDU, ExceptionResponse, ModbusPDU
from pymodbus.pdu.bit_message import (
    ReadCoilsRequest,
    ReadDiscreteInputsRequest,
    WriteMultipleCoilsRequest,
    WriteSingleCoilRequest,
)
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersRequest,
    ReadInputRegistersRequest,
    WriteMultipleRegistersRequest,
    WriteSingleRegisterRequest,
)

from opencrate.errors import DeviceError, InvalidInput, ProtocolError

__all__ = [
    "EXCEPTION_NAMES",
    "HEADER_SIZE",
    "MAX_READ_BITS",
    "MAX_READ_REGISTERS",
    "MAX_WRITE_BITS",
    "MAX_WRITE_REGISTERS",
    "REGISTER_TYPE_FUNCTIONS",
    "FunctionCode",
    "Header",
    "Request",
    "decode_response",
    "exception_name",
    "parse_header",
    "read_request",
    "write_coil_request",
    "write_coils_request",
    "write_register_request",
    "write_registers_request",
]

#: Bytes of the MBAP header: transaction id, protocol id (0), length, unit id.
HEADER_SIZE = 7
# The length field counts the unit id and the PDU; a PDU is at most 253 bytes.
_MAX_PDU = 253

# The protocol's limits per request (Modbus Application Protocol v1.1b3, §6).
MAX_READ_BITS = 2000
MAX_READ_REGISTERS = 125
MAX_WRITE_BITS = 1968
MAX_WRITE_REGISTERS = 123


class FunctionCode:
    """The function codes this client speaks."""

    READ_COILS = 1
    READ_DISCRETE_INPUTS = 2
    READ_HOLDING_REGISTERS = 3
    READ_INPUT_REGISTERS = 4
    WRITE_SINGLE_COIL = 5
    WRITE_SINGLE_REGISTER = 6
    WRITE_MULTIPLE_COILS = 15
    WRITE_MULTIPLE_REGISTERS = 16


#: The read function of each register type (the binding's ``register_type``).
REGISTER_TYPE_FUNCTIONS: dict[str, int] = {
    "coil": FunctionCode.READ_COILS,
    "discrete_input": FunctionCode.READ_DISCRETE_INPUTS,
    "holding": FunctionCode.READ_HOLDING_REGISTERS,
    "input": FunctionCode.READ_INPUT_REGISTERS,
}

#: The exception codes of the Modbus specification (§7), by their names there.
EXCEPTION_NAMES: dict[int, str] = {
    1: "ILLEGAL FUNCTION",
    2: "ILLEGAL DATA ADDRESS",
    3: "ILLEGAL DATA VALUE",
    4: "SERVER DEVICE FAILURE",
    5: "ACKNOWLEDGE",
    6: "SERVER DEVICE BUSY",
    8: "MEMORY PARITY ERROR",
    10: "GATEWAY PATH UNAVAILABLE",
    11: "GATEWAY TARGET DEVICE FAILED TO RESPOND",
}

_READ_CLASSES: dict[int, type[ModbusPDU]] = {
    FunctionCode.READ_COILS: ReadCoilsRequest,
    FunctionCode.READ_DISCRETE_INPUTS: ReadDiscreteInputsRequest,
    FunctionCode.READ_HOLDING_REGISTERS: ReadHoldingRegistersRequest,
    FunctionCode.READ_INPUT_REGISTERS: ReadInputRegistersRequest,
}
_BIT_READS = (FunctionCode.READ_COILS, FunctionCode.READ_DISCRETE_INPUTS)

# One framer for every request: buildFrame keeps no state.
_FRAMER = FramerSocket(DecodePDU(is_server=False))


def exception_name(code: int) -> str:
    """``"ILLEGAL DATA ADDRESS (2)"``; codes outside the specification are ``"UNKNOWN (n)"``."""
    return f"{EXCEPTION_NAMES.get(code, 'UNKNOWN')} ({code})"


@frozen(kw_only=True)
class Request:
    """One request frame and what its response must match.

    ``count`` is the number of bits or registers read or written; ``echo`` is
    the PDU a write's response must repeat (all of it for FC 5 and 6, the
    function code, address and count for FC 15 and 16); empty for reads.
    """

    function_code: int
    unit_id: int
    transaction_id: int
    address: int
    count: int
    frame: bytes
    echo: bytes = b""

    @property
    def is_read(self) -> bool:
        return self.function_code in _READ_CLASSES

    def describe(self) -> str:
        """``"FC 3 at 10 (2)"``: for error messages."""
        return f"FC {self.function_code} at {self.address} ({self.count})"


@frozen(kw_only=True)
class Header:
    """A response's MBAP header; ``pdu_size`` bytes of PDU follow it."""

    transaction_id: int
    unit_id: int
    pdu_size: int


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise InvalidInput(f"{name} {value} is outside {low}..{high}", field=name, value=value)


def _build(
    pdu: ModbusPDU, *, function_code: int, address: int, count: int, echo_size: int = 0
) -> Request:
    frame = _FRAMER.buildFrame(pdu)
    return Request(
        function_code=function_code,
        unit_id=pdu.dev_id,
        transaction_id=pdu.transaction_id,
        address=address,
        count=count,
        frame=frame,
        echo=frame[HEADER_SIZE : HEADER_SIZE + echo_size] if echo_size else b"",
    )


def _check_ids(unit_id: int, transaction_id: int, address: int) -> None:
    _check_range("unit_id", unit_id, 0, 255)
    _check_range("transaction_id", transaction_id, 0, 0xFFFF)
    _check_range("address", address, 0, 0xFFFF)


def read_request(
    function_code: int, address: int, count: int, *, unit_id: int, transaction_id: int
) -> Request:
    """A read of ``count`` bits (FC 1, 2) or registers (FC 3, 4) from ``address``.

    Raises :class:`InvalidInput` for another function code, or an address or
    count outside the protocol's range (a read may not run past 65535).
    """
    cls = _READ_CLASSES.get(function_code)
    if cls is None:
        raise InvalidInput(f"function code {function_code} is not a read", field="function_code")
    _check_ids(unit_id, transaction_id, address)
    limit = MAX_READ_BITS if function_code in _BIT_READS else MAX_READ_REGISTERS
    _check_range("count", count, 1, min(limit, 0x10000 - address))
    pdu = cls(address=address, count=count, dev_id=unit_id, transaction_id=transaction_id)
    return _build(pdu, function_code=function_code, address=address, count=count)


def write_coil_request(address: int, value: bool, *, unit_id: int, transaction_id: int) -> Request:
    """FC 5: write one coil; the response must echo the request."""
    _check_ids(unit_id, transaction_id, address)
    pdu = WriteSingleCoilRequest(
        address=address, bits=[bool(value)], dev_id=unit_id, transaction_id=transaction_id
    )
    return _build(
        pdu, function_code=FunctionCode.WRITE_SINGLE_COIL, address=address, count=1, echo_size=5
    )


def write_register_request(
    address: int, value: int, *, unit_id: int, transaction_id: int
) -> Request:
    """FC 6: write one register (0..65535); the response must echo the request."""
    _check_ids(unit_id, transaction_id, address)
    _check_range("value", value, 0, 0xFFFF)
    pdu = WriteSingleRegisterRequest(
        address=address, registers=[value], dev_id=unit_id, transaction_id=transaction_id
    )
    return _build(
        pdu,
        function_code=FunctionCode.WRITE_SINGLE_REGISTER,
        address=address,
        count=1,
        echo_size=5,
    )


def write_coils_request(
    address: int, values: Sequence[bool], *, unit_id: int, transaction_id: int
) -> Request:
    """FC 15: write ``len(values)`` coils (1..1968) from ``address``."""
    _check_ids(unit_id, transaction_id, address)
    _check_range("count", len(values), 1, min(MAX_WRITE_BITS, 0x10000 - address))
    pdu = WriteMultipleCoilsRequest(
        address=address,
        bits=[bool(v) for v in values],
        dev_id=unit_id,
        transaction_id=transaction_id,
    )
    return _build(
        pdu,
        function_code=FunctionCode.WRITE_MULTIPLE_COILS,
        address=address,
        count=len(values),
        echo_size=5,
    )


def write_registers_request(
    address: int, values: Sequence[int], *, unit_id: int, transaction_id: int
) -> Request:
    """FC 16: write ``len(values)`` registers (1..123, each 0..65535) from ``address``."""
    _check_ids(unit_id, transaction_id, address)
    _check_range("count", len(values), 1, min(MAX_WRITE_REGISTERS, 0x10000 - address))
    for value in values:
        _check_range("value", value, 0, 0xFFFF)
    pdu = WriteMultipleRegistersRequest(
        address=address, registers=list(values), dev_id=unit_id, transaction_id=transaction_id
    )
    return _build(
        pdu,
        function_code=FunctionCode.WRITE_MULTIPLE_REGISTERS,
        address=address,
        count=len(values),
        echo_size=5,
    )


def parse_header(data: bytes, **detail: Any) -> Header:
    """Check a response's 7-byte MBAP header (protocol id 0, a possible length).

    Raises :class:`ProtocolError` (with ``detail``) otherwise.
    """
    if len(data) != HEADER_SIZE:
        raise ProtocolError(f"MBAP header of {len(data)} bytes, not {HEADER_SIZE}", **detail)
    transaction_id, protocol_id, length, unit_id = struct.unpack(">HHHB", data)
    if protocol_id != 0:
        raise ProtocolError(
            f"protocol id {protocol_id} in the response (Modbus is 0)",
            **detail,
            protocol_id=protocol_id,
        )
    # length counts the unit id and a PDU of at least a function code and one byte.
    if not 3 <= length <= _MAX_PDU + 1:
        raise ProtocolError(f"MBAP length {length} is outside 3..254", **detail, length=length)
    return Header(transaction_id=transaction_id, unit_id=unit_id, pdu_size=length - 1)


def decode_response(
    request: Request, header: Header, pdu: bytes, **detail: Any
) -> list[bool] | list[int] | None:
    """The values of ``request``'s response: bits (FC 1, 2), registers (FC 3, 4), None (writes).

    Raises :class:`DeviceError` for an exception response, named in the
    message, with ``detail["exception_code"]``; :class:`ProtocolError` when the
    header's transaction or unit id is not the request's, the function code is
    another one, or a length, byte count or echo is wrong. ``detail`` is
    carried by every error.
    """
    where = request.describe()
    if header.transaction_id != request.transaction_id:
        raise ProtocolError(
            f"transaction id {header.transaction_id} in the response to {where}, "
            f"expected {request.transaction_id}",
            **detail,
        )
    if header.unit_id != request.unit_id:
        raise ProtocolError(
            f"unit id {header.unit_id} in the response to {where}, expected {request.unit_id}",
            **detail,
        )
    if len(pdu) != header.pdu_size or not pdu:
        raise ProtocolError(f"PDU of {len(pdu)} bytes, header says {header.pdu_size}", **detail)
    function_code = pdu[0]
    if function_code == request.function_code | 0x80:
        _raise_exception(request, pdu, **detail)
    if function_code != request.function_code:
        raise ProtocolError(f"function code {function_code} in the response to {where}", **detail)
    if not request.is_read:
        if pdu != request.echo:
            raise ProtocolError(
                f"response to {where} does not echo the request: {pdu.hex()}", **detail
            )
        return None
    bits = function_code in _BIT_READS
    expected = (request.count + 7) // 8 if bits else 2 * request.count
    if len(pdu) < 2 or pdu[1] != expected or len(pdu) != 2 + expected:
        byte_count = pdu[1] if len(pdu) > 1 else None
        raise ProtocolError(
            f"response to {where} has byte count {byte_count} and {len(pdu) - 2} data bytes, "
            f"expected {expected}",
            **detail,
        )
    decoded = _FRAMER.decoder.decode(pdu)
    if decoded is None:  # not expected after the checks above
        raise ProtocolError(f"response to {where} does not decode: {pdu.hex()}", **detail)
    if bits:
        return [bool(b) for b in decoded.bits[: request.count]]
    return [int(r) for r in decoded.registers]


def _raise_exception(request: Request, pdu: bytes, **detail: Any) -> NoReturn:
    if len(pdu) != 2:
        raise ProtocolError(f"exception response of {len(pdu)} bytes, not 2", **detail)
    decoded = _FRAMER.decoder.decode(pdu)
    if not isinstance(decoded, ExceptionResponse):  # not expected: the code is > 0x80
        raise ProtocolError(f"exception response does not decode: {pdu.hex()}", **detail)
    code = int(decoded.exception_code)
    raise DeviceError(
        f"{exception_name(code)} in the response to {request.describe()}",
        **detail,
        exception_code=code,
        function_code=request.function_code,
    )
