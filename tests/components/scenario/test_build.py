"""Scenario -> nodes: auto-tags, Haystack refs, capabilities and bindings."""

from __future__ import annotations

import pytest

from opencrate.components.scenario.build import DEFAULT_POINT_CAPABILITIES, build_nodes
from opencrate.components.scenario.parse import parse_scenario
from opencrate.errors import ConfigError
from opencrate.model.node import NodeType

TEXT = """\
[[site]]
id = "hq"
dis = "HQ"
properties = { tz = "Europe/Berlin" }

[[space]]
id = "f1"
dis = "Floor 1"
parent = "hq"
tags = ["floor"]

[[space]]
id = "r101"
dis = "Room 101"
parent = "f1"

[[equip]]
id = "1001"
dis = "AHU-1"
parent = "f1"
binding = { protocol = "bacnet", device_instance = 1001 }

[[equip.point]]
id = "analog-input-1"
dis = "Supply Air Temp"
unit = "°C"
binding = { object_type = "analog-input", object_instance = 1 }

[[equip.point]]
id = "analog-value-1"
dis = "Supply Air Temp Setpoint"
unit = "°C"
writable = true
tags = ["custom"]
binding = { object_type = "analog-value", object_instance = 1 }

[[equip.point]]
id = "delta"
dis = "Temp Delta"
unit = "°C"
capabilities = ["readable"]
binding = { protocol = "virtual", expression = "a - b" }

[[equip]]
id = "1001-fan"
dis = "Supply Fan"
parent = "1001"

[[equip]]
id = "1101"
dis = "VAV-101"
parent = "r101"
refs = { airRef = "1001", siteRef = "hq" }

[[equip]]
id = "meter-1"
dis = "Main Electricity Meter"
parent = "hq"
binding.protocol = "modbus"
binding.device_id = "meter-1"
binding.register_type = "holding"
binding.data_type = "float32"

[[equip.point]]
id = "power"
dis = "Active Power"
unit = "kW"
binding = { address = 100 }
"""


def test_nodes_come_parents_first_with_their_types() -> None:
    nodes = build_nodes(parse_scenario(TEXT))
    seen: set[str] = set()
    for node in nodes:
        assert node.parent_id is None or node.parent_id in seen
        seen.add(node.id)
    types = {node.id: node.node_type for node in nodes}
    assert types["hq"] is NodeType.SITE
    assert types["r101"] is NodeType.SPACE
    assert types["1001-fan"] is NodeType.EQUIP
    assert types["1001/analog-input-1"] is NodeType.POINT
    assert types["1001/delta"] is NodeType.VIRTUAL_POINT


def test_haystack_refs_follow_the_hierarchy() -> None:
    nodes = {node.id: node for node in build_nodes(parse_scenario(TEXT))}
    assert dict(nodes["hq"].refs) == {}
    assert dict(nodes["f1"].refs) == {"siteRef": "hq"}
    assert dict(nodes["r101"].refs) == {"siteRef": "hq", "spaceRef": "f1"}
    assert dict(nodes["1001"].refs) == {"siteRef": "hq", "spaceRef": "f1"}
    # A sub-equipment points at its equipment; a VAV keeps the refs the file gives.
    assert dict(nodes["1001-fan"].refs) == {"siteRef": "hq", "spaceRef": "f1", "equipRef": "1001"}
    assert dict(nodes["1101"].refs) == {"siteRef": "hq", "spaceRef": "r101", "airRef": "1001"}
    assert dict(nodes["1001/analog-input-1"].refs) == {
        "siteRef": "hq",
        "spaceRef": "f1",
        "equipRef": "1001",
    }
    assert dict(nodes["meter-1/power"].refs) == {"siteRef": "hq", "equipRef": "meter-1"}


def test_tags_combine_markers_tagger_capabilities_and_file() -> None:
    nodes = {node.id: node for node in build_nodes(parse_scenario(TEXT))}
    assert nodes["hq"].tags == {"site"}
    assert nodes["f1"].tags == {"space", "floor"}
    assert {"equip", "ahu"} <= nodes["1001"].tags
    sat = nodes["1001/analog-input-1"].tags
    assert {"point", "his", "air", "temp", "sensor", "discharge"} <= sat
    assert "writable" not in sat
    sp = nodes["1001/analog-value-1"].tags
    assert {"point", "sp", "writable", "custom", "his"} <= sp
    assert {"elec", "power"} <= nodes["meter-1/power"].tags


def test_capabilities_default_writable_and_explicit() -> None:
    nodes = {node.id: node for node in build_nodes(parse_scenario(TEXT))}
    assert nodes["1001/analog-input-1"].capabilities.names() == DEFAULT_POINT_CAPABILITIES
    assert nodes["1001/analog-value-1"].capabilities.names() == DEFAULT_POINT_CAPABILITIES | {
        "writable",
        "schedulable",
    }
    assert nodes["1001/delta"].capabilities.names() == {"readable"}
    assert nodes["1001"].capabilities.names() == frozenset()


def test_bindings_merge_equipment_defaults_with_point_keys() -> None:
    nodes = {node.id: node for node in build_nodes(parse_scenario(TEXT))}
    sat = nodes["1001/analog-input-1"].protocol_binding
    assert sat is not None
    assert sat.to_dict() == {
        "protocol": "bacnet",
        "config": {"device_instance": 1001, "object_type": "analog-input", "object_instance": 1},
    }
    power = nodes["meter-1/power"].protocol_binding
    assert power is not None
    assert power.protocol == "modbus"
    assert dict(power.config) == {
        "device_id": "meter-1",
        "register_type": "holding",
        "data_type": "float32",
        "address": 100,
    }
    delta = nodes["1001/delta"].protocol_binding
    assert delta is not None
    assert delta.to_dict() == {"protocol": "virtual", "config": {"expression": "a - b"}}
    assert nodes["1001"].protocol_binding is None
    assert nodes["1001/analog-input-1"].unit == "°C"
    assert dict(nodes["hq"].properties) == {"tz": "Europe/Berlin"}


def test_a_value_the_node_model_refuses_is_a_config_error_with_the_line() -> None:
    scenario = parse_scenario(
        TEXT.replace('tags = ["custom"]', 'tags = ["two words"]'), source="b.toml"
    )
    with pytest.raises(ConfigError) as info:
        build_nodes(scenario)
    assert info.value.file == "b.toml"
    assert info.value.key == "tags"
    assert info.value.line == TEXT.splitlines().index('id = "analog-value-1"')
