from __future__ import annotations

import pytest

from opencrate.errors import InvalidInput
from opencrate.model.values import ValueKind, coerce_value


@pytest.mark.parametrize(
    ("raw", "kind", "expected"),
    [
        ("21.5", ValueKind.NUMBER, 21.5),
        (3, ValueKind.NUMBER, 3.0),
        ("on", ValueKind.BOOL, True),
        ("2", ValueKind.ENUM, 2),
        (2**63 - 1, ValueKind.ENUM, 2**63 - 1),
        (-(2**63), None, -(2**63)),
        ("x", None, "x"),
    ],
)
def test_input_becomes_a_value_of_the_kind(
    raw: object, kind: ValueKind | None, expected: object
) -> None:
    value = coerce_value(raw, kind)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        # float() of a huge int raises OverflowError, not ValueError: it leaked as is.
        (10**400, ValueKind.NUMBER),
        # Integer states are stored as SQLite/PostgreSQL 64-bit integers.
        (2**63, None),
        (-(2**63) - 1, ValueKind.ENUM),
        (1e300, ValueKind.ENUM),
        ("1e30", ValueKind.ENUM),
    ],
    ids=["huge-int-number", "int-above-64-bit", "enum-below-64-bit", "enum-float", "enum-text"],
)
def test_out_of_range_numbers_are_invalid_input_naming_the_value(
    raw: object, kind: ValueKind | None
) -> None:
    with pytest.raises(InvalidInput, match=r"^setpoint "):
        coerce_value(raw, kind, what="setpoint")
