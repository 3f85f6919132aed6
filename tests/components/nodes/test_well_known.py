"""Well-known node properties (a point's ``alarm`` rule) are checked on every NodeStore write."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio

from opencrate.components.nodes.store import NodeStore
from opencrate.components.nodes.well_known import check_properties, value_range
from opencrate.errors import InvalidInput
from opencrate.model.node import Node
from opencrate.model.values import ValueRange
from opencrate.runtime.bus import EventBus
from opencrate.runtime.events import EntityCreated, EntityUpdated

POINT = "2001/zat"
GOOD = {"high": 26, "low": 16, "deadband": 0.5, "delay_s": 60, "severity": "minor"}

#: (bad alarm rule, the field the error must name)
BAD_RULES = [
    ({"high": "hot"}, "properties.alarm.high"),
    ({"high": 20, "low": 30}, "properties.alarm.low"),
    ({"high": 20, "hihg": 30}, "properties.alarm.hihg"),
    ({"high": 20, "delay_s": -5}, "properties.alarm.delay_s"),
    ({"high": 20, "deadband": True}, "properties.alarm.deadband"),
    ({"high": 20, "severity": "loud"}, "properties.alarm.severity"),
    ({"high": 20, "message": 7}, "properties.alarm.message"),
    # Longer than the AlarmStore takes: every raise of it failed and ended the engine.
    ({"high": 20, "message": "x" * 2001}, "properties.alarm.message"),
    ({"deadband": 1}, "properties.alarm"),
    ("high=20", "properties.alarm"),
]


def zone(properties: dict[str, Any]) -> Node:
    return Node.from_dict(
        {"id": POINT, "node_type": "point", "dis": "Zone Air Temp", "kind": "number",
         "properties": properties}
    )  # fmt: skip


@pytest.fixture
async def store(tmp_path: Path, bus: EventBus) -> AsyncIterator[NodeStore]:
    async with NodeStore(tmp_path / "nodes.db", bus=bus).running() as nodes:
        yield nodes


@pytest.mark.parametrize(("rule", "field"), BAD_RULES)
def test_check_names_the_bad_key(rule: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_properties({"alarm": rule, "anything": {"else": "is free"}})
    assert caught.value.detail["field"] == field
    assert caught.value.message.startswith(f"{field}: ")
    assert caught.value.code == "invalid_input"


def test_good_rules_and_free_keys_pass() -> None:
    check_properties({"alarm": GOOD, "cov_increment": 0.5, "high": "free here"})
    check_properties({"alarm": {"low": -5}})
    check_properties({})


@pytest.mark.parametrize(("rule", "field"), BAD_RULES)
async def test_create_refuses_a_bad_rule_and_stores_nothing(
    store: NodeStore, bus: EventBus, rule: Any, field: str
) -> None:
    with bus.subscribe(EntityCreated) as sub:
        with pytest.raises(InvalidInput) as caught:
            await store.create(zone({"alarm": rule}))
        with pytest.raises(trio.WouldBlock):  # no event: nothing was written
            sub.receive_nowait()
    assert caught.value.detail == {"field": field, "node_id": POINT}
    assert POINT in caught.value.message
    assert field in caught.value.message
    assert store.get_or_none(POINT) is None


async def test_create_many_with_one_bad_rule_stores_none(store: NodeStore) -> None:
    other = Node(id="2001/sp", node_type="point", dis="Setpoint", properties={"alarm": GOOD})
    with pytest.raises(InvalidInput, match=r"properties\.alarm\.low"):
        await store.create_many([other, zone({"alarm": {"high": 20, "low": 30}})])
    assert len(store) == 0


async def test_update_refuses_a_bad_rule_and_keeps_the_stored_one(
    tmp_path: Path, store: NodeStore, bus: EventBus
) -> None:
    await store.create(zone({"alarm": GOOD, "note": "kept"}))
    with bus.subscribe(EntityUpdated) as sub:
        for rule, field in BAD_RULES:
            with pytest.raises(InvalidInput) as caught:
                await store.update(POINT, properties={"alarm": rule, "note": "changed"})
            assert caught.value.detail["field"] == field
        with pytest.raises(trio.WouldBlock):  # no event: nothing was written
            sub.receive_nowait()
    assert dict(store.get(POINT).properties) == {"alarm": GOOD, "note": "kept"}
    # ... and on disk, after a reopen.
    await store.aclose()
    async with NodeStore(tmp_path / "nodes.db", bus=bus).running() as reopened:
        assert dict(reopened.get(POINT).properties) == {"alarm": GOOD, "note": "kept"}


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ({"minVal": "cold"}, "properties.minVal: must be a finite number, got 'cold'"),
        ({"maxVal": True}, "properties.maxVal: must be a finite number, got True"),
        ({"minVal": 30, "maxVal": 10}, "properties.minVal: 30 is above properties.maxVal (10)"),
    ],
)
def test_a_bad_point_range_is_refused_naming_the_key(
    properties: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_properties(properties)
    assert refused.value.message == message


def test_the_range_of_a_point_comes_from_min_val_and_max_val() -> None:
    assert value_range({}) is None
    assert value_range({"minVal": 12, "maxVal": 28.5}) == ValueRange(min_val=12.0, max_val=28.5)
    assert value_range({"maxVal": 100}) == ValueRange(max_val=100.0)
    # Stored before the check existed: an end that is not a number is left open.
    assert value_range({"minVal": "cold", "maxVal": 5}) == ValueRange(max_val=5.0)
