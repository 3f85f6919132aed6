"""Table names from device ids: hostile ids never reach SQL, and the database stays intact."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opencrate.clock import TrioClock
from opencrate.components.eventlog.records import EventQuery, NewEvent
from opencrate.components.eventlog.store import EventLogStore
from opencrate.components.eventlog.tables import (
    TableKind,
    change_table_name,
    encode_id,
    quote_table,
    table_no_of,
)
from opencrate.errors import InvalidInput, StoreError

T0 = 1_700_000_000_000

HOSTILE_DEVICES = [
    'x"; DROP TABLE event_info; --',
    "'; DELETE FROM event_table; --",
    "a;b;c",
    '"',
    '""',
    "]]) ; ATTACH DATABASE 'pwn.db' AS pwn; --",
    "Ünïcødé-设备-🔥",
    "event_info",
    "change_1001_000000000000",
    "sqlite_master",
    "x" * 197,  # with "/pt" the longest context allowed
    "%_%",
    "1001 OR 1=1",
]

SAFE = re.compile(r"change_[a-z0-9_]*[0-9a-f]{12}")


def test_change_table_names_are_plain_identifiers_and_distinct() -> None:
    names = [change_table_name(d) for d in HOSTILE_DEVICES]
    assert all(SAFE.fullmatch(n) for n in names), names
    assert len(set(names)) == len(names)
    assert change_table_name("1001").startswith("change_1001_")
    assert change_table_name("AHU") != change_table_name("ahu")
    assert len(change_table_name("y" * 200)) <= 7 + 40 + 1 + 12


@given(st.text(min_size=1, max_size=200))
def test_any_device_id_gives_a_safe_name_or_invalid_input(device: str) -> None:
    try:
        name = change_table_name(device)
    except InvalidInput:
        return
    assert SAFE.fullmatch(name)
    assert quote_table(name) == f'"{name}"'


@pytest.mark.parametrize("device", ["", "a/b", "x" * 201, "tab\there", " lead"])
def test_device_ids_that_cannot_be_node_ids_are_refused(device: str) -> None:
    with pytest.raises(InvalidInput):
        change_table_name(device)


@pytest.mark.parametrize("name", ['event_info"; DROP TABLE x', "change_X_0123456789ab", "users"])
def test_quote_table_refuses_names_it_did_not_make(name: str) -> None:
    with pytest.raises(StoreError, match="unsafe"):
        quote_table(name)


def test_id_encoding_round_trips_table_number() -> None:
    assert table_no_of(encode_id(123_456, 3)) == 3
    assert table_no_of(encode_id(2**37, 65535)) == 65535
    assert encode_id(1, 1) != encode_id(2, 1)


def _schema(path: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(path)
    try:
        return sorted(conn.execute("SELECT type, name FROM sqlite_master"))
    finally:
        conn.close()


async def test_hostile_device_ids_are_stored_as_data_and_the_database_stays_intact(
    tmp_path: Path, clock: TrioClock
) -> None:
    path = tmp_path / "events.db"
    async with EventLogStore(path, clock=clock).running() as store:
        keep = await store.record(
            NewEvent(
                context="site",
                name="EntityCreated",
                created_ms=T0,
                expires_ms=T0 + 1000,
                level="info",
            ),
            TableKind.INFO,
        )
        recorded = await store.record_many(
            [
                (
                    NewEvent(
                        context=f"{device}/pt",
                        name="StatusChanged",
                        created_ms=T0 + i,
                        expires_ms=T0 + 10_000,
                        level="notice",
                        data={"device": device},
                    ),
                    TableKind.CHANGE,
                )
                for i, device in enumerate(HOSTILE_DEVICES)
            ]
        )
        tables = await store.tables()
        per_device = {
            device: [e async for e in store.iter_events(EventQuery(context=f"{device}/pt"))]
            for device in HOSTILE_DEVICES
        }
        still_there = await store.get(keep.id)
        # Deleting by a hostile id removes exactly that device and nothing else.
        removed = await store.delete_context(HOSTILE_DEVICES[0])
        after = {t.device for t in await store.tables()}
        total = await store.count()

    assert len(recorded) == len(HOSTILE_DEVICES)
    assert sorted(t.device for t in tables if t.device) == sorted(HOSTILE_DEVICES)
    for device, events in per_device.items():
        assert [e.data["device"] for e in events] == [device]
    assert still_there.name == "EntityCreated"
    assert removed == 1
    assert HOSTILE_DEVICES[0] not in after
    assert HOSTILE_DEVICES[1] in after
    assert total == len(HOSTILE_DEVICES)  # 13 - 1 + the info event
    schema = _schema(path)
    names = {name for _, name in schema}
    assert {"event_general", "event_info", "event_alert", "event_table"} <= names
    change_tables = [n for kind, n in schema if kind == "table" and n.startswith("change")]
    assert len(change_tables) == len(HOSTILE_DEVICES) - 1
    assert all(SAFE.fullmatch(n) for n in change_tables)


@pytest.mark.parametrize(
    "context", ['x"; DROP TABLE event_info; --/p', "a//b", "\x00evil/p", "/lead"]
)
async def test_hostile_contexts_in_queries_are_parameters_or_refused(
    tmp_path: Path, context: str
) -> None:
    path = tmp_path / "events.db"
    async with EventLogStore(path).running() as store:
        before = _schema(path)
        try:
            query = EventQuery(context=context)
        except InvalidInput:
            query = None
        if query is not None:
            page = await store.query(query)
            assert page.events == ()
            assert await store.delete_context(context.split("/")[0]) == 0
    assert _schema(path) == before
