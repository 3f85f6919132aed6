"""The override records' JSON shapes, key by key and in order (what the API sends)."""

from __future__ import annotations

import json

from opencrate.components.overrides.store import EndedOverride, EndReason, Override
from opencrate.components.points.store import PointState
from opencrate.model.values import PointStatus
from opencrate.runtime.records import to_json


def test_override_json_keeps_its_keys_order_and_previous_state() -> None:
    previous = PointState(node_id="ahu1/sp", value=21.5, status=PointStatus.OK, ts_ms=3)
    override = Override(
        node_id="ahu1/sp",
        value=19,
        user="ann",
        reason="night",
        set_ms=5,
        expires_ms=None,
        previous=previous,
    )
    assert json.dumps(to_json(override)) == json.dumps(
        {
            "node_id": "ahu1/sp",
            "value": 19,
            "user": "ann",
            "reason": "night",
            "set_ms": 5,
            "expires_ms": None,
            "previous": {"value": 21.5, "status": "ok", "ts_ms": 3},
        }
    )


def test_ended_override_json_keeps_its_keys_order() -> None:
    ended = EndedOverride(
        id=4,
        node_id="ahu1/sp",
        value="on",
        user="ann",
        reason="",
        set_ms=5,
        expires_ms=9,
        ended_ms=9,
        ended_by="system",
        end_reason=EndReason.EXPIRED,
    )
    assert json.dumps(to_json(ended)) == json.dumps(
        {
            "id": 4,
            "node_id": "ahu1/sp",
            "value": "on",
            "user": "ann",
            "reason": "",
            "set_ms": 5,
            "expires_ms": 9,
            "ended_ms": 9,
            "ended_by": "system",
            "end_reason": "expired",
        }
    )
