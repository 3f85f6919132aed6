"""The audit entry's JSON shape, key by key and in order (what ``/api/audit`` sends)."""

from __future__ import annotations

import json

from opencrate.components.audit.store import AuditEntry
from opencrate.runtime.records import to_json


def test_audit_entry_json_keeps_its_keys_order_and_detail_object() -> None:
    entry = AuditEntry(
        id=1, ts_ms=5, user="ann", action="override.set", target="ahu1/sp", detail={"v": [1]}
    )
    assert json.dumps(to_json(entry)) == json.dumps(
        {
            "id": 1,
            "ts_ms": 5,
            "user": "ann",
            "action": "override.set",
            "target": "ahu1/sp",
            "detail": {"v": [1]},
        }
    )
