from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opencrate.components.modbus.devices import ModbusDevice
from opencrate.components.modbus.groups import (
    BIT_TABLES,
    PointSpan,
    ReadGroup,
    members_by_point,
    plan_reads,
    schedule,
)
from opencrate.errors import InvalidInput, ProtocolError

TABLES = ["coil", "discrete_input", "holding", "input"]


def spans(groups: list[ReadGroup]) -> list[tuple[str, int, int]]:
    return [(g.register_type, g.address, g.count) for g in groups]


def test_contiguous_registers_become_one_read() -> None:
    points = [("t", "holding", 0, 2), ("p", "holding", 2, 2), ("s", "holding", 4, 1)]
    groups = plan_reads(points, max_registers=125, max_bits=2000, max_gap=0)
    assert spans(groups) == [("holding", 0, 5)]
    assert [(m.point_id, m.offset, m.count) for m in groups[0].members] == [
        ("t", 0, 2),
        ("p", 2, 2),
        ("s", 4, 1),
    ]


def test_a_gap_up_to_max_gap_is_read_through_and_a_wider_one_splits() -> None:
    points = [("a", "input", 10, 1), ("b", "input", 14, 1), ("c", "input", 20, 1)]
    # a ends at 11: b starts 3 later (merged), c starts 5 after b's end (split).
    groups = plan_reads(points, max_registers=125, max_bits=2000, max_gap=3)
    assert spans(groups) == [("input", 10, 5), ("input", 20, 1)]


def test_tables_are_never_merged() -> None:
    points = [("h", "holding", 0, 1), ("i", "input", 1, 1), ("c", "coil", 0, 1)]
    groups = plan_reads(points, max_registers=125, max_bits=2000, max_gap=16)
    assert spans(groups) == [("coil", 0, 1), ("holding", 0, 1), ("input", 1, 1)]


def test_overlapping_points_share_a_read() -> None:
    # Two bits of one status register, and a float32 over it.
    points = [("bit0", "holding", 5, 1), ("bit3", "holding", 5, 1), ("f", "holding", 4, 2)]
    [group] = plan_reads(points, max_registers=125, max_bits=2000, max_gap=0)
    assert (group.address, group.count) == (4, 2)
    words = [0x4148, 0x0009]
    assert group.split(words) == {"f": [0x4148, 0x0009], "bit0": [0x0009], "bit3": [0x0009]}


def test_the_maximum_splits_a_long_run() -> None:
    points = [(f"p{i}", "holding", i * 2, 2) for i in range(100)]  # 200 registers
    groups = plan_reads(points, max_registers=125, max_bits=2000, max_gap=0)
    assert spans(groups) == [("holding", 0, 124), ("holding", 124, 76)]


def test_bit_tables_use_max_bits() -> None:
    points = [(f"c{i}", "coil", i, 1) for i in range(300)]
    groups = plan_reads(points, max_registers=10, max_bits=256, max_gap=0)
    assert spans(groups) == [("coil", 0, 256), ("coil", 256, 44)]


def test_a_point_no_read_may_hold_is_alone_with_an_error() -> None:
    points = [
        ("ok", "holding", 0, 2),
        ("long", "holding", 2, 130),
        ("past-end", "holding", 65535, 2),
        ("last", "holding", 65534, 2),  # 65534 and 65535: fine
        ("ok2", "holding", 100, 1),  # merged with ok across the error point
    ]
    groups = plan_reads(points, max_registers=125, max_bits=2000, max_gap=1000)
    by_point = members_by_point(groups)
    assert by_point["long"].error is not None
    assert "130 registers" in by_point["long"].error
    assert by_point["past-end"].error is not None
    assert "65535" in by_point["past-end"].error
    assert by_point["ok"] is by_point["ok2"]
    assert by_point["ok"].error is None
    assert by_point["last"].error is None
    assert (by_point["last"].address, by_point["last"].count) == (65534, 2)


def test_grouping_off_is_one_read_per_point() -> None:
    points = [(f"p{i}", "holding", i, 1) for i in range(5)]
    groups = plan_reads(points, max_registers=125, max_bits=2000, max_gap=16, grouping=False)
    assert spans(groups) == [("holding", i, 1) for i in range(5)]


def test_split_refuses_a_response_of_another_length() -> None:
    [group] = plan_reads([("a", "holding", 0, 2)], max_registers=125, max_bits=2000, max_gap=0)
    with pytest.raises(ProtocolError, match="answered 1 values"):
        group.split([1])


@pytest.mark.parametrize(
    ("point", "match"),
    [
        (("x", "register", 0, 1), "unknown register_type"),
        (("x", "holding", -1, 1), "address"),
        (("x", "holding", 65536, 1), "address"),
        (("x", "holding", 0, 0), "count"),
    ],
)
def test_a_bad_point_is_invalid_input(point: tuple[str, str, int, int], match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        plan_reads([point], max_registers=125, max_bits=2000, max_gap=0)


def test_a_point_id_given_twice_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="given twice"):
        plan_reads(
            [("x", "holding", 0, 1), ("x", "input", 0, 1)],
            max_registers=125,
            max_bits=2000,
            max_gap=0,
        )


point_lists = st.lists(
    st.tuples(
        st.sampled_from(TABLES),
        st.integers(min_value=0, max_value=400),
        st.integers(min_value=1, max_value=12),
    ),
    max_size=60,
).map(lambda items: [(f"p{i}", t, a, c) for i, (t, a, c) in enumerate(items)])


@settings(max_examples=300)
@given(
    points=point_lists,
    max_registers=st.integers(min_value=1, max_value=40),
    max_bits=st.integers(min_value=1, max_value=40),
    max_gap=st.integers(min_value=0, max_value=20),
    grouping=st.booleans(),
)
def test_plan_properties(
    points: list[tuple[str, str, int, int]],
    max_registers: int,
    max_bits: int,
    max_gap: int,
    grouping: bool,
) -> None:
    groups = plan_reads(
        points, max_registers=max_registers, max_bits=max_bits, max_gap=max_gap, grouping=grouping
    )
    by_id = {p[0]: PointSpan.of(p) for p in points}
    # Every point is covered by exactly one group ...
    covered = Counter(m.point_id for g in groups for m in g.members)
    assert covered == Counter(list(by_id))
    for group in groups:
        limit = max_bits if group.register_type in BIT_TABLES else max_registers
        if group.error is not None:
            assert len(group.members) == 1
            alone = by_id[group.members[0].point_id]
            assert alone.count > limit or alone.address + alone.count > 65536
            continue
        # ... no group exceeds the max ...
        assert 1 <= group.count <= limit
        if not grouping:
            assert len(group.members) == 1
        needed: set[int] = set()
        for m in group.members:
            point = by_id[m.point_id]
            # ... each point's offset finds its own words in the response ...
            assert point.register_type == group.register_type
            assert group.address + m.offset == point.address
            assert m.offset + m.count <= group.count
            needed.update(range(point.address, point.address + point.count))
        # ... the group starts and ends on a needed address ...
        assert min(needed) == group.address
        assert max(needed) == group.end - 1
        # ... and never reads more than max_gap unneeded addresses between ranges.
        run = 0
        for address in range(group.address, group.end):
            run = 0 if address in needed else run + 1
            assert run <= max_gap
    # Response words land on the right point.
    for group in groups:
        if group.error is None:
            words = list(range(group.address, group.end))
            for point_id, part in group.split(words).items():
                point = by_id[point_id]
                assert list(part) == list(range(point.address, point.address + point.count))


@given(points=point_lists, max_gap=st.integers(min_value=0, max_value=20))
def test_grouping_never_needs_more_reads_than_points(
    points: list[tuple[str, str, int, int]], max_gap: int
) -> None:
    merged = plan_reads(points, max_registers=30, max_bits=30, max_gap=max_gap)
    single = plan_reads(points, max_registers=30, max_bits=30, max_gap=max_gap, grouping=False)
    assert len(single) == len(points)
    assert len(merged) <= len(single)


def test_schedule_groups_each_interval_class_apart() -> None:
    device = ModbusDevice(id="d", host="h", poll_interval_s=10.0, max_gap=16)
    points = [
        (("fast-1", "holding", 0, 1), 1.0),
        (("slow-1", "holding", 1, 1), None),
        (("fast-2", "holding", 2, 1), 1.0),
        (("slow-2", "holding", 3, 1), 10.0),  # the device's own interval: same class
    ]
    classes = schedule(points, device)
    assert [c.interval_s for c in classes] == [1.0, 10.0]
    fast, slow = classes
    assert spans(list(fast.groups)) == [("holding", 0, 3)]
    assert [m.point_id for m in fast.groups[0].members] == ["fast-1", "fast-2"]
    assert spans(list(slow.groups)) == [("holding", 1, 3)]
    assert [m.point_id for m in slow.groups[0].members] == ["slow-1", "slow-2"]


def test_schedule_uses_the_devices_limits_and_grouping_off() -> None:
    device = ModbusDevice(id="d", host="h", max_registers=2, max_gap=0)
    points = [((f"p{i}", "input", i, 1), None) for i in range(5)]
    [cls] = schedule(points, device)
    assert spans(list(cls.groups)) == [("input", 0, 2), ("input", 2, 2), ("input", 4, 1)]
    [cls] = schedule(points, device, grouping=False)
    assert len(cls.groups) == 5


def test_schedule_refuses_a_point_twice_and_a_zero_interval() -> None:
    device = ModbusDevice(id="d", host="h")
    with pytest.raises(InvalidInput, match="given twice"):
        schedule([(("a", "coil", 0, 1), 1.0), (("a", "coil", 1, 1), 2.0)], device)
    with pytest.raises(InvalidInput, match="above zero"):
        schedule([(("a", "coil", 0, 1), 0.0)], device)
