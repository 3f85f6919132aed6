"""Point values and point status.

A point's value is a plain Python scalar: ``float`` for analog points, ``bool``
for binary ones, ``int`` for multi-state (enumerated) ones and ``str`` for text.
Keeping values as builtins (rather than wrapping them) keeps the hot path
(PointStore.set -> bus -> persistence) cheap and makes JSON trivial.
"""

from __future__ import annotations

import enum
import math
import struct
from typing import TypeAlias

from attrs import frozen

from opencrate.errors import InvalidInput
from opencrate.validation import is_int

__all__ = [
    "PointStatus",
    "PointValue",
    "ValueKind",
    "ValueRange",
    "coerce_value",
    "shortest_float32",
    "value_kind",
]

PointValue: TypeAlias = float | int | bool | str


class PointStatus(enum.StrEnum):
    """Health of a point's current value (Haystack ``curStatus`` plus ``overridden``)."""

    OK = "ok"
    STALE = "stale"  # no fresh reading within the expected interval
    FAULT = "fault"  # the device reports the value is bad
    DOWN = "down"  # the device cannot be reached
    DISABLED = "disabled"  # polling turned off
    OVERRIDDEN = "overridden"  # an operator override is in force
    UNKNOWN = "unknown"  # never read since start


class ValueKind(enum.StrEnum):
    NUMBER = "number"
    BOOL = "bool"
    ENUM = "enum"
    STR = "str"


def value_kind(value: PointValue) -> ValueKind:
    # bool before int: bool is a subclass of int.
    if isinstance(value, bool):
        return ValueKind.BOOL
    if isinstance(value, int):
        return ValueKind.ENUM
    if isinstance(value, float):
        return ValueKind.NUMBER
    return ValueKind.STR


#: Integer values go into SQLite and PostgreSQL 64-bit integer columns.
def _check_int(value: int, what: str) -> int:
    if not is_int(value):
        raise InvalidInput(f"{what} {value} is out of range for an integer state (64-bit)")
    return value


def coerce_value(raw: object, kind: ValueKind | None = None, *, what: str = "value") -> PointValue:
    """Turn JSON or text input into a point value of ``kind`` (or its natural kind).

    Raises :class:`InvalidInput` naming ``what`` for anything that is not a
    finite number, a boolean, an integer state (64-bit) or a string.
    """
    if kind is None:
        if isinstance(raw, bool | str):
            return raw
        if isinstance(raw, int):
            return _check_int(raw, what)
        if isinstance(raw, float):
            if not math.isfinite(raw):
                raise InvalidInput(f"{what} must be a finite number, got {raw!r}")
            return raw
        raise InvalidInput(f"{what} must be a number, boolean or string, got {type(raw).__name__}")
    try:
        if kind is ValueKind.NUMBER:
            if isinstance(raw, bool) or not isinstance(raw, int | float | str):
                raise ValueError
            number = float(raw)
            if not math.isfinite(number):
                raise ValueError
            return number
        if kind is ValueKind.BOOL:
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, int | float) and raw in (0, 1):
                return bool(raw)
            if isinstance(raw, str) and raw.lower() in ("true", "false", "on", "off", "1", "0"):
                return raw.lower() in ("true", "on", "1")
            raise ValueError
        if kind is ValueKind.ENUM:
            if isinstance(raw, bool):
                raise ValueError
            if isinstance(raw, int):
                return _check_int(raw, what)
            if isinstance(raw, float | str) and float(raw).is_integer():
                return _check_int(int(float(raw)), what)
            raise ValueError
        return str(raw)
    except (ValueError, OverflowError):  # float() of a huge int overflows
        raise InvalidInput(f"{what} {raw!r} is not a valid {kind.value}") from None


@frozen(kw_only=True)
class ValueRange:
    """The values a numeric point may take: Haystack ``minVal`` / ``maxVal``, inclusive.

    Either end may be open (``None``). Only numbers are checked: a bool or a
    string is not "in" or "out of" a numeric range.
    """

    min_val: float | None = None
    max_val: float | None = None

    def check(self, value: PointValue, *, point: str, what: str = "value") -> None:
        """Raise InvalidInput naming ``point``, the value and the range when it is outside."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return
        low, high = self.min_val, self.max_val
        if (low is not None and value < low) or (high is not None and value > high):
            raise InvalidInput(
                f"{what} {value!r} for {point} is outside its range {self}",
                node_id=point,
                value=value,
                min_val=low,
                max_val=high,
            )

    def __str__(self) -> str:
        low = "-inf" if self.min_val is None else repr(self.min_val)
        high = "inf" if self.max_val is None else repr(self.max_val)
        return f"[{low}, {high}] (minVal, maxVal)"


def shortest_float32(value: float) -> float:
    """The shortest decimal that is the same float32: 40.6, not 40.599998474121094.

    A float32 holds 6 to 9 significant digits; the double it widens to shows
    digits the device never had. The result encodes back to the same 32 bits (a
    Modbus register pair, a BACnet Real).
    """
    packed = struct.pack(">f", value)
    for digits in range(6, 10):
        shorter = float(f"{value:.{digits}g}")
        if struct.pack(">f", shorter) == packed:
            return shorter
    return value
