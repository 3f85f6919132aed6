"""The persistence filters at their exact bounds: every comparison on both sides of its edge.

A filter that is off by one at an edge stores a sample it should drop (or the reverse)
without any other test noticing; these cases pin each edge (benchmarks/mutation.sh checks
that they bite).
"""

from __future__ import annotations

import pytest

from opencrate.components.history.config.model import (
    EqualsFilter,
    Filter,
    RangeFilter,
    ThresholdFilter,
    TimeFilter,
)
from opencrate.components.history.filters import FilterState, filter_passes, value_equals_text
from opencrate.model.values import PointValue

INSIDE = RangeFilter(name="inside", lower=18, upper=26)
OUTSIDE = RangeFilter(name="outside", lower=0, upper=40, inside=False)
TEN_PERCENT = ThresholdFilter(name="ten_percent", value=10, relative=True)
HALF = ThresholdFilter(name="half", value=0.5)
MINUTE = TimeFilter(name="minute", interval_ms=60_000)


@pytest.mark.parametrize(
    ("spec", "value", "last", "passes"),
    [
        # [] lo hi: both edges belong to the range.
        (INSIDE, 17.999, None, False),
        (INSIDE, 18.0, None, True),
        (INSIDE, 26.0, None, True),
        (INSIDE, 26.001, None, False),
        (INSIDE, 18, None, True),  # an int is a number too
        # ][ lo hi: both edges belong to the outside.
        (OUTSIDE, -0.001, None, True),
        (OUTSIDE, 0.0, None, True),
        (OUTSIDE, 0.001, None, False),
        (OUTSIDE, 39.999, None, False),
        (OUTSIDE, 40.0, None, True),
        (OUTSIDE, True, None, True),  # not a number: passes
        # > % 10: exactly 10 % of the last stored value is not more than 10 %.
        (TEN_PERCENT, 110.0, (0, 100.0), False),
        (TEN_PERCENT, 90.0, (0, 100.0), False),
        (TEN_PERCENT, 110.5, (0, 100.0), True),
        (TEN_PERCENT, 89.5, (0, 100.0), True),
        (TEN_PERCENT, -110.0, (0, -100.0), False),  # a percentage of |last|
        (TEN_PERCENT, -111.0, (0, -100.0), True),
        # > % from 0: any change passes, no change does not.
        (TEN_PERCENT, 0.0, (0, 0.0), False),
        (TEN_PERCENT, 0.001, (0, 0.0), True),
        # > 0.5 absolute: exactly 0.5 away is not more than 0.5, either way.
        (HALF, 20.5, (0, 20.0), False),
        (HALF, 19.5, (0, 20.0), False),
        (HALF, 19.49, (0, 20.0), True),
        (HALF, "on", (0, "off"), True),  # not a number
        # T 1m: a sample exactly one interval after the last stored one passes.
        (MINUTE, 1.0, (1_000 - 60_000, 0.0), True),
        (MINUTE, 1.0, (1_000 - 59_999, 0.0), False),
        (MINUTE, 1.0, None, True),
    ],
)
def test_a_filter_at_its_edges(
    spec: Filter, value: PointValue, last: tuple[int, PointValue] | None, passes: bool
) -> None:
    assert filter_passes(spec, value, 1_000, last) is passes


@pytest.mark.parametrize(
    ("value", "text", "equal"),
    [
        (1.0, "1", True),
        (1, "1.0", True),
        (1.0, "idle", False),  # text that is no number never equals a number
        (0.0, "OFF", False),  # numbers are compared as numbers, not as switch states
        (True, " On ", True),
        (True, "open", True),
        (False, "closed", True),
        (False, "ON", False),
        (True, "yes", False),
        ("run", "run", True),
        ("run", "RUN", False),  # text is compared exactly
    ],
)
def test_value_equals_text(value: PointValue, text: str, equal: bool) -> None:
    assert value_equals_text(value, text) is equal


def test_an_equals_filter_matches_any_of_its_values() -> None:
    spec = EqualsFilter(name="e", values=("idle", "3"))
    assert filter_passes(spec, 3.0, 0, None)
    assert filter_passes(spec, "idle", 0, None)
    assert not filter_passes(spec, 4.0, 0, None)
    negated = EqualsFilter(name="e", values=("idle", "3"), negate=True)
    assert not filter_passes(negated, 3.0, 0, None)
    assert filter_passes(negated, 4.0, 0, None)


def test_filter_state_applies_the_time_of_each_sample() -> None:
    state = FilterState()
    minute = [MINUTE]
    assert state.passes(minute, "p", 1.0, 0)
    state.record(minute, "p", 1.0, 0)
    assert not state.passes(minute, "p", 2.0, 59_999)
    assert state.passes(minute, "p", 2.0, 60_000)
    assert len(state) == 1


def test_filter_state_ands_its_filters_and_keeps_one_memory_per_filter() -> None:
    state = FilterState()
    both: list[Filter] = [HALF, MINUTE]
    assert state.passes([], "p", 1.0, 0)  # no filters: everything passes
    state.record(both, "p", 20.0, 0)
    assert len(state) == 2
    assert not state.passes(both, "p", 25.0, 1_000)  # far enough, too soon
    assert not state.passes(both, "p", 20.1, 60_000)  # late enough, too near
    assert state.passes(both, "p", 25.0, 60_000)
    state.clear()
    assert len(state) == 0
    assert state.passes(both, "p", 20.1, 1)  # the memory is gone: a first sample again
