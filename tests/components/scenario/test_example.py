"""The demo scenario: shipped in the package, identical to examples/, a sensible building."""

from __future__ import annotations

import importlib.resources
from collections import Counter

import pytest

from opencrate.components.history.config.model import SelectorKind
from opencrate.components.history.config.toml import load_config_file
from opencrate.components.scenario.build import build_nodes
from opencrate.components.scenario.parse import load_scenario, parse_scenario
from opencrate.model.node import NodeType
from tests.harness import REPO_ROOT

ROOT = REPO_ROOT
USER_COPY = ROOT / "examples" / "office.toml"


@pytest.mark.parametrize("name", ["office.toml", "persistence.toml"])
def test_the_packaged_demo_files_are_identical_to_examples(name: str) -> None:
    packaged = importlib.resources.files("opencrate.components.scenario").joinpath(
        f"examples/{name}"
    )
    assert packaged.read_bytes() == (ROOT / "examples" / name).read_bytes(), (
        f"opencrate/components/scenario/examples/{name} must be a copy of examples/{name}"
    )


def test_the_demo_persistence_configuration_selects_points_of_the_office() -> None:
    config = load_config_file(ROOT / "examples" / "persistence.toml")
    point_ids = {n.id for n in build_nodes(load_scenario(USER_COPY)) if n.is_point}
    nodes = {n.id for n in build_nodes(load_scenario(USER_COPY))}
    named = {
        (selector.kind, selector.target)
        for service in config.services
        for line in service.items
        for selector in line.selectors
        if selector.kind is not SelectorKind.ALL
    }
    assert named, "the demo configuration names some points explicitly"
    for kind, target in named:
        known = point_ids if kind is SelectorKind.POINT else nodes
        assert target in known, f"{kind} selector {target!r} names nothing in the office"


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
