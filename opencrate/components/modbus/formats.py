"""How a point's value sits in a Modbus device's tables: :class:`RegisterFormat` (no I/O).

A format is built from a Modbus binding's config with
:meth:`RegisterFormat.from_binding`, which checks every key the codec reads
and raises :class:`~opencrate.errors.InvalidInput` with ``detail["field"]``
naming the key (the message names the key and the bad value). The codec that
uses it (values to registers and back) is :mod:`.datatypes`.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import frozen

from opencrate.errors import InvalidInput
from opencrate.model.binding import MODBUS_REGISTER_TYPES
from opencrate.validation import shown

__all__ = [
    "BINDING_KEYS",
    "BIT_TABLES",
    "MAX_STRING_REGISTERS",
    "WRITABLE_TABLES",
    "DataType",
    "Order",
    "RegisterFormat",
]

BIT_TABLES = frozenset({"coil", "discrete_input"})
#: Tables a Modbus client may write.
WRITABLE_TABLES = frozenset({"coil", "holding"})
#: A string must fit one write request: FC 16 carries at most 123 registers.
MAX_STRING_REGISTERS = 123


class DataType(enum.StrEnum):
    BOOL = "bool"
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    INT64 = "int64"
    UINT64 = "uint64"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    STRING = "string"


class Order(enum.StrEnum):
    """Bytes within a register (``byte_order``) or registers within a value (``word_order``)."""

    BIG = "big-endian"
    LITTLE = "little-endian"


#: struct code and register count of the fixed-size numeric types.
_STRUCT: dict[DataType, tuple[str, int]] = {
    DataType.INT16: ("h", 1),
    DataType.UINT16: ("H", 1),
    DataType.INT32: ("i", 2),
    DataType.UINT32: ("I", 2),
    DataType.INT64: ("q", 4),
    DataType.UINT64: ("Q", 4),
    DataType.FLOAT32: ("f", 2),
    DataType.FLOAT64: ("d", 4),
}
_FLOATS = frozenset({DataType.FLOAT32, DataType.FLOAT64})
#: Inclusive range of each integer type.
_INT_RANGE: dict[DataType, tuple[int, int]] = {
    DataType.INT16: (-(2**15), 2**15 - 1),
    DataType.UINT16: (0, 2**16 - 1),
    DataType.INT32: (-(2**31), 2**31 - 1),
    DataType.UINT32: (0, 2**32 - 1),
    DataType.INT64: (-(2**63), 2**63 - 1),
    DataType.UINT64: (0, 2**64 - 1),
}

#: The binding keys (seed 000 and the bridge's own) that the codec and the
#: bridge read; the reference page documents each.
BINDING_KEYS = (
    "device_id",
    "register_type",
    "address",
    "data_type",
    "byte_order",
    "word_order",
    "bit",
    "length",
    "scale",
    "offset",
    "writable",
)


_E = TypeVar("_E", bound=enum.StrEnum)


def _choices(enum_type: type[enum.StrEnum]) -> str:
    return ", ".join(repr(member.value) for member in enum_type)


def _show(value: object) -> str:
    """``repr(value)`` cut short for a message (a huge int's repr can even fail)."""
    try:
        return shown(repr(value))
    except ValueError:  # int larger than sys.get_int_max_str_digits()
        return f"<{type(value).__name__} too large to show>"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_finite_number(value: object) -> bool:
    # math.isfinite(10**400) raises OverflowError: such an int is no float either.
    if not _is_number(value):
        return False
    try:
        return math.isfinite(value)  # type: ignore[arg-type]
    except OverflowError:
        return False


@frozen(kw_only=True)
class RegisterFormat:
    """How one point's value is laid out in a device's registers or bits.

    Built directly or with :meth:`from_binding`; either way the combination is
    checked when built (InvalidInput with ``detail["field"]`` naming the key).
    """

    register_type: str
    data_type: DataType
    byte_order: Order = Order.BIG
    word_order: Order = Order.BIG
    bit: int | None = None
    length: int | None = None
    scale: float = 1.0
    offset: float = 0.0
    writable: bool

    def __attrs_post_init__(self) -> None:
        _check_format(self)

    @classmethod
    def from_binding(cls, config: Mapping[str, Any]) -> RegisterFormat:
        """The format a Modbus binding's ``config`` describes.

        ``writable`` defaults to true for coils and holding registers and false
        for the read-only tables. Raises InvalidInput with ``detail["field"]``
        naming the bad key and a message that names the key and its value: a
        missing or unknown ``register_type`` or ``data_type``, an order that is
        not ``big-endian`` / ``little-endian``, a ``bit`` outside 0..15 or on a
        coil, a string without ``length``, a ``length`` on anything but a
        string, a ``scale`` / ``offset`` on a bool or string, a zero scale, a
        ``writable`` read-only table, a value running past address 65535.
        """
        register_type = _table(config)
        data_type = _enum(config, "data_type", DataType, None)
        byte_order = _enum(config, "byte_order", Order, Order.BIG)
        word_order = _enum(config, "word_order", Order, Order.BIG)
        bit = _optional_int(config, "bit")
        length = _optional_int(config, "length")
        scale = _number(config, "scale", 1.0)
        offset = _number(config, "offset", 0.0)
        writable = config.get("writable")
        if writable is None:
            writable = register_type in WRITABLE_TABLES
        elif not isinstance(writable, bool):
            raise InvalidInput(
                f"modbus binding 'writable' must be true or false, got {_show(writable)}",
                field="writable",
            )
        fmt = cls(
            register_type=register_type,
            data_type=data_type,
            byte_order=byte_order,
            word_order=word_order,
            bit=bit,
            length=length,
            scale=scale,
            offset=offset,
            writable=writable,
        )
        address = config.get("address")
        # The binding model checks the address itself; here only that the
        # whole value fits below the end of the table.
        if isinstance(address, int) and not isinstance(address, bool):
            last = address + fmt.count - 1
            if last > 65535:
                raise InvalidInput(
                    f"modbus binding 'address' {address} with {fmt.count} registers of "
                    f"{data_type.value} runs past address 65535 (to {last})",
                    field="address",
                )
        return fmt

    @property
    def count(self) -> int:
        """Registers (or bits, in a coil / discrete input table) the value spans."""
        if self.data_type is DataType.STRING:
            assert self.length is not None  # checked when built
            return self.length
        if self.data_type is DataType.BOOL:
            return 1
        return _STRUCT[self.data_type][1]

    @property
    def is_bit_table(self) -> bool:
        """Whether the value lives in a table of bits (coil / discrete input)."""
        return self.register_type in BIT_TABLES

    @property
    def is_scaled(self) -> bool:
        """Whether a scale or offset applies (integers then decode to ``float``)."""
        return self.scale != 1.0 or self.offset != 0.0


# -- building a format -----------------------------------------------------------------
def _table(config: Mapping[str, Any]) -> str:
    value = config.get("register_type")
    if value not in MODBUS_REGISTER_TYPES:
        raise InvalidInput(
            f"modbus binding 'register_type' must be one of {sorted(MODBUS_REGISTER_TYPES)}, "
            f"got {_show(value)}",
            field="register_type",
        )
    assert isinstance(value, str)
    return value


def _enum(config: Mapping[str, Any], key: str, enum_type: type[_E], default: _E | None) -> _E:
    value = config.get(key)
    if value is None and default is not None:
        return default
    try:
        if not isinstance(value, str):
            raise ValueError
        return enum_type(value)
    except ValueError:
        raise InvalidInput(
            f"modbus binding {key!r} must be one of {_choices(enum_type)}, got {_show(value)}",
            field=key,
        ) from None


def _optional_int(config: Mapping[str, Any], key: str) -> int | None:
    value = config.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(
            f"modbus binding {key!r} must be an integer, got {_show(value)}", field=key
        )
    return value


def _number(config: Mapping[str, Any], key: str, default: float) -> float:
    value = config.get(key)
    if value is None:
        return default
    if not _is_finite_number(value):
        raise InvalidInput(
            f"modbus binding {key!r} must be a finite number, got {_show(value)}", field=key
        )
    return float(value)


def _check_format(fmt: RegisterFormat) -> None:
    """The rules between keys (each raise names the key at fault)."""
    data_type, table = fmt.data_type, fmt.register_type
    # Built directly, a plain "int16" would compare equal to DataType.INT16 but
    # fail the identity checks below: the enums are required.
    for key, enum_type in (
        ("data_type", DataType),
        ("byte_order", Order),
        ("word_order", Order),
    ):
        if not isinstance(getattr(fmt, key), enum_type):
            raise InvalidInput(
                f"RegisterFormat {key!r} must be a {enum_type.__name__}, "
                f"got {_show(getattr(fmt, key))}",
                field=key,
            )
    if table not in MODBUS_REGISTER_TYPES:
        raise InvalidInput(
            f"modbus binding 'register_type' must be one of {sorted(MODBUS_REGISTER_TYPES)}, "
            f"got {table!r}",
            field="register_type",
        )
    if fmt.is_bit_table:
        if data_type is not DataType.BOOL:
            raise InvalidInput(
                f"modbus binding 'data_type' must be 'bool' for a {table} (one bit), "
                f"got {data_type.value!r}",
                field="data_type",
            )
        if fmt.bit is not None:
            raise InvalidInput(
                f"modbus binding 'bit' is only for holding/input registers, got bit "
                f"{fmt.bit} on a {table}",
                field="bit",
            )
        for key, order in (("byte_order", fmt.byte_order), ("word_order", fmt.word_order)):
            if order is not Order.BIG:
                raise InvalidInput(
                    f"modbus binding {key!r} has no meaning for a {table} (one bit), "
                    f"got {order.value!r}",
                    field=key,
                )
    if fmt.bit is not None:
        if data_type is not DataType.BOOL:
            raise InvalidInput(
                f"modbus binding 'bit' needs data_type 'bool', got bit {fmt.bit} with "
                f"data_type {data_type.value!r}",
                field="bit",
            )
        if not 0 <= fmt.bit <= 15:
            raise InvalidInput(f"modbus binding 'bit' must be in 0..15, got {fmt.bit}", field="bit")
    if data_type is DataType.STRING:
        if fmt.length is None:
            raise InvalidInput(
                "modbus binding 'length' (registers, 2 characters each) is required for "
                "data_type 'string', got none",
                field="length",
            )
        if not 1 <= fmt.length <= MAX_STRING_REGISTERS:
            raise InvalidInput(
                f"modbus binding 'length' must be in 1..{MAX_STRING_REGISTERS}, got {fmt.length}",
                field="length",
            )
    elif fmt.length is not None:
        raise InvalidInput(
            f"modbus binding 'length' is only for data_type 'string'; {data_type.value!r} "
            f"spans a fixed number of registers, got length {fmt.length}",
            field="length",
        )
    for key, number in (("scale", fmt.scale), ("offset", fmt.offset)):
        if not _is_finite_number(number):
            raise InvalidInput(
                f"modbus binding {key!r} must be a finite number, got {number!r}", field=key
            )
    if fmt.scale == 0:
        raise InvalidInput(
            "modbus binding 'scale' must not be 0 (a write could not be inverted), got 0",
            field="scale",
        )
    if data_type in (DataType.BOOL, DataType.STRING):
        if fmt.scale != 1.0:
            raise InvalidInput(
                f"modbus binding 'scale' is for numbers only, got scale {fmt.scale} on "
                f"data_type {data_type.value!r}",
                field="scale",
            )
        if fmt.offset != 0.0:
            raise InvalidInput(
                f"modbus binding 'offset' is for numbers only, got offset {fmt.offset} on "
                f"data_type {data_type.value!r}",
                field="offset",
            )
    if fmt.writable and table not in WRITABLE_TABLES:
        raise InvalidInput(
            f"modbus binding 'writable' cannot be true for a {table} (read-only table)",
            field="writable",
        )
