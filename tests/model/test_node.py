from __future__ import annotations

from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from opencrate.errors import InvalidInput
from opencrate.model.binding import ProtocolBinding
from opencrate.model.ids import MAX_NODE_ID_LENGTH, point_id, split_point_id, validate_node_id
from opencrate.model.node import Node, NodeCapabilities, NodeType
from opencrate.model.values import PointStatus, ValueKind


def sat() -> Node:
    return Node(
        id="1001/analog-input-1",
        node_type=NodeType.POINT,
        dis="Supply Air Temp",
        parent_id="1001",
        value=55.2,
        status=PointStatus.OK,
        tags={"air", "temp", "sensor", "discharge", "supply"},
        refs={"equipRef": "1001", "siteRef": "main"},
        properties={"cov_increment": 0.5, "limits": {"lo": 40, "hi": 90}},
        capabilities=NodeCapabilities(readable=True, historizable=True),
        protocol_binding=ProtocolBinding.bacnet(1001, "analog-input", 1),
        unit="°F",
        kind=ValueKind.NUMBER,
    )


def test_to_dict_from_dict_round_trip() -> None:
    node = sat()
    data = node.to_dict()
    assert data["tags"] == sorted(data["tags"])
    assert data["node_type"] == "point"
    assert data["kind"] == "number"
    assert Node.from_dict(data) == node


def test_from_dict_accepts_legacy_binding_and_minimal_input() -> None:
    node = Node.from_dict(
        {
            "id": "1001/ai-2",
            "node_type": "point",
            "dis": "RAT",
            "protocol_binding": {
                "Bacnet": {"device_instance": 1001, "object_type": "ai", "object_instance": 2}
            },
            "tags": None,
        }
    )
    assert node.protocol_binding == ProtocolBinding.bacnet(1001, "ai", 2)
    assert node.tags == frozenset()
    assert node.status is PointStatus.UNKNOWN
    assert node.capabilities == NodeCapabilities()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": ""}, "id"),
        ({"id": "a//b"}, "id"),
        ({"node_type": "building"}, "node_type"),
        ({"dis": "  "}, "dis"),
        ({"dis": 3}, "dis"),
        ({"parent_id": "/x"}, "parent_id"),
        ({"parent_id": "1001/analog-input-1"}, "parent_id"),
        ({"tags": "air"}, "tags"),
        ({"tags": ["air", "two words"]}, "tags"),
        ({"tags": ["air", 5]}, "tags"),
        ({"refs": {"equipRef": "bad\nid"}}, "refs.equipRef"),
        ({"refs": ["equipRef"]}, "refs"),
        ({"properties": {"x": {1, 2}}}, "properties"),
        ({"capabilities": {"flyable": True}}, "capabilities"),
        ({"capabilities": {"readable": "yes"}}, "capabilities"),
        ({"protocol_binding": {"Bacnet": {"device_instance": 1}}}, "protocol_binding.object_type"),
        ({"value": float("inf")}, "value"),
        ({"status": "sleepy"}, "status"),
        ({"kind": "complex"}, "kind"),
        ({"unit": ""}, "unit"),
        ({"colour": "red"}, "colour"),
        # Unhashable tags were a TypeError in frozenset() (a 500 from POST /api/nodes).
        ({"tags": [{"a": 1}]}, "tags"),
        ({"tags": ["ok", [1]]}, "tags"),
    ],
)
def test_bad_field_raises_invalid_input_naming_it(change: dict[str, Any], field: str) -> None:
    data = {**sat().to_dict(), **change}
    with pytest.raises(InvalidInput) as info:
        Node.from_dict(data)
    assert info.value.detail["field"] == field, info.value


@pytest.mark.parametrize("missing", ["id", "node_type", "dis"])
def test_missing_required_field_is_named(missing: str) -> None:
    data = sat().to_dict()
    del data[missing]
    with pytest.raises(InvalidInput, match=repr(missing)) as info:
        Node.from_dict(data)
    assert info.value.detail["field"] == missing


def test_unit_and_kind_only_on_points() -> None:
    with pytest.raises(InvalidInput) as info:
        Node(id="1001", node_type=NodeType.EQUIP, dis="AHU-1", unit="°F")
    assert info.value.detail["field"] == "unit"
    virtual = Node(id="avg", node_type="virtual_point", dis="Avg", kind="number")
    assert virtual.is_point
    assert not Node(id="main", node_type="site", dis="Main Office").is_point


def test_evolve_validates_too() -> None:
    with pytest.raises(InvalidInput):
        attrs.evolve(sat(), tags=["ok", ""])


def test_nodes_are_immutable_and_detached_from_their_inputs() -> None:
    props: dict[str, Any] = {"limits": {"lo": 1}}
    node = Node(id="n", node_type="space", dis="Room", properties=props)
    props["limits"]["lo"] = 99
    assert node.properties["limits"]["lo"] == 1
    with pytest.raises(TypeError):
        node.refs["x"] = "y"  # type: ignore[index]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        node.dis = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        hash(node)


def test_capabilities_from_names_and_dict() -> None:
    caps = NodeCapabilities.from_names(["readable", "writable"])
    assert caps.names() == {"readable", "writable"}
    assert NodeCapabilities.from_dict(caps.to_dict()) == caps
    assert NodeCapabilities.from_dict(["alarmable"]).alarmable
    with pytest.raises(InvalidInput):
        NodeCapabilities.from_names(["teleport"])


# -- ids ------------------------------------------------------------------------------
def test_point_id_convention() -> None:
    assert point_id(1001, "analog-input-1") == "1001/analog-input-1"
    assert point_id("meter-1", "kw") == "meter-1/kw"
    assert split_point_id("1001/analog-input-1") == ("1001", "analog-input-1")
    assert split_point_id("1001/a/b") == ("1001", "a/b")


@pytest.mark.parametrize(
    ("bad", "rule"),
    [
        ("", "empty"),
        ("x" * (MAX_NODE_ID_LENGTH + 1), "at most"),
        ("a\tb", "control"),
        ("a\x7fb", "control"),
        (" a", "whitespace"),
        ("/a", "start or end"),
        ("a/", "start or end"),
        ("a//b", "empty segment"),
    ],
)
def test_validate_node_id_names_the_rule_broken(bad: str, rule: str) -> None:
    with pytest.raises(InvalidInput, match=rule):
        validate_node_id(bad)


def test_validate_node_id_accepts_reasonable_ids() -> None:
    for good in ["1001", "1001/analog-input-1", "Main Office", "étage-2", "x" * MAX_NODE_ID_LENGTH]:
        assert validate_node_id(good) == good


@pytest.mark.parametrize(
    ("device", "point"),
    [(-1, "p"), (True, "p"), ("a/b", "p"), ("", "p"), (1, ""), (1, "/p"), (1.5, "p")],
)
def test_point_id_rejects_bad_parts(device: Any, point: Any) -> None:
    with pytest.raises(InvalidInput):
        point_id(device, point)


def test_split_point_id_rejects_non_point_ids() -> None:
    with pytest.raises(InvalidInput, match="not a point id"):
        split_point_id("1001")


_segment = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="/"),
    min_size=1,
    max_size=20,
).filter(lambda s: s == s.strip())


@given(device=st.one_of(st.integers(0, 4_194_303), _segment), point=_segment)
def test_point_id_round_trips(device: int | str, point: str) -> None:
    node_id = point_id(device, point)
    assert split_point_id(node_id) == (str(device), point)


_json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
)
_json = st.recursive(
    _json_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text(min_size=1, max_size=5), inner, max_size=3),
    ),
    max_leaves=8,
)


@given(
    tags=st.frozensets(st.from_regex(r"[a-z][a-zA-Z0-9_]{0,10}", fullmatch=True), max_size=6),
    properties=st.dictionaries(st.text(min_size=1, max_size=8), _json, max_size=4),
    caps=st.frozensets(st.sampled_from(["readable", "writable", "historizable", "alarmable"])),
)
def test_node_json_round_trip_property(
    tags: frozenset[str], properties: dict[str, Any], caps: frozenset[str]
) -> None:
    node = Node(
        id="site-1",
        node_type=NodeType.SITE,
        dis="Site",
        tags=tags,
        properties=properties,
        capabilities=NodeCapabilities.from_names(caps),
    )
    assert Node.from_dict(node.to_dict()) == node
