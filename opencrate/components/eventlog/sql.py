"""The event log's SQL: insert statements, dedup keys, the merged read (rows by name).

Plain functions for the store's worker threads (nothing here awaits). Table
names reach SQL only through :func:`~opencrate.components.eventlog.tables.quote_table`;
every value is a bound parameter.
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import sqlite3
from collections.abc import Iterator
from typing import Any

from attrs import frozen

from opencrate.components.eventlog.records import (
    EventCursor,
    EventQuery,
    EventRecord,
    NewEvent,
    Order,
)
from opencrate.components.eventlog.tables import (
    EventTable,
    load_tables,
    quote_table,
)
from opencrate.runtime.records import columns, iter_records

__all__ = [
    "EVENT_COLUMNS",
    "InsertSql",
    "dedup_key",
    "insert_sql",
    "merged_rows",
]

#: Columns of every event table, in the order the store selects them.
EVENT_COLUMNS = columns(EventRecord)


def dedup_key(event: NewEvent, data_json: str) -> bytes:
    """What makes two events identical: context, name, level, data, permissions, format.

    NUL separates the fields unambiguously: none may contain one (node ids and
    the texts of :class:`NewEvent` refuse control characters; JSON escapes them).
    """
    parts = (event.context, event.name, str(int(event.level)), data_json)
    extra = (event.permissions or "", event.format or "")
    return hashlib.blake2b("\x00".join((*parts, *extra)).encode(), digest_size=16).digest()


@frozen
class InsertSql:
    find_open: str
    count_duplicate: str
    insert: str


@functools.lru_cache(maxsize=1024)
def insert_sql(table_name: str) -> InsertSql:
    """The statements of the insert path for one table, built once (the hot path)."""
    q = quote_table(table_name)
    return InsertSql(
        find_open=f"SELECT id FROM {q} WHERE open_key = ? AND expires_ms > ? LIMIT 1",
        count_duplicate=(
            f"UPDATE {q} SET count = count + 1, created_ms = max(created_ms, ?1), "
            f"first_ms = min(first_ms, ?1), expires_ms = max(expires_ms, ?2) "
            f"WHERE id = ?3 RETURNING count"
        ),
        insert=(
            f"INSERT INTO {q} (id, context, name, created_ms, first_ms, expires_ms, level, "
            f"permissions, format, data, open_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ),
    )


def merged_rows(
    conn: sqlite3.Connection, query: EventQuery, cursor: EventCursor | None, limit: int
) -> Iterator[EventRecord]:
    """Rows of every candidate table, merged lazily in ``(created_ms, id)`` order."""
    newest_first = query.order is Order.NEWEST_FIRST
    where: list[str] = []
    params: list[Any] = []
    if query.context is not None:
        where.append("context = ?")
        params.append(query.context)
    if query.under is not None:
        # Contexts beneath sort in [under + "/", under + "0"): '0' follows '/'.
        where.append("(context = ? OR (context >= ? AND context < ?))")
        params.extend((query.under, query.under + "/", query.under + "0"))
    if query.name is not None:
        where.append("name = ?")
        params.append(query.name)
    if query.min_level is not None:
        where.append("level >= ?")
        params.append(int(query.min_level))
    if query.since_ms is not None:
        where.append("created_ms >= ?")
        params.append(query.since_ms)
    if query.until_ms is not None:
        where.append("created_ms < ?")
        params.append(query.until_ms)
    if cursor is not None:
        where.append(f"(created_ms, id) {'<' if newest_first else '>'} (?, ?)")
        params.extend((cursor.created_ms, cursor.id))
    direction = "DESC" if newest_first else "ASC"
    clause = (" WHERE " + " AND ".join(where)) if where else ""

    candidates = load_tables(conn)
    for scope in (query.context, query.under):
        if scope is not None:
            # Only its device's change table can hold change events of this scope.
            device = scope.partition("/")[0]
            candidates = [t for t in candidates if t.device is None or t.device == device]

    def rows_of(table: EventTable) -> Iterator[EventRecord]:
        sql = (
            f"SELECT {EVENT_COLUMNS} FROM {quote_table(table.name)}{clause} "
            f"ORDER BY created_ms {direction}, id {direction} LIMIT ?"
        )
        kind = table.kind
        yield from iter_records(conn, EventRecord, sql, (*params, limit), table=kind)

    return heapq.merge(
        *(rows_of(t) for t in candidates),
        key=lambda e: (e.created_ms, e.id),
        reverse=newest_first,
    )
