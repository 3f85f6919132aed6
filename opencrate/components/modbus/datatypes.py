"""Point values <-> Modbus registers and bits (no I/O).

A :class:`RegisterFormat` says how one point's value sits in a device's data
tables: which table, which data type, the byte and word order, a bit within a
register, a string's length, and a linear scale and offset. It is built from
a Modbus binding's config with :meth:`RegisterFormat.from_binding`, which
checks every key the codec reads and raises
:class:`~opencrate.errors.InvalidInput` with ``detail["field"]`` naming the
key (the message names the key and the bad value). Keys the codec does not
read (``device_id``, ``poll_interval``...) are left to their owners.

:func:`decode` turns the ``fmt.count`` registers (or bits) read from a device
into a point value; :func:`encode` is its inverse for writes; a bit within a
register is written with :func:`encode_bit` (read-modify-write).

Byte layout: the value's bytes are laid out most significant first (the
``struct`` ``>`` format), cut into 16-bit registers, then ``byte_order``
little swaps the two bytes of every register and ``word_order`` little
reverses the order of the registers. For a 32-bit value with bytes ``A B C D``
(``A`` most significant) that gives the four orders::

    byte_order  word_order   registers
    big         big          [A B] [C D]   ABCD
    little      little       [D C] [B A]   DCBA
    little      big          [B A] [D C]   BADC
    big         little       [C D] [A B]   CDAB

Errors: :class:`~opencrate.errors.ProtocolError` when :func:`decode` is given
the wrong number of words or a word that is not a register (or bit) value;
:class:`~opencrate.errors.DeviceError` when the device's value cannot be a
point value (a NaN or infinite float, a string that is not UTF-8, a scaled
value that overflows); :class:`~opencrate.errors.InvalidInput` from
:func:`encode` for a value out of range of the type after scale and offset,
of the wrong kind, or for a format that cannot be written that way.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from fractions import Fraction

from opencrate.components.modbus.formats import (
    _FLOATS,
    _INT_RANGE,
    _STRUCT,
    BINDING_KEYS,
    BIT_TABLES,
    MAX_STRING_REGISTERS,
    WRITABLE_TABLES,
    DataType,
    Order,
    RegisterFormat,
    _is_number,
    _show,
)
from opencrate.errors import DeviceError, InvalidInput, ProtocolError
from opencrate.model.values import PointValue, shortest_float32

# The format records live in .formats; they are named here too, so that the
# codec is one import for its users.
__all__ = [
    "BINDING_KEYS",
    "BIT_TABLES",
    "MAX_STRING_REGISTERS",
    "WRITABLE_TABLES",
    "DataType",
    "Order",
    "RegisterFormat",
    "decode",
    "encode",
    "encode_bit",
]


# -- bytes <-> registers ---------------------------------------------------------------
def _to_registers(fmt: RegisterFormat, data: bytes) -> list[int]:
    words = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    if fmt.byte_order is Order.LITTLE:
        words = [((w & 0xFF) << 8) | (w >> 8) for w in words]
    if fmt.word_order is Order.LITTLE:
        words.reverse()
    return words


def _from_registers(fmt: RegisterFormat, words: Sequence[int]) -> bytes:
    ordered = list(words)
    if fmt.word_order is Order.LITTLE:
        ordered.reverse()
    if fmt.byte_order is Order.LITTLE:
        ordered = [((w & 0xFF) << 8) | (w >> 8) for w in ordered]
    return b"".join(w.to_bytes(2, "big") for w in ordered)


def _check_words(fmt: RegisterFormat, words: Sequence[int] | Sequence[bool]) -> None:
    if len(words) != fmt.count:
        raise ProtocolError(
            f"expected {fmt.count} {'bits' if fmt.is_bit_table else 'registers'} for "
            f"{fmt.data_type.value}, got {len(words)}",
            count=len(words),
        )
    for word in words:
        if fmt.is_bit_table:
            if not isinstance(word, bool) and word not in (0, 1):
                raise ProtocolError(f"a bit must be true or false, got {_show(word)}")
        elif isinstance(word, bool) or not isinstance(word, int) or not 0 <= word <= 0xFFFF:
            raise ProtocolError(f"a register must be an integer in 0..65535, got {_show(word)}")


# -- decode ----------------------------------------------------------------------------
def decode(fmt: RegisterFormat, words: Sequence[int] | Sequence[bool]) -> PointValue:
    """The point value in ``words``: the ``fmt.count`` registers (or bits) read.

    ``bool`` decodes to ``bool`` (a register without ``bit`` is true when not
    zero), integers to ``int`` (``float`` when scaled), floats to ``float``,
    strings to ``str`` up to the first NUL with trailing spaces removed.
    Raises ProtocolError for the wrong number of words or a word out of range,
    DeviceError for a NaN or infinite float, a scaled value that overflows, or
    a string that is not UTF-8.
    """
    _check_words(fmt, words)
    if fmt.is_bit_table:
        return bool(words[0])
    data = _from_registers(fmt, [int(w) for w in words])
    if fmt.data_type is DataType.BOOL:
        register = int.from_bytes(data, "big")
        return register != 0 if fmt.bit is None else bool(register >> fmt.bit & 1)
    if fmt.data_type is DataType.STRING:
        text = data.split(b"\x00", 1)[0]
        try:
            return text.decode("utf-8").rstrip(" ")
        except UnicodeDecodeError:
            raise DeviceError(
                f"string register value is not UTF-8: {_show(text)}", raw=text.hex()
            ) from None
    code, _ = _STRUCT[fmt.data_type]
    (raw,) = struct.unpack(">" + code, data)
    if fmt.data_type in _FLOATS and not math.isfinite(raw):
        raise DeviceError(
            f"{fmt.data_type.value} register value is not a number: {_show(raw)} "
            f"(a point value must be finite)",
            raw=data.hex(),
        )
    if fmt.data_type is DataType.FLOAT32:
        raw = shortest_float32(raw)
    if not fmt.is_scaled:
        return raw  # type: ignore[no-any-return]
    value = float(raw) * fmt.scale + fmt.offset
    if not math.isfinite(value):
        raise DeviceError(
            f"{fmt.data_type.value} register value {_show(raw)} * scale {fmt.scale} + offset "
            f"{fmt.offset} overflows (a point value must be finite)",
            raw=data.hex(),
        )
    return value


# -- encode ----------------------------------------------------------------------------
def _as_bool(value: PointValue) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise InvalidInput(f"value {_show(value)} is not a boolean", field="value")


def _raw_integer(fmt: RegisterFormat, value: PointValue) -> int:
    if not _is_number(value):
        raise InvalidInput(
            f"value {_show(value)} is not a number for {fmt.data_type.value}", field="value"
        )
    assert isinstance(value, int | float)
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput(f"value {_show(value)} is not a finite number", field="value")
    # Exact arithmetic: a 64-bit integer survives, and rounding is exactly half-even.
    raw = round((Fraction(value) - Fraction(fmt.offset)) / Fraction(fmt.scale))
    lo, hi = _INT_RANGE[fmt.data_type]
    if not lo <= raw <= hi:
        scaled = f" (raw {_show(raw)} after scale {fmt.scale}, offset {fmt.offset})"
        raise InvalidInput(
            f"value {_show(value)} is out of range for {fmt.data_type.value} ({lo}..{hi})"
            f"{scaled if fmt.is_scaled else ''}",
            field="value",
        )
    return raw


def _raw_float(fmt: RegisterFormat, value: PointValue) -> bytes:
    if not _is_number(value):
        raise InvalidInput(
            f"value {_show(value)} is not a number for {fmt.data_type.value}", field="value"
        )
    assert isinstance(value, int | float)
    try:
        raw = (float(value) - fmt.offset) / fmt.scale
        if not math.isfinite(raw):
            raise OverflowError
        return struct.pack(">" + _STRUCT[fmt.data_type][0], raw)
    except OverflowError:
        raise InvalidInput(
            f"value {_show(value)} is out of range for {fmt.data_type.value}", field="value"
        ) from None


def encode(fmt: RegisterFormat, value: PointValue) -> list[int] | list[bool]:
    """The registers (or bits) to write for ``value``: the inverse of :func:`decode`.

    Integers are rounded to the nearest (half to even) after undoing scale and
    offset; a string is UTF-8, padded with NUL to ``length`` registers. Raises
    InvalidInput (``detail["field"]`` is ``"value"``, or the format key at
    fault) when the format is not writable, is a bit within a register (use
    :func:`encode_bit`), or the value is of the wrong kind, not finite, out of
    range of the type, or a string too long or containing NUL.
    """
    if not fmt.writable:
        raise InvalidInput(f"this {fmt.register_type} point is not writable", field="writable")
    if fmt.is_bit_table:
        return [_as_bool(value)]
    if fmt.bit is not None:
        raise InvalidInput(
            f"bit {fmt.bit} of a register is written with encode_bit (read-modify-write)",
            field="bit",
        )
    if fmt.data_type is DataType.BOOL:
        data = (1 if _as_bool(value) else 0).to_bytes(2, "big")
    elif fmt.data_type is DataType.STRING:
        if not isinstance(value, str):
            raise InvalidInput(f"value {_show(value)} is not a string", field="value")
        data = value.encode("utf-8")
        if b"\x00" in data:
            raise InvalidInput(f"value {_show(value)} contains a NUL character", field="value")
        room = 2 * fmt.count
        if len(data) > room:
            raise InvalidInput(
                f"value {_show(value)} is {len(data)} bytes in UTF-8; "
                f"{fmt.count} registers hold {room}",
                field="value",
            )
        data = data.ljust(room, b"\x00")
    elif fmt.data_type in _FLOATS:
        data = _raw_float(fmt, value)
    else:
        code, _ = _STRUCT[fmt.data_type]
        data = struct.pack(">" + code, _raw_integer(fmt, value))
    return _to_registers(fmt, data)


def encode_bit(fmt: RegisterFormat, current_register: int, value: bool) -> int:
    """``current_register`` (as just read) with ``fmt.bit`` set to ``value``.

    The other 15 bits are kept, so writing the result back changes one bit
    (the read and the write are not atomic on the device). Raises InvalidInput
    when ``fmt`` is not a writable bit within a register, ``current_register``
    is not in 0..65535 or ``value`` is not a boolean.
    """
    if fmt.bit is None:
        raise InvalidInput(
            f"encode_bit needs a format with 'bit'; this is {fmt.data_type.value} on a "
            f"{fmt.register_type}",
            field="bit",
        )
    if not fmt.writable:
        raise InvalidInput(f"this {fmt.register_type} point is not writable", field="writable")
    if (
        isinstance(current_register, bool)
        or not isinstance(current_register, int)
        or not 0 <= current_register <= 0xFFFF
    ):
        raise InvalidInput(
            f"current register must be an integer in 0..65535, got {_show(current_register)}",
            field="current_register",
        )
    number = int.from_bytes(_from_registers(fmt, [current_register]), "big")
    mask = 1 << fmt.bit
    number = number | mask if _as_bool(value) else number & ~mask
    return _to_registers(fmt, number.to_bytes(2, "big"))[0]
