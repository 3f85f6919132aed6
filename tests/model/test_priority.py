from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opencrate.errors import InvalidInput
from opencrate.model.priority import Command, PriorityArray, check_priority


def _cmd(priority: int, value: float, *, until_ms: int | None = None, by: str = "x") -> Command:
    return Command(priority=priority, value=value, by=by, at_ms=0, until_ms=until_ms)


def test_an_operator_at_8_beats_a_schedule_at_12_and_the_schedule_returns_on_relinquish() -> None:
    array = PriorityArray(relinquish_default=20.0)
    assert array.value == 20.0
    assert array.write(_cmd(12, 21.0, by="schedule")) == 21.0
    assert array.write(_cmd(8, 23.5, by="olivia")) == 23.5
    assert array.active is not None
    assert array.active.by == "olivia"
    assert array.relinquish(8) == 21.0
    assert array.relinquish(12) == 20.0
    assert array.relinquish(12) == 20.0  # relinquishing an empty slot is no error


def test_timed_commands_expire_and_the_next_one_wins() -> None:
    array = PriorityArray()
    array.write(_cmd(16, 1.0))
    array.write(_cmd(8, 2.0, until_ms=1_000))
    assert array.next_expiry_ms() == 1_000
    assert array.expire(999) == []
    assert [c.priority for c in array.expire(1_000)] == [8]
    assert array.value == 1.0
    assert array.next_expiry_ms() is None


def test_slots_have_the_shape_of_bacnets_priority_array() -> None:
    array = PriorityArray()
    array.write(_cmd(1, 5.0))
    slots = array.slots()
    assert len(slots) == 16
    assert slots[0] is not None
    assert slots[1:] == [None] * 15


@pytest.mark.parametrize("bad", [0, 17, -1, 8.0, True, "8", None])
def test_a_priority_outside_1_to_16_is_refused_by_name(bad: object) -> None:
    with pytest.raises(InvalidInput, match="priority must be an integer from 1"):
        check_priority(bad)
    with pytest.raises(InvalidInput):
        PriorityArray().write(Command(priority=bad, value=1, by="x", at_ms=0))  # type: ignore[arg-type]


@given(st.dictionaries(st.integers(1, 16), st.floats(-1e6, 1e6), max_size=16))
def test_the_lowest_occupied_slot_always_wins(writes: dict[int, float]) -> None:
    array = PriorityArray(relinquish_default=-1.0)
    for priority, value in writes.items():
        array.write(_cmd(priority, value))
    expected = writes[min(writes)] if writes else -1.0
    assert array.value == expected
