"""The stored event's JSON shape, key by key and in order (what the API and CLI print)."""

from __future__ import annotations

import json
import sqlite3

from opencrate.components.eventlog.records import (
    Acknowledgement,
    Enrichment,
    EventLevel,
    EventRecord,
)
from opencrate.components.eventlog.sql import EVENT_COLUMNS
from opencrate.components.eventlog.tables import TableKind
from opencrate.runtime.records import fetch_one, to_json, to_row


def _event() -> EventRecord:
    return EventRecord(
        id=65537,
        table=TableKind.ALERT,
        context="ahu1/sat",
        name="high",
        created_ms=1_700_000_000_000,
        first_ms=1_699_999_999_000,
        expires_ms=1_800_000_000_000,
        level=EventLevel.WARNING,
        permissions=None,
        count=2,
        acknowledgements=(Acknowledgement(user="ann", ts_ms=5, comment="ok"),),
        enrichments=(Enrichment(name="ticket", value={"n": 7}, author="bob", ts_ms=6),),
        format="text",
        data={"value": 30.5},
    )


def test_event_json_keeps_its_keys_order_and_value_forms() -> None:
    assert json.dumps(to_json(_event())) == json.dumps(
        {
            "id": 65537,
            "table": "alert",
            "context": "ahu1/sat",
            "name": "high",
            "level": "warning",
            "created_ms": 1_700_000_000_000,
            "created": "2023-11-14T22:13:20.000Z",
            "first_ms": 1_699_999_999_000,
            "expires_ms": 1_800_000_000_000,
            "permissions": None,
            "count": 2,
            "acknowledgements": [{"user": "ann", "ts_ms": 5, "comment": "ok"}],
            "enrichments": [{"name": "ticket", "value": {"n": 7}, "author": "bob", "ts_ms": 6}],
            "format": "text",
            "data": {"value": 30.5},
        }
    )


def test_event_row_round_trips_by_column_name() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute(f"CREATE TABLE event_alert ({EVENT_COLUMNS})")
    row = to_row(_event())
    conn.execute(
        f"INSERT INTO event_alert ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})",
        row,
    )
    sql = f"SELECT {EVENT_COLUMNS} FROM event_alert"
    assert fetch_one(conn, EventRecord, sql, table=TableKind.ALERT) == _event()
