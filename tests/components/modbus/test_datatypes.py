"""The Modbus codec: point values <-> registers, every type and order, and bad bindings."""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymodbus.client.mixin import ModbusClientMixin

from opencrate.components.modbus.datatypes import (
    BINDING_KEYS,
    DataType,
    Order,
    RegisterFormat,
    decode,
    encode,
    encode_bit,
)
from opencrate.errors import DeviceError, InvalidInput, ProtocolError

ORDERS = [(b, w) for b in Order for w in Order]
NUMERIC = [t for t in DataType if t not in (DataType.BOOL, DataType.STRING)]
INT_BITS = {
    DataType.INT16: (16, True),
    DataType.UINT16: (16, False),
    DataType.INT32: (32, True),
    DataType.UINT32: (32, False),
    DataType.INT64: (64, True),
    DataType.UINT64: (64, False),
}
STRUCT_CODE = {"int16": "h", "uint16": "H", "int32": "i", "uint32": "I"}
STRUCT_CODE |= {"int64": "q", "uint64": "Q", "float32": "f", "float64": "d"}


def fmt(data_type: DataType | str, register_type: str = "holding", **keys: Any) -> RegisterFormat:
    return RegisterFormat.from_binding(
        {"register_type": register_type, "data_type": str(data_type), **keys}
    )


def ordered(data_type: DataType, byte_order: Order, word_order: Order) -> RegisterFormat:
    return fmt(data_type, byte_order=byte_order.value, word_order=word_order.value)


def int_range(data_type: DataType) -> tuple[int, int]:
    bits, signed = INT_BITS[data_type]
    return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)


def reference_registers(code: str, value: float, byte_order: Order, word_order: Order) -> list[int]:
    """The registers for ``value``, built here independently of the codec: the
    big-endian bytes, bytes swapped inside each pair, pairs reversed."""
    data = struct.pack(">" + code, value)
    pairs = [data[i : i + 2] for i in range(0, len(data), 2)]
    if byte_order is Order.LITTLE:
        pairs = [p[::-1] for p in pairs]
    if word_order is Order.LITTLE:
        pairs.reverse()
    return [int.from_bytes(p, "big") for p in pairs]


# -- round trips ---------------------------------------------------------------------------
@pytest.mark.parametrize(("byte_order", "word_order"), ORDERS)
@pytest.mark.parametrize("data_type", list(INT_BITS))
@given(data=st.data())
def test_integer_round_trips_exactly_in_every_order(
    data: st.DataObject, data_type: DataType, byte_order: Order, word_order: Order
) -> None:
    f = ordered(data_type, byte_order, word_order)
    lo, hi = int_range(data_type)
    value = data.draw(st.integers(lo, hi))
    words = encode(f, value)
    assert len(words) == f.count
    assert all(0 <= w <= 0xFFFF for w in words)
    decoded = decode(f, words)
    assert type(decoded) is int
    assert decoded == value


@pytest.mark.parametrize(("byte_order", "word_order"), ORDERS)
@pytest.mark.parametrize("data_type", [DataType.FLOAT32, DataType.FLOAT64])
@given(data=st.data())
def test_float_round_trips_in_every_order(
    data: st.DataObject, data_type: DataType, byte_order: Order, word_order: Order
) -> None:
    f = ordered(data_type, byte_order, word_order)
    width = 32 if data_type is DataType.FLOAT32 else 64
    # Floats the type holds exactly come back exactly.
    value = data.draw(st.floats(width=width, allow_nan=False, allow_infinity=False))
    decoded = decode(f, encode(f, value))
    assert type(decoded) is float
    if data_type is DataType.FLOAT32:
        # The shortest decimal of the same float32 (40.6, not 40.599998474121094).
        assert struct.pack(">f", decoded) == struct.pack(">f", value)
        assert len(repr(decoded)) <= len(repr(value))
    else:
        assert decoded == value


@pytest.mark.parametrize(("byte_order", "word_order"), ORDERS)
@given(value=st.floats(-1e30, 1e30))
def test_float32_rounds_a_double_to_the_nearest_float32(
    value: float, byte_order: Order, word_order: Order
) -> None:
    f = ordered(DataType.FLOAT32, byte_order, word_order)
    nearest = struct.unpack(">f", struct.pack(">f", value))[0]
    assert struct.pack(">f", decode(f, encode(f, value))) == struct.pack(">f", nearest)


def test_float32_decodes_to_the_digits_the_device_holds() -> None:
    f = ordered(DataType.FLOAT32, Order.BIG, Order.BIG)
    assert decode(f, encode(f, 40.6)) == 40.6  # not 40.599998474121094
    assert decode(f, encode(f, 123.456)) == 123.456


@pytest.mark.parametrize(("byte_order", "word_order"), ORDERS)
@pytest.mark.parametrize("data_type", NUMERIC)
@given(data=st.data())
def test_scaled_round_trip_is_within_half_a_step(
    data: st.DataObject, data_type: DataType, byte_order: Order, word_order: Order
) -> None:
    scale = data.draw(st.sampled_from([0.1, 0.01, 0.5, 2.0, 10.0, -0.1, 1 / 3]), label="scale")
    offset = data.draw(st.sampled_from([0.0, -40.0, 273.15, 1000.5]), label="offset")
    f = fmt(
        data_type,
        byte_order=byte_order.value,
        word_order=word_order.value,
        scale=scale,
        offset=offset,
    )
    if data_type in INT_BITS:
        lo, hi = int_range(data_type)
        # A raw integer away from the ends (so rounding cannot leave the type) and
        # small enough that a double holds raw * scale to well under a step.
        raw = data.draw(st.integers(max(lo + 1, -(2**40)), min(hi - 1, 2**40)), label="raw")
        jitter = data.draw(st.floats(-0.49, 0.49), label="jitter")
        value = (raw + jitter) * scale + offset
        tolerance = abs(scale) / 2 + 1e-9 * max(1.0, abs(value))
    else:
        value = data.draw(st.floats(-1e6, 1e6), label="value")
        rel = 2**-23 if data_type is DataType.FLOAT32 else 2**-52
        tolerance = rel * 4 * (abs(value) + abs(offset)) + 1e-12
    decoded = decode(f, encode(f, value))
    assert type(decoded) is float
    assert math.isclose(decoded, value, rel_tol=0, abs_tol=tolerance), (decoded, value)


@given(
    text=st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=15)
)  # 15 x 4 bytes fit 30 registers
@pytest.mark.parametrize(("byte_order", "word_order"), ORDERS)
def test_string_round_trips_without_trailing_spaces(
    text: str, byte_order: Order, word_order: Order
) -> None:
    f = fmt(DataType.STRING, length=30, byte_order=byte_order.value, word_order=word_order.value)
    words = encode(f, text)
    assert len(words) == 30
    assert decode(f, words) == text.rstrip(" ")


@given(register=st.integers(0, 0xFFFF), bit=st.integers(0, 15), value=st.booleans())
@pytest.mark.parametrize("byte_order", list(Order))
def test_encode_bit_changes_only_its_bit(
    register: int, bit: int, value: bool, byte_order: Order
) -> None:
    f = fmt(DataType.BOOL, bit=bit, byte_order=byte_order.value)
    new = encode_bit(f, register, value)
    assert decode(f, [new]) is value
    for other in range(16):
        if other != bit:
            g = fmt(DataType.BOOL, bit=other, byte_order=byte_order.value)
            assert decode(g, [new]) == decode(g, [register])


@pytest.mark.parametrize("register_type", ["coil", "discrete_input"])
def test_bit_tables_decode_one_bit_and_coils_encode_it(register_type: str) -> None:
    f = fmt(DataType.BOOL, register_type)
    assert f.is_bit_table
    assert f.count == 1
    assert decode(f, [True]) is True
    assert decode(f, [False]) is False
    if register_type == "coil":
        assert encode(f, True) == [True]
        assert encode(f, False) == [False]
    else:
        with pytest.raises(InvalidInput, match="not writable") as info:
            encode(f, True)
        assert info.value.detail["field"] == "writable"


def test_bool_register_without_bit_is_true_when_not_zero() -> None:
    f = fmt(DataType.BOOL)
    assert decode(f, [0]) is False
    assert decode(f, [1]) is True
    assert decode(f, [0x8000]) is True
    assert encode(f, True) == [1]
    assert encode(f, False) == [0]


# -- known vectors -------------------------------------------------------------------------
def test_float32_123_456_in_the_four_orders() -> None:
    assert struct.pack(">f", 123.456).hex() == "42f6e979"
    expected = {
        (Order.BIG, Order.BIG): [0x42F6, 0xE979],  # ABCD
        (Order.LITTLE, Order.LITTLE): [0x79E9, 0xF642],  # DCBA
        (Order.LITTLE, Order.BIG): [0xF642, 0x79E9],  # BADC
        (Order.BIG, Order.LITTLE): [0xE979, 0x42F6],  # CDAB
    }
    for (byte_order, word_order), words in expected.items():
        f = ordered(DataType.FLOAT32, byte_order, word_order)
        assert encode(f, 123.456) == words
        assert reference_registers("f", 123.456, byte_order, word_order) == words
        assert decode(f, words) == pytest.approx(123.456, rel=1e-7)


@pytest.mark.parametrize(("byte_order", "word_order"), ORDERS)
@pytest.mark.parametrize(
    ("data_type", "value"),
    [
        (DataType.INT16, -2),
        (DataType.UINT16, 0xBEEF),
        (DataType.INT32, -123456789),
        (DataType.UINT32, 0xDEADBEEF),
        (DataType.INT64, -(2**62) - 12345),
        (DataType.UINT64, 0x0123456789ABCDEF),
        (DataType.FLOAT32, -0.15625),
        (DataType.FLOAT64, math.pi),
    ],
)
def test_vectors_match_an_independent_struct_layout(
    data_type: DataType, value: float, byte_order: Order, word_order: Order
) -> None:
    f = ordered(data_type, byte_order, word_order)
    words = reference_registers(STRUCT_CODE[data_type], value, byte_order, word_order)
    assert encode(f, value) == words
    assert decode(f, words) == value


def test_uint64_vector_word_for_word() -> None:
    f = ordered(DataType.UINT64, Order.BIG, Order.BIG)
    assert encode(f, 0x0123456789ABCDEF) == [0x0123, 0x4567, 0x89AB, 0xCDEF]
    f = ordered(DataType.UINT64, Order.BIG, Order.LITTLE)
    assert encode(f, 0x0123456789ABCDEF) == [0xCDEF, 0x89AB, 0x4567, 0x0123]
    f = ordered(DataType.UINT64, Order.LITTLE, Order.LITTLE)
    assert encode(f, 0x0123456789ABCDEF) == [0xEFCD, 0xAB89, 0x6745, 0x2301]


PYMODBUS_TYPES = ModbusClientMixin.DATATYPE


@pytest.mark.parametrize("word_order", ["big", "little"])
@pytest.mark.parametrize(
    ("data_type", "pymodbus_type", "value"),
    [
        (DataType.INT16, PYMODBUS_TYPES.INT16, -12345),
        (DataType.UINT16, PYMODBUS_TYPES.UINT16, 54321),
        (DataType.INT32, PYMODBUS_TYPES.INT32, -1_000_000_007),
        (DataType.UINT32, PYMODBUS_TYPES.UINT32, 4_000_000_000),
        (DataType.INT64, PYMODBUS_TYPES.INT64, -(2**60) - 7),
        (DataType.UINT64, PYMODBUS_TYPES.UINT64, 2**64 - 3),
        (DataType.FLOAT32, PYMODBUS_TYPES.FLOAT32, 123.456),
        (DataType.FLOAT64, PYMODBUS_TYPES.FLOAT64, -98765.4321),
    ],
)
def test_big_endian_bytes_agree_with_pymodbus(
    data_type: DataType, pymodbus_type: Any, value: float, word_order: str
) -> None:
    # pymodbus always puts bytes big-endian within a register; its word_order
    # "little" reverses the registers, as ours does.
    f = ordered(data_type, Order.BIG, Order(f"{word_order}-endian"))
    theirs = ModbusClientMixin.convert_to_registers(value, pymodbus_type, word_order=word_order)
    assert encode(f, value) == theirs
    back = ModbusClientMixin.convert_from_registers(theirs, pymodbus_type, word_order=word_order)
    if data_type is DataType.FLOAT32:  # the same float32; ours in its shortest digits
        assert struct.pack(">f", decode(f, theirs)) == struct.pack(">f", back)
    else:
        assert decode(f, theirs) == back


def test_string_agrees_with_pymodbus_and_strips_nul_and_spaces() -> None:
    f = fmt(DataType.STRING, length=4)
    words = encode(f, "AHU-1")
    assert words == ModbusClientMixin.convert_to_registers(
        "AHU-1\x00\x00\x00", PYMODBUS_TYPES.STRING
    )
    assert words == [0x4148, 0x552D, 0x3100, 0x0000]
    assert decode(f, words) == "AHU-1"
    assert decode(f, [0x4148, 0x552D, 0x3120, 0x2020]) == "AHU-1"
    # Bytes after the terminating NUL are not part of the string.
    assert decode(f, [0x4100, 0x4242, 0x4242, 0x4242]) == "A"


def test_byte_swapped_string() -> None:
    f = fmt(DataType.STRING, length=2, byte_order="little-endian")
    assert encode(f, "ABC") == [0x4241, 0x0043]
    assert decode(f, [0x4241, 0x0043]) == "ABC"


def test_bit_numbering_is_from_the_least_significant_bit() -> None:
    assert decode(fmt(DataType.BOOL, bit=0), [0x0001]) is True
    assert decode(fmt(DataType.BOOL, bit=15), [0x8000]) is True
    assert decode(fmt(DataType.BOOL, bit=1), [0x0001]) is False
    assert encode_bit(fmt(DataType.BOOL, bit=3), 0x00F0, True) == 0x00F8
    assert encode_bit(fmt(DataType.BOOL, bit=4), 0x00F0, False) == 0x00E0
    # byte_order little: the register is byte-swapped before its bits are numbered.
    swapped = fmt(DataType.BOOL, bit=0, byte_order="little-endian")
    assert decode(swapped, [0x0100]) is True
    assert encode_bit(swapped, 0x0000, True) == 0x0100


def test_scale_and_offset_known_values() -> None:
    f = fmt(DataType.INT16, scale=0.1, offset=-40)
    assert decode(f, [215]) == pytest.approx(-18.5)
    assert encode(f, -18.5) == [215]
    assert encode(f, 21.04) == [610]  # 610.4 rounds to 610
    assert encode(f, -40.0) == [0]
    assert decode(f, [0xFFFF]) == pytest.approx(-40.1)
    assert type(decode(fmt(DataType.INT16), [7])) is int
    assert type(decode(f, [7])) is float


def test_large_int64_survives_without_float_rounding() -> None:
    f = fmt(DataType.INT64)
    value = 2**63 - 1
    assert decode(f, encode(f, value)) == value
    assert encode(f, 12.5) == encode(f, 12)  # half to even
    assert encode(f, 13.5) == encode(f, 14)


# -- decode errors --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data_type", "words", "name"),
    [
        (DataType.FLOAT32, [0x7FC0, 0x0000], "nan"),
        (DataType.FLOAT32, [0x7F80, 0x0000], "inf"),
        (DataType.FLOAT32, [0xFF80, 0x0000], "-inf"),
        (DataType.FLOAT64, [0x7FF8, 0, 0, 0], "nan"),
        (DataType.FLOAT64, [0xFFF0, 0, 0, 0], "-inf"),
    ],
)
def test_a_device_nan_or_infinity_is_a_device_error(
    data_type: DataType, words: list[int], name: str
) -> None:
    with pytest.raises(DeviceError, match=f"not a number: {name}") as info:
        decode(fmt(data_type), words)
    assert "finite" in info.value.message


def test_scaled_overflow_is_a_device_error() -> None:
    f = fmt(DataType.FLOAT64, scale=10.0)
    with pytest.raises(DeviceError, match="overflows"):
        decode(f, encode(fmt(DataType.FLOAT64), 1.7e308))


def test_a_string_that_is_not_utf8_is_a_device_error() -> None:
    with pytest.raises(DeviceError, match="not UTF-8"):
        decode(fmt(DataType.STRING, length=1), [0xFFFE])


@pytest.mark.parametrize(
    ("f", "words", "match"),
    [
        (fmt(DataType.FLOAT32), [1], "expected 2 registers for float32, got 1"),
        (fmt(DataType.INT16), [1, 2], "expected 1 registers for int16, got 2"),
        (fmt(DataType.UINT16), [70000], "0..65535, got 70000"),
        (fmt(DataType.UINT16), [-1], "0..65535, got -1"),
        (fmt(DataType.UINT16), [True], "0..65535, got True"),
        (fmt(DataType.BOOL, "coil"), [True, False], "expected 1 bits"),
        (fmt(DataType.BOOL, "coil"), [2], "true or false, got 2"),
    ],
)
def test_wrong_words_are_a_protocol_error(f: RegisterFormat, words: list[int], match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        decode(f, words)


# -- encode errors --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("f", "value", "match"),
    [
        (fmt(DataType.INT16), 32768, r"value 32768 is out of range for int16 \(-32768..32767\)"),
        (fmt(DataType.UINT16), -1, "value -1 is out of range for uint16"),
        (fmt(DataType.UINT64), 2**64, "out of range for uint64"),
        (fmt(DataType.INT16, scale=0.1), 3276.8, r"value 3276.8 .*\(raw 32768 after scale 0.1"),
        (fmt(DataType.UINT16, offset=10), 9.4, r"raw -1 after scale 1.0, offset 10.0"),
        (fmt(DataType.FLOAT32), 1e39, "value 1e\\+39 is out of range for float32"),
        (fmt(DataType.FLOAT64, scale=1e-300), 1e300, "out of range for float64"),
        (fmt(DataType.FLOAT32), math.nan, "not a finite number|out of range"),
        (fmt(DataType.INT32), math.inf, "not a finite number"),
        (fmt(DataType.FLOAT64), 10**400, "out of range for float64"),
        (fmt(DataType.INT64, scale=0.5), 10**400, "out of range for int64"),
        (fmt(DataType.INT32), "12", "'12' is not a number for int32"),
        (fmt(DataType.INT32), True, "True is not a number for int32"),
        (fmt(DataType.BOOL, "coil"), 2, "2 is not a boolean"),
        (fmt(DataType.BOOL, "coil"), "on", "'on' is not a boolean"),
        (fmt(DataType.STRING, length=2), "ABCDE", "5 bytes in UTF-8; 2 registers hold 4"),
        (fmt(DataType.STRING, length=2), "A\x00", "contains a NUL"),
        (fmt(DataType.STRING, length=2), 12, "12 is not a string"),
    ],
)
def test_bad_values_are_invalid_input_naming_the_value(
    f: RegisterFormat, value: Any, match: str
) -> None:
    with pytest.raises(InvalidInput, match=match) as info:
        encode(f, value)
    assert info.value.detail["field"] == "value"


def test_a_bit_in_a_register_is_written_with_encode_bit() -> None:
    with pytest.raises(InvalidInput, match="encode_bit") as info:
        encode(fmt(DataType.BOOL, bit=3), True)
    assert info.value.detail["field"] == "bit"
    with pytest.raises(InvalidInput, match="needs a format with 'bit'"):
        encode_bit(fmt(DataType.UINT16), 0, True)
    with pytest.raises(InvalidInput, match="not writable"):
        encode_bit(fmt(DataType.BOOL, "input", bit=3), 0, True)
    with pytest.raises(InvalidInput, match=r"0..65535, got 65536"):
        encode_bit(fmt(DataType.BOOL, bit=3), 65536, True)


def test_read_only_points_are_not_encoded() -> None:
    for f in (fmt(DataType.INT16, "input"), fmt(DataType.INT16, writable=False)):
        assert not f.writable
        with pytest.raises(InvalidInput, match="not writable"):
            encode(f, 1)


# -- bindings --------------------------------------------------------------------------------
def test_from_binding_defaults() -> None:
    f = RegisterFormat.from_binding(
        {"device_id": "ahu", "register_type": "holding", "address": 10, "data_type": "float32"}
    )
    assert f == RegisterFormat(
        register_type="holding",
        data_type=DataType.FLOAT32,
        byte_order=Order.BIG,
        word_order=Order.BIG,
        scale=1.0,
        offset=0.0,
        writable=True,
    )
    assert f.count == 2
    assert not f.is_bit_table
    assert fmt(DataType.INT16, "input").writable is False
    assert fmt(DataType.BOOL, "discrete_input").writable is False
    assert fmt(DataType.BOOL, "coil").writable is True
    assert fmt(DataType.STRING, length=8).count == 8
    assert [fmt(t).count for t in NUMERIC] == [1, 1, 2, 2, 4, 4, 2, 4]


@pytest.mark.parametrize(
    ("config", "field", "match"),
    [
        ({"data_type": "int16"}, "register_type", "'register_type' must be one of .* got None"),
        ({"register_type": "holdings", "data_type": "int16"}, "register_type", "'holdings'"),
        ({"register_type": "holding"}, "data_type", "'data_type' must be one of .* got None"),
        ({"register_type": "holding", "data_type": "float16"}, "data_type", "got 'float16'"),
        ({"register_type": "holding", "data_type": 16}, "data_type", "got 16"),
        ({"register_type": "coil", "data_type": "int16"}, "data_type", "'bool' for a coil"),
        ({"register_type": "discrete_input", "data_type": "float32"}, "data_type", "float32"),
        (
            {"register_type": "holding", "data_type": "int32", "byte_order": "big"},
            "byte_order",
            "'big-endian', 'little-endian', got 'big'",
        ),
        (
            {"register_type": "holding", "data_type": "int32", "word_order": "CDAB"},
            "word_order",
            "got 'CDAB'",
        ),
        (
            {"register_type": "coil", "data_type": "bool", "word_order": "little-endian"},
            "word_order",
            "no meaning for a coil",
        ),
        ({"register_type": "coil", "data_type": "bool", "bit": 3}, "bit", "bit 3 on a coil"),
        ({"register_type": "holding", "data_type": "bool", "bit": 16}, "bit", "0..15, got 16"),
        ({"register_type": "holding", "data_type": "bool", "bit": -1}, "bit", "0..15, got -1"),
        ({"register_type": "holding", "data_type": "bool", "bit": "3"}, "bit", "got '3'"),
        ({"register_type": "holding", "data_type": "bool", "bit": True}, "bit", "got True"),
        (
            {"register_type": "holding", "data_type": "uint16", "bit": 2},
            "bit",
            "needs data_type 'bool', got bit 2 with data_type 'uint16'",
        ),
        ({"register_type": "holding", "data_type": "string"}, "length", "required for.*string"),
        ({"register_type": "holding", "data_type": "string", "length": 0}, "length", "got 0"),
        ({"register_type": "holding", "data_type": "string", "length": 124}, "length", "124"),
        ({"register_type": "holding", "data_type": "string", "length": 2.0}, "length", "2.0"),
        (
            {"register_type": "holding", "data_type": "bool", "length": 2},
            "length",
            "only for data_type 'string'; 'bool' .* got length 2",
        ),
        (
            {"register_type": "holding", "data_type": "float32", "length": 2},
            "length",
            "got length 2",
        ),
        ({"register_type": "holding", "data_type": "int16", "scale": 0}, "scale", "not be 0"),
        ({"register_type": "holding", "data_type": "int16", "scale": "x"}, "scale", "got 'x'"),
        ({"register_type": "holding", "data_type": "int16", "scale": True}, "scale", "True"),
        ({"register_type": "holding", "data_type": "int16", "scale": 10**400}, "scale", "finite"),
        (
            {"register_type": "holding", "data_type": "int16", "offset": math.inf},
            "offset",
            "finite number, got inf",
        ),
        (
            {"register_type": "holding", "data_type": "bool", "scale": 2},
            "scale",
            "numbers only, got scale 2.0 on data_type 'bool'",
        ),
        (
            {"register_type": "holding", "data_type": "string", "length": 2, "offset": 1},
            "offset",
            "numbers only",
        ),
        (
            {"register_type": "input", "data_type": "int16", "writable": True},
            "writable",
            "cannot be true for a input",
        ),
        (
            {"register_type": "holding", "data_type": "int16", "writable": "yes"},
            "writable",
            "true or false, got 'yes'",
        ),
        (
            {"register_type": "holding", "data_type": "float64", "address": 65533},
            "address",
            "65533 with 4 registers of float64 runs past address 65535",
        ),
    ],
)
def test_bad_bindings_name_the_key_and_value(
    config: dict[str, Any], field: str, match: str
) -> None:
    with pytest.raises(InvalidInput, match=match) as info:
        RegisterFormat.from_binding(config)
    assert info.value.detail["field"] == field
    assert repr(field) in info.value.message or field in info.value.message


def test_the_last_registers_of_the_table_are_usable() -> None:
    f = fmt(DataType.FLOAT64, address=65532)
    assert f.count == 4
    assert fmt(DataType.BOOL, "coil", address=65535).count == 1


def test_direct_construction_is_checked_too() -> None:
    with pytest.raises(InvalidInput) as info:
        RegisterFormat(register_type="coil", data_type=DataType.INT16, writable=True)
    assert info.value.detail["field"] == "data_type"


def test_every_data_type_order_and_key_is_in_the_reference_page() -> None:
    page = (Path(__file__).resolve().parents[3] / "docs" / "reference" / "modbus.md").read_text(
        encoding="utf-8"
    )
    section = page.split("## Binding keys and data types", 1)[1]
    missing = [f"`{t.value}`" for t in DataType if f"| `{t.value}` |" not in section]
    missing += [f"`{o.value}`" for o in Order if f"`{o.value}`" not in section]
    missing += [f"`{k}`" for k in BINDING_KEYS if f"| `{k}` |" not in section]
    missing += [name for name in ("ABCD", "DCBA", "BADC", "CDAB") if f"| {name} |" not in section]
    assert not missing, f"docs/reference/modbus.md does not document {missing}"


def test_a_huge_value_is_cut_short_in_the_message() -> None:
    with pytest.raises(InvalidInput, match=r"value 'xxx.*\.\.\. is 100000 bytes") as info:
        encode(fmt(DataType.STRING, length=2), "x" * 100_000)
    assert len(info.value.message) < 200
    with pytest.raises(InvalidInput, match="too large to show") as info:
        encode(fmt(DataType.INT16), 10**5000)


def test_direct_construction_needs_the_enums() -> None:
    with pytest.raises(InvalidInput, match="must be a DataType, got 'int16'") as info:
        RegisterFormat(register_type="holding", data_type="int16", writable=True)  # type: ignore[arg-type]
    assert info.value.detail["field"] == "data_type"
