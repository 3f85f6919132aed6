"""Loading scenarios into a real NodeStore: created once, updated on change, never duplicated."""

from __future__ import annotations

from pathlib import Path

import pytest

from opencrate.clock import TrioClock
from opencrate.components.nodes.store import NodeStore
from opencrate.components.scenario.loader import load_scenario_into
from opencrate.errors import ConfigError
from opencrate.model.node import Node, NodeType
from opencrate.runtime.bus import EventBus
from opencrate.runtime.events import EntityCreated, EntityUpdated

from .test_simulate import drain

TEXT = """\
[[site]]
id = "hq"
dis = "HQ"

[[space]]
id = "f1"
dis = "Floor 1"
parent = "hq"

[[space]]
id = "f2"
dis = "Floor 2"
parent = "hq"

[[equip]]
id = "1001"
dis = "AHU-1"
parent = "f1"

[[equip.point]]
id = "ai-1"
dis = "Supply Air Temp"
unit = "°C"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "building.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def test_first_load_creates_every_node_with_events(
    tmp_path: Path, bus: EventBus, clock: TrioClock
) -> None:
    path = write(tmp_path, TEXT)
    with bus.subscribe(EntityCreated, name="test") as sub:
        async with NodeStore(tmp_path / "nodes.db", bus=bus, clock=clock).running() as nodes:
            report = await load_scenario_into(path, nodes)
            assert report.created == ("hq", "f1", "f2", "1001", "1001/ai-1")
            assert (report.updated, report.moved, report.unchanged) == ((), (), 0)
            assert str(report) == "5 nodes: 5 created, 0 updated, 0 moved, 0 unchanged"
            point = nodes.get("1001/ai-1")
            assert point.node_type is NodeType.POINT
            assert dict(point.refs) == {"siteRef": "hq", "spaceRef": "f1", "equipRef": "1001"}
            assert {"point", "temp"} <= point.tags
        assert len(drain(sub)) == 5


async def test_a_second_load_on_the_same_data_changes_nothing(
    tmp_path: Path, bus: EventBus, clock: TrioClock
) -> None:
    path = write(tmp_path, TEXT)
    async with NodeStore(tmp_path / "nodes.db", bus=bus, clock=clock).running() as nodes:
        await load_scenario_into(path, nodes)
    # A restart: a new store on the same file.
    with bus.subscribe(name="test") as sub:
        async with NodeStore(tmp_path / "nodes.db", bus=bus, clock=clock).running() as nodes:
            report = await load_scenario_into(path, nodes)
            assert len(nodes) == 5
        assert (report.created, report.updated, report.moved) == ((), (), ())
        assert report.unchanged == 5
        assert drain(sub) == []


async def test_an_edited_scenario_updates_and_moves_only_what_changed(
    tmp_path: Path, bus: EventBus, clock: TrioClock
) -> None:
    async with NodeStore(tmp_path / "nodes.db", bus=bus, clock=clock).running() as nodes:
        await load_scenario_into(write(tmp_path, TEXT), nodes)
        by_hand = await nodes.create(
            Node(id="extra", node_type="space", dis="Extra", parent_id="hq")
        )
        edited = TEXT.replace('dis = "AHU-1"\nparent = "f1"', 'dis = "AHU-1 (new)"\nparent = "f2"')
        edited += '\n[[equip.point]]\nid = "ai-2"\ndis = "Return Air Temp"\nunit = "°C"\n'
        with bus.subscribe(EntityUpdated, name="test") as sub:
            report = await load_scenario_into(write(tmp_path, edited), nodes)
            changes: dict[str, set[str]] = {}
            for event in drain(sub):
                if isinstance(event, EntityUpdated):
                    changes.setdefault(event.entity_id, set()).update(event.changed_fields)
        assert report.created == ("1001/ai-2",)
        # The AHU was renamed and moved; its point's spaceRef follows the move.
        assert set(report.updated) == {"1001", "1001/ai-1"}
        assert report.moved == ("1001",)
        assert report.unchanged == 3
        assert changes == {"1001": {"dis", "refs", "parent_id"}, "1001/ai-1": {"refs"}}
        assert nodes.get("1001").parent_id == "f2"
        assert nodes.get("1001/ai-1").refs["spaceRef"] == "f2"
        # Nodes the scenario does not mention are left alone.
        assert nodes.get("extra") == by_hand


async def test_a_bad_file_writes_nothing_and_keeps_what_is_stored(
    tmp_path: Path, bus: EventBus, clock: TrioClock
) -> None:
    async with NodeStore(tmp_path / "nodes.db", bus=bus, clock=clock).running() as nodes:
        await load_scenario_into(write(tmp_path, TEXT), nodes)
        before = nodes.all()
        broken = TEXT.replace('unit = "°C"', 'unit = "°C"\nsignal = { shape = "sine" }')
        broken += '\n[[space]]\nid = "f3"\ndis = "Floor 3"\nparent = "hq"\n'
        with pytest.raises(ConfigError, match="'mean' is required") as info:
            await load_scenario_into(write(tmp_path, broken), nodes)
        assert info.value.key == "equip[0].point[0].signal.mean"
        assert nodes.all() == before
    async with NodeStore(tmp_path / "nodes.db", bus=bus, clock=clock).running() as nodes:
        assert nodes.all() == before


async def test_a_bad_alarm_rule_in_a_reloaded_scenario_keeps_the_stored_rule(
    tmp_path: Path, bus: EventBus, clock: TrioClock
) -> None:
    good = TEXT + "properties = { alarm = { high = 26 } }\n"
    async with NodeStore(tmp_path / "nodes.db", bus=bus, clock=clock).running() as nodes:
        await load_scenario_into(write(tmp_path, good), nodes)
        before = nodes.all()
        bad = good.replace("high = 26", 'high = 26, severity = "loud"')
        with pytest.raises(ConfigError) as info:
            await load_scenario_into(write(tmp_path, bad), nodes)
        assert info.value.file == str(tmp_path / "building.toml")
        assert info.value.line == len(bad.splitlines())
        assert info.value.key == "equip[0].point[0].properties.alarm.severity"
        assert nodes.all() == before
        assert nodes.get("1001/ai-1").properties["alarm"] == {"high": 26}
