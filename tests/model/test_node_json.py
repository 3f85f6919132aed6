"""The node's JSON shape, key by key and in order (what ``/api/nodes`` sends)."""

from __future__ import annotations

import json

from opencrate.model.node import Node
from opencrate.runtime.records import json_schema


def test_node_json_keeps_its_keys_order_and_value_forms() -> None:
    node = Node(
        id="ahu1/sat",
        node_type="point",
        dis="Supply air temp",
        parent_id="ahu1",
        tags={"temp", "air", "sensor"},
        refs={"equipRef": "ahu1"},
        properties={"k": [1]},
        capabilities=["readable"],
        protocol_binding={"protocol": "virtual", "config": {}},
        unit="°C",
        kind="number",
    )
    assert json.dumps(node.to_dict()) == json.dumps(
        {
            "id": "ahu1/sat",
            "node_type": "point",
            "dis": "Supply air temp",
            "parent_id": "ahu1",
            "value": None,
            "status": "unknown",
            "tags": ["air", "sensor", "temp"],
            "refs": {"equipRef": "ahu1"},
            "properties": {"k": [1]},
            "capabilities": node.capabilities.to_dict(),
            "protocol_binding": {"protocol": "virtual", "config": {}},
            "unit": "°C",
            "kind": "number",
        }
    )
    assert Node.from_dict(node.to_dict()) == node


def test_node_schema_allows_null_kind_and_binding() -> None:
    props = json_schema(Node)["properties"]
    assert None in props["kind"]["enum"]
    assert "null" in props["protocol_binding"]["type"]
    assert props["parent_id"] == {"type": ["string", "null"]}
