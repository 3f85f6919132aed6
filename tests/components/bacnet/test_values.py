"""BACnet values as plain Python, object references, and point status from flags (no I/O)."""

from __future__ import annotations

import math

import pytest
from bacpypes3.basetypes import EngineeringUnits, StatusFlags
from bacpypes3.primitivedata import (
    Boolean,
    CharacterString,
    Double,
    Null,
    ObjectIdentifier,
    Real,
    Unsigned,
)

from opencrate.components.bacnet.points import from_device, to_device
from opencrate.components.bacnet.values import ObjectRef, point_status, to_python
from opencrate.errors import DeviceError, InvalidInput
from opencrate.model.values import PointStatus


@pytest.mark.parametrize(
    ("raw", "plain"),
    [
        (Null(()), None),
        (Boolean(True), True),
        (Unsigned(7), 7),
        (Real(21.4), 21.4),  # not 21.399999618530273
        (Double(21.4), 21.4),
        (CharacterString("Zone Temp"), "Zone Temp"),
        (EngineeringUnits("degrees-celsius"), "degrees-celsius"),
        (ObjectIdentifier("analog-input,3"), ObjectRef("analog-input", 3)),
        (StatusFlags([0, 1, 0, 0]), [False, True, False, False]),
        ([Real(1.5), Null(())], [1.5, None]),
    ],
    ids=lambda v: type(v).__name__,  # bacpypes3's types break pytest's own ids
)
def test_bacnet_values_become_plain_python(raw: object, plain: object) -> None:
    assert to_python(raw) == plain


def test_object_refs_parse_both_spellings_and_refuse_others() -> None:
    assert ObjectRef.parse("analog-input,1") == ObjectRef("analog-input", 1)
    assert ObjectRef.parse("multi-state-value-12") == ObjectRef("multi-state-value", 12)
    assert ObjectRef("binary-output", 2).point_suffix == "binary-output-2"
    for bad in ("analog-input", "", ",3", "analog-input,x"):
        with pytest.raises(InvalidInput, match="object"):
            ObjectRef.parse(bad)


@pytest.mark.parametrize(
    ("flags", "reliability", "value", "status"),
    [
        ([False] * 4, None, 1.0, PointStatus.OK),
        ([False] * 4, "no-fault-detected", 1.0, PointStatus.OK),
        ([False, True, False, False], None, 1.0, PointStatus.FAULT),
        ([False] * 4, "open-loop", 1.0, PointStatus.FAULT),
        ([False] * 4, None, math.nan, PointStatus.FAULT),
        ([False, False, False, True], None, 1.0, PointStatus.DISABLED),
        ([False, False, True, False], None, 1.0, PointStatus.OVERRIDDEN),
        ([True, False, False, False], None, 1.0, PointStatus.OK),  # in-alarm: the alarm's
        (None, None, 1.0, PointStatus.OK),
    ],
)
def test_point_status_from_flags_and_reliability(
    flags: list[bool] | None, reliability: str | None, value: float, status: PointStatus
) -> None:
    assert point_status(flags, reliability, value=value) is status


def test_values_cross_by_object_family_and_bad_ones_are_named() -> None:
    assert from_device(ObjectRef("binary-input", 1), "active") is True
    assert from_device(ObjectRef("multi-state-value", 1), 3) == 3
    assert to_device(ObjectRef("binary-output", 1), False) == "inactive"
    assert to_device(ObjectRef("analog-output", 1), 40) == 40.0
    with pytest.raises(DeviceError, match="analog-input,1"):
        from_device(ObjectRef("analog-input", 1), math.inf)
    with pytest.raises(DeviceError, match="unexpected"):
        from_device(ObjectRef("binary-value", 1), "maybe")
    with pytest.raises(InvalidInput, match="state number"):
        to_device(ObjectRef("multi-state-output", 1), 0)
    with pytest.raises(InvalidInput, match="cannot take"):
        to_device(ObjectRef("analog-value", 1), math.nan)
