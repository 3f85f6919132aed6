"""A trio Modbus TCP server over sparse register tables (the simulator's and the tests' device).

:class:`RegisterBank` holds one device's four tables; :func:`serve_modbus` answers Modbus TCP
requests for a bank per unit id. pymodbus's own server is not used: it answers only the first of
several requests that arrive in one TCP segment, and it ignores unknown unit ids instead of
answering them. The protocol logic is :func:`answer_frame` (bytes in, bytes out, no I/O); the
trio layer around it only splits the byte stream into frames.

What a client gets:

* every request answered, in the order sent, also when several arrive in one segment;
* function codes 1, 2, 3, 4, 5, 6, 15 and 16; any other -> exception 1 (ILLEGAL FUNCTION);
* an address the bank does not map (any of the range) -> exception 2 (ILLEGAL DATA ADDRESS);
* a quantity out of the function's range, a byte count that does not match it, a coil value other
  than 0x0000 / 0xFF00, or a PDU of the wrong length -> exception 3 (ILLEGAL DATA VALUE);
* a unit id with no bank -> exception 11 (GATEWAY TARGET DEVICE FAILED TO RESPOND);
* an error of our own (an ``on_write`` callback that raised, a table holding what is no register
  value) -> exception 4 (SERVER DEVICE FAILURE), logged;
* a frame whose MBAP header is malformed (protocol id not 0, length outside 2..254): the stream
  cannot be resynchronised, so that connection is closed; other connections are not affected.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

import trio
from attrs import define, field

from opencrate.errors import DeviceError, InvalidInput

__all__ = [
    "REGISTER_TYPES",
    "ModbusException",
    "RegisterBank",
    "WriteCallback",
    "answer_frame",
    "serve_modbus",
    "split_frames",
]

log = logging.getLogger(__name__)

#: The four tables, by the binding's ``register_type`` names.
REGISTER_TYPES = ("coil", "discrete_input", "input", "holding")

#: ``on_write(register_type, address, words)``: after a client wrote ``words`` from ``address``.
WriteCallback = Callable[[str, int, list[int] | list[bool]], None]

ILLEGAL_FUNCTION = 1
ILLEGAL_DATA_ADDRESS = 2
ILLEGAL_DATA_VALUE = 3
SERVER_DEVICE_FAILURE = 4
GATEWAY_TARGET_FAILED = 11

_MBAP = struct.Struct(">HHHB")  # transaction id, protocol id, length (unit id + PDU), unit id
_MAX_LENGTH = 254  # unit id + the largest PDU (253 bytes)
_MAX_READ_BITS = 2000
_MAX_READ_REGISTERS = 125
_MAX_WRITE_BITS = 1968
_MAX_WRITE_REGISTERS = 123


class ModbusException(Exception):
    """A request to answer with a Modbus exception ``code`` (internal to the server)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@define(kw_only=True)
class RegisterBank:
    """One device's four sparse tables (``address -> value``), 0-based protocol addresses.

    Only addresses present in a table exist: reading or writing any other answers exception 2,
    as a real device does for registers it does not have. Registers hold 0..65535, coils and
    discrete inputs hold bools. ``on_write`` is called after a client's write (FC 5, 6, 15, 16)
    has been stored, with the table's name, the first address and the written words; it runs in
    the server's task and must not block.
    """

    coils: dict[int, bool] = field(factory=dict)
    discrete_inputs: dict[int, bool] = field(factory=dict)
    holding: dict[int, int] = field(factory=dict)
    input: dict[int, int] = field(factory=dict)
    on_write: WriteCallback | None = None

    def table(self, register_type: str) -> dict[int, Any]:
        """The table named by a binding's ``register_type``; InvalidInput for another name."""
        tables: dict[str, dict[int, Any]] = {
            "coil": self.coils,
            "discrete_input": self.discrete_inputs,
            "input": self.input,
            "holding": self.holding,
        }
        try:
            return tables[register_type]
        except KeyError:
            raise InvalidInput(
                f"register type {register_type!r} is not one of {', '.join(REGISTER_TYPES)}",
                field="register_type",
            ) from None

    def set_words(
        self, register_type: str, address: int, words: Sequence[int] | Sequence[bool]
    ) -> None:
        """Map (or overwrite) ``words`` from ``address``: what the device itself stores.

        Does not call ``on_write`` (that is for clients' writes). Raises InvalidInput for an
        unknown table, an address range outside 0..65535, a register value outside 0..65535 or
        a non-bool in a bit table; nothing is stored then.
        """
        table = self.table(register_type)
        _check_range(address, len(words))
        bits = register_type in ("coil", "discrete_input")
        for word in words:
            if bits and not isinstance(word, bool):
                raise InvalidInput(f"{register_type} values are bools, not {word!r}")
            if not bits and (type(word) is not int or not 0 <= word <= 0xFFFF):
                raise InvalidInput(f"register values are 0..65535, not {word!r}")
        for offset, word in enumerate(words):
            table[address + offset] = word

    def get_words(self, register_type: str, address: int, count: int) -> list[Any]:
        """``count`` values from ``address`` (bools for bit tables, ints for registers).

        Raises DeviceError (``detail["exception_code"] == 2``) when any of them is not mapped,
        InvalidInput for an unknown table or a range outside 0..65535.
        """
        table = self.table(register_type)
        _check_range(address, count)
        try:
            return [table[a] for a in range(address, address + count)]
        except KeyError as exc:
            raise DeviceError(
                f"ILLEGAL DATA ADDRESS (2): {register_type} {exc.args[0]} is not mapped",
                exception_code=ILLEGAL_DATA_ADDRESS,
                register_type=register_type,
                address=exc.args[0],
            ) from None

    def _read(self, register_type: str, address: int, count: int) -> list[Any]:
        if address + count > 0x10000:
            raise ModbusException(ILLEGAL_DATA_ADDRESS)
        table = self.table(register_type)
        try:
            return [table[a] for a in range(address, address + count)]
        except KeyError:
            raise ModbusException(ILLEGAL_DATA_ADDRESS) from None

    def _client_write(
        self, register_type: str, address: int, words: list[int] | list[bool]
    ) -> None:
        # All or nothing: a write touching one unmapped address stores nothing.
        self._read(register_type, address, len(words))
        table = self.table(register_type)
        for offset, word in enumerate(words):
            table[address + offset] = word
        if self.on_write is not None:
            # An error here is answered with exception 4 by answer_frame.
            self.on_write(register_type, address, words)


def _check_range(address: int, count: int) -> None:
    if not (0 <= address <= 0xFFFF and count >= 0 and address + count <= 0x10000):
        raise InvalidInput(f"addresses {address}..{address + count - 1} are not in 0..65535")


# -- the protocol: one frame's PDU in, its answer out (no I/O) ------------------------------


def answer_frame(bank_by_unit: Mapping[int, RegisterBank], unit_id: int, pdu: bytes) -> bytes:
    """The response PDU for request ``pdu`` (function code first) to unit ``unit_id``.

    Never raises for a client's request: every fault becomes an exception response
    (``function | 0x80``, code), as listed in the module docstring. An error of ours (an
    ``on_write`` that raised, a value put straight into a table that is no register value) is
    logged and answered with exception 4, so one request cannot stop the server.
    """
    function = pdu[0] if pdu else 0
    try:
        bank = bank_by_unit.get(unit_id)
        if bank is None:
            raise ModbusException(GATEWAY_TARGET_FAILED)
        handler = _HANDLERS.get(function)
        if handler is None:
            raise ModbusException(ILLEGAL_FUNCTION)
        return bytes([function]) + handler(bank, pdu[1:])
    except ModbusException as exc:
        return bytes([function | 0x80, exc.code])
    except Exception:
        log.exception("Modbus request to unit %d failed (function %d)", unit_id, function)
        return bytes([function | 0x80, SERVER_DEVICE_FAILURE])


def _address_quantity(body: bytes, maximum: int) -> tuple[int, int]:
    if len(body) < 4:
        raise ModbusException(ILLEGAL_DATA_VALUE)
    address, quantity = struct.unpack_from(">HH", body)
    if not 1 <= quantity <= maximum:
        raise ModbusException(ILLEGAL_DATA_VALUE)
    if address + quantity > 0x10000:
        raise ModbusException(ILLEGAL_DATA_ADDRESS)
    return address, quantity


def _exact(body: bytes, length: int) -> None:
    if len(body) != length:
        raise ModbusException(ILLEGAL_DATA_VALUE)


def _pack_bits(bits: Sequence[bool]) -> bytes:
    packed = bytearray((len(bits) + 7) // 8)
    for i, bit in enumerate(bits):
        if bit:
            packed[i // 8] |= 1 << (i % 8)
    return bytes(packed)


def _read_bits(register_type: str) -> Callable[[RegisterBank, bytes], bytes]:
    def handle(bank: RegisterBank, body: bytes) -> bytes:
        _exact(body, 4)
        address, quantity = _address_quantity(body, _MAX_READ_BITS)
        packed = _pack_bits(bank._read(register_type, address, quantity))
        return bytes([len(packed)]) + packed

    return handle


def _read_registers(register_type: str) -> Callable[[RegisterBank, bytes], bytes]:
    def handle(bank: RegisterBank, body: bytes) -> bytes:
        _exact(body, 4)
        address, quantity = _address_quantity(body, _MAX_READ_REGISTERS)
        words = bank._read(register_type, address, quantity)
        return bytes([2 * quantity]) + struct.pack(f">{quantity}H", *words)

    return handle


def _write_coil(bank: RegisterBank, body: bytes) -> bytes:
    _exact(body, 4)
    address, value = struct.unpack(">HH", body)
    if value not in (0x0000, 0xFF00):
        raise ModbusException(ILLEGAL_DATA_VALUE)
    bank._client_write("coil", address, [value == 0xFF00])
    return body


def _write_register(bank: RegisterBank, body: bytes) -> bytes:
    _exact(body, 4)
    address, value = struct.unpack(">HH", body)
    bank._client_write("holding", address, [value])
    return body


def _write_coils(bank: RegisterBank, body: bytes) -> bytes:
    address, quantity = _address_quantity(body, _MAX_WRITE_BITS)
    if len(body) < 5 or body[4] != (quantity + 7) // 8 or len(body) != 5 + body[4]:
        raise ModbusException(ILLEGAL_DATA_VALUE)
    data = body[5:]
    bits = [bool(data[i // 8] >> (i % 8) & 1) for i in range(quantity)]
    bank._client_write("coil", address, bits)
    return body[:4]


def _write_registers(bank: RegisterBank, body: bytes) -> bytes:
    address, quantity = _address_quantity(body, _MAX_WRITE_REGISTERS)
    if len(body) < 5 or body[4] != 2 * quantity or len(body) != 5 + body[4]:
        raise ModbusException(ILLEGAL_DATA_VALUE)
    words = list(struct.unpack_from(f">{quantity}H", body, 5))
    bank._client_write("holding", address, words)
    return body[:4]


_HANDLERS: dict[int, Callable[[RegisterBank, bytes], bytes]] = {
    1: _read_bits("coil"),
    2: _read_bits("discrete_input"),
    3: _read_registers("holding"),
    4: _read_registers("input"),
    5: _write_coil,
    6: _write_register,
    15: _write_coils,
    16: _write_registers,
}


def split_frames(
    buffer: bytearray, bank_by_unit: Mapping[int, RegisterBank]
) -> tuple[bytes, str | None]:
    """Answer every complete frame at the start of ``buffer`` and remove them from it.

    Returns the answers' bytes in order (empty while no frame is complete) and, when a frame's
    MBAP header cannot be right, why: the stream cannot be resynchronised then, so the caller
    sends the answers so far and closes the connection. The rest of ``buffer`` is left as is.
    """
    answers = bytearray()
    while len(buffer) >= _MBAP.size:
        transaction_id, protocol_id, length, unit_id = _MBAP.unpack_from(buffer)
        if protocol_id != 0 or not 2 <= length <= _MAX_LENGTH:
            return bytes(answers), f"protocol id {protocol_id}, length {length}"
        end = 6 + length
        if len(buffer) < end:
            break
        pdu = bytes(buffer[_MBAP.size : end])
        del buffer[:end]
        response = answer_frame(bank_by_unit, unit_id, pdu)
        answers += _MBAP.pack(transaction_id, 0, 1 + len(response), unit_id) + response
    return bytes(answers), None


# -- the trio layer ------------------------------------------------------------------------


async def _serve_connection(
    stream: trio.abc.Stream, bank_by_unit: Mapping[int, RegisterBank]
) -> None:
    buffer = bytearray()
    async with stream:
        try:
            while data := await stream.receive_some():
                buffer += data
                answers, malformed = split_frames(buffer, bank_by_unit)
                if answers:
                    await stream.send_all(answers)
                if malformed is not None:
                    log.warning("closing a Modbus connection: malformed frame (%s)", malformed)
                    return
        except trio.BrokenResourceError:
            # The client reset the connection: its business, not the server's.
            return


async def serve_modbus(
    bank_by_unit: Mapping[int, RegisterBank],
    host: str,
    port: int,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> NoReturn:
    """Serve Modbus TCP on ``host``:``port`` for a bank per unit id, until cancelled.

    ``port`` 0 picks a free port; ``task_status.started()`` is given the bound port (of the
    first listener when ``host`` resolves to several addresses). ``bank_by_unit`` is read on
    every request, so banks may be added later. Each connection is served in its own task;
    one connection's fault (a malformed frame, a reset) closes only that connection. Raises
    OSError when the port cannot be bound. Cancellation closes the listeners and connections.
    """
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound = listeners[0].socket.getsockname()[1]
    task_status.started(bound)

    async def handle(stream: trio.SocketStream) -> None:
        await _serve_connection(stream, bank_by_unit)

    await trio.serve_listeners(handle, listeners)
