from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opencrate.components.modbus.devices import ModbusDevice
from opencrate.components.modbus.stagger import device_offsets, start_offsets


def test_offsets_are_evenly_apart_within_the_interval() -> None:
    assert start_offsets(4, 10.0) == [0.0, 2.5, 5.0, 7.5]
    assert start_offsets(1, 10.0) == [0.0]
    assert start_offsets(0, 10.0) == []


@given(count=st.integers(min_value=1, max_value=2000), interval=st.floats(0.001, 86400))
def test_offsets_spread_evenly_and_stay_below_the_interval(count: int, interval: float) -> None:
    offsets = start_offsets(count, interval)
    assert len(offsets) == count
    assert offsets == sorted(offsets)
    assert all(0 <= o < interval for o in offsets)
    step = interval / count
    for a, b in itertools.pairwise(offsets):
        assert math.isclose(b - a, step, rel_tol=1e-9, abs_tol=1e-12)


@pytest.mark.parametrize(("count", "interval"), [(-1, 1.0), (3, 0.0), (3, math.inf), (3, -2)])
def test_bad_arguments_are_refused(count: int, interval: float) -> None:
    with pytest.raises(ValueError, match="cannot stagger"):
        start_offsets(count, interval)


def test_device_offsets_use_each_devices_interval_and_skip_disabled_ones() -> None:
    devices = [
        ModbusDevice(id="a", host="h", poll_interval_s=10.0),
        ModbusDevice(id="off", host="h", enabled=False),
        ModbusDevice(id="b", host="h", poll_interval_s=10.0),
        ModbusDevice(id="c", host="h", poll_interval_s=60.0),
        ModbusDevice(id="d", host="h", poll_interval_s=10.0),
    ]
    offsets = device_offsets(devices)
    assert offsets == {"a": 0.0, "b": 2.5, "c": 30.0, "d": 7.5}
    assert device_offsets(devices) == offsets  # the same every time
