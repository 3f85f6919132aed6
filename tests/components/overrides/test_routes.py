"""``PUT /api/points/{id}/override`` against a point's declared range (``minVal`` / ``maxVal``).

Issue 9: ``-1e300`` was accepted as a setpoint override. A point that declares
its range refuses values outside it; no value that is not finite gets in at all.
"""

from __future__ import annotations

from quart.typing import TestClientProtocol as Client

from opencrate.app import Services
from opencrate.components.audit.store import AuditStore
from opencrate.components.nodes.store import NodeStore
from opencrate.components.overrides.store import OverrideStore
from opencrate.model.node import Node
from tests.harness import build_tree

SETPOINT = "1001/sat-sp"
URL = f"/api/points/{SETPOINT}/override"


async def _setpoint(services: Services) -> None:
    await build_tree(services)
    await services.get(NodeStore).create(
        Node.from_dict(
            {"id": SETPOINT, "node_type": "point", "dis": "Supply Air Temp Setpoint",
             "parent_id": "1001", "tags": ["air", "temp", "sp", "point"], "unit": "°C",
             "kind": "number", "properties": {"minVal": 12, "maxVal": 28}}
        )
    )  # fmt: skip


async def test_an_override_outside_the_points_range_is_400_and_stores_nothing(
    services: Services, client: Client
) -> None:
    await _setpoint(services)
    response = await client.put(URL, json={"value": -1e300, "reason": "attack"})
    assert response.status_code == 400
    error = (await response.get_json())["error"]
    assert error["message"] == (
        "override value -1e+300 for 1001/sat-sp is outside its range [12.0, 28.0] (minVal, maxVal)"
    )
    assert error["detail"]["node_id"] == SETPOINT
    for bad in (28.01, "11", "NaN", "Infinity"):
        refused = await client.put(URL, json={"value": bad})
        assert refused.status_code == 400, bad
    # JSON's 1e999 is infinity to a parser: refused as well.
    huge = await client.put(
        URL, data=b'{"value": 1e999}', headers={"Content-Type": "application/json"}
    )
    assert huge.status_code == 400
    assert services.get(OverrideStore).active() == []
    assert await services.get(AuditStore).count() == 0
    accepted = await client.put(URL, json={"value": "21.5"})
    assert accepted.status_code == 200, await accepted.get_data(as_text=True)
    assert (await accepted.get_json())["value"] == 21.5


async def test_a_point_without_a_range_takes_any_finite_number(
    services: Services, client: Client
) -> None:
    await build_tree(services)
    response = await client.put("/api/points/1001/sat/override", json={"value": -1e300})
    assert response.status_code == 200
    infinite = await client.put("/api/points/1001/sat/override", json={"value": "-inf"})
    assert infinite.status_code == 400
    assert "not a valid number" in (await infinite.get_json())["error"]["message"]
