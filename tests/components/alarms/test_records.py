"""The alarm record's JSON shape, key by key and in order (what the API has always sent)."""

from __future__ import annotations

import json

from opencrate.components.alarms.records import Alarm, Severity
from opencrate.runtime.records import json_schema, to_json


def test_alarm_json_keeps_its_keys_order_and_value_forms() -> None:
    alarm = Alarm(
        id=3,
        node_id="ahu1/sat",
        alarm_type="high-limit",
        severity=Severity.MAJOR,
        message="too hot",
        raised_ms=10,
        updated_ms=20,
        count=2,
        acked_ms=15,
        acked_by="ann",
        ack_comment="seen",
    )
    assert json.dumps(to_json(alarm)) == json.dumps(
        {
            "id": 3,
            "node_id": "ahu1/sat",
            "type": "high-limit",
            "severity": "major",
            "message": "too hot",
            "state": "active-acked",
            "active": True,
            "acked": True,
            "count": 2,
            "raised_ms": 10,
            "updated_ms": 20,
            "cleared_ms": None,
            "acked_ms": 15,
            "acked_by": "ann",
            "ack_comment": "seen",
            "shelved_until_ms": None,
            "shelved_by": None,
            "stale_ms": None,
            "closed_ms": None,
        }
    )


def test_alarm_schema_lists_the_json_members() -> None:
    schema = json_schema(Alarm)
    assert schema["required"][:9] == [
        "id",
        "node_id",
        "type",
        "severity",
        "message",
        "state",
        "active",
        "acked",
        "count",
    ]
    assert schema["properties"]["cleared_ms"] == {"type": ["integer", "null"]}
    assert schema["properties"]["severity"]["enum"][0] == "critical"
