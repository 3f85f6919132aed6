"""The API over a store that cannot write: 503 with a code naming why, health ``degraded``.

The data directory sits on a small real tmpfs that the test fills up
(skipped, with the reason, where the machine does not allow mounting).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest

from opencrate.api.app import create_app
from opencrate.clock import TrioClock
from opencrate.components.audit.store import AuditStore
from opencrate.components.nodes.store import NodeStore
from opencrate.components.properties.store import PropertyStore
from opencrate.components.users.roles import Role
from tests.contract import check_answers, violations
from tests.harness import client_with_token, fill_disk, role_tokens, running_services, small_disk


def _node(i: int) -> dict[str, Any]:
    return {"id": f"n{i}", "node_type": "equip", "dis": f"Equipment {i:05d} " + "x" * 400}


async def test_a_full_disk_answers_503_storage_full_and_health_says_degraded_until_freed(
    tmp_path: Path, clock: TrioClock
) -> None:
    with small_disk(tmp_path / "disk", "8m") as disk:
        async with running_services(disk / "data", clock) as services:
            tokens = await role_tokens(services)
            app = create_app(services)
            check_answers(app)  # the 503s match the OpenAPI document's error answers
            client = client_with_token(app, tokens[Role.ADMIN])
            health = await (await client.get("/api/health")).get_json()
            assert {s["status"] for s in health["stores"].values()} == {"ok"}

            filler = fill_disk(disk)
            os.truncate(filler, filler.stat().st_size - 128 * 1024)
            created: list[str] = []
            for i in range(5000):
                response = await client.post("/api/nodes", json=_node(i))
                if response.status_code != 201:
                    break
                created.append(f"n{i}")
            assert response.status_code == 503
            error = (await response.get_json())["error"]
            assert error["code"] == "storage_full"
            failing = error["detail"]["store"]
            assert error["message"] == f"store {failing} cannot write: database or disk is full"

            health = await (await client.get("/api/health")).get_json()
            assert health["status"] == "degraded"
            entry = health["stores"][failing]
            assert entry["status"] == "degraded"
            assert entry["fault"]["code"] == "storage_full"
            assert entry["fault"]["failures"] >= 1

            filler.unlink()
            response = await client.post("/api/nodes", json=_node(9999))
            assert response.status_code == 201
            health = await (await client.get("/api/health")).get_json()
            assert health["stores"][failing]["status"] == "ok"
            assert "fault" not in health["stores"][failing]
            nodes = services.get(NodeStore)
            assert all(nodes.get(node_id) is not None for node_id in created)
            assert violations(app) == []


async def test_a_change_stored_but_not_audited_is_refused_and_logged_by_name(
    tmp_path: Path, clock: TrioClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_services(tmp_path / "data", clock) as services:
        tokens = await role_tokens(services)
        client = client_with_token(create_app(services), tokens[Role.ADMIN])
        await services.get(AuditStore).aclose()  # the audit log cannot take the entry
        with caplog.at_level(logging.ERROR, logger="opencrate.api.auditing"):
            response = await client.put("/api/properties/site/mode", json={"value": "eco"})
        assert response.status_code == 503
        # Store first, audit second: the change is there, its caller was not told so,
        # and the log names it.
        assert services.get(PropertyStore).get("site", "mode") == "eco"
        (record,) = caplog.records
        assert record.getMessage().startswith(
            "audit: property.put site/mode by admin (token tests) is stored but has no audit entry"
        )
