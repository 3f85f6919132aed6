"""The demo scenario: shipped in the package, identical to examples/, a sensible building."""

from __future__ import annotations

import importlib.resources
from collections import Counter
from pathlib import Path

from opencrate.model.node import NodeType
from opencrate.scenario.build import build_nodes
from opencrate.scenario.parse import load_scenario, parse_scenario

ROOT = Path(__file__).parents[2]
USER_COPY = ROOT / "examples" / "office.toml"


def test_the_packaged_copy_is_identical_to_examples_office_toml() -> None:
    packaged = importlib.resources.files("opencrate.scenario").joinpath("examples/office.toml")
    assert packaged.read_bytes() == USER_COPY.read_bytes(), (
        "opencrate/scenario/examples/office.toml must be a copy of examples/office.toml"
    )


def test_the_office_has_the_equipment_and_points_it_promises() -> None:
    scenario = load_scenario(USER_COPY)
    nodes = build_nodes(scenario)
    types = Counter(node.node_type for node in nodes)
    assert types[NodeType.SITE] == 1
    assert 40 <= types[NodeType.POINT] + types[NodeType.VIRTUAL_POINT] <= 80
    floors = [n for n in nodes if n.node_type is NodeType.SPACE and "floor" in n.tags]
    assert len(floors) == 2
    equips = [n for n in nodes if n.node_type is NodeType.EQUIP]
    assert sum("ahu" in n.tags for n in equips) == 1
    assert sum("vav" in n.tags for n in equips) == 4
    assert sum("boiler" in n.tags for n in equips) == 1
    assert sum({"elec", "meter"} <= n.tags for n in equips) == 1
    protocols = Counter(n.protocol_binding.protocol for n in nodes if n.protocol_binding)
    assert set(protocols) == {"bacnet", "modbus", "virtual"}
    for node in nodes:
        if node.is_point:
            assert {"siteRef", "equipRef"} <= set(node.refs), node.id
            assert node.kind is not None, node.id
    # Every point is simulated in the demo.
    assert len(scenario.signals()) == len(scenario.points())


def test_the_office_is_deterministic_and_loads_identically_twice() -> None:
    text = USER_COPY.read_text(encoding="utf-8")
    first = build_nodes(parse_scenario(text))
    second = build_nodes(parse_scenario(text))
    assert [n.to_dict() for n in first] == [n.to_dict() for n in second]
