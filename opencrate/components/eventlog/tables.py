"""Where events live: table kinds, safe table names, the table registry, event ids.

Seed 004 spreads events over tables so that each stays small and can be dropped
whole: ``event_info``, ``event_alert``, one ``change_<device>`` table per device
(created when its first event arrives, dropped when the device is deleted), and
``event_general`` for the rest. All have the same columns
(:data:`~opencrate.components.eventlog.sql.EVENT_COLUMNS`).

Table names from user data
    A device id is user data (a BACnet instance, a Modbus device key, anything a
    scenario file says). It never reaches SQL text: :func:`change_table_name`
    derives the name from a lower-case ASCII slug of the id (other characters
    become ``_``, at most 40 kept) plus 12 hex digits of its SHA-256, so every
    name matches ``[a-z0-9_]+`` whatever the id was, distinct ids get distinct
    names, and ``"1001"`` still reads as ``change_1001_<hash>`` in a SQLite
    shell. :func:`quote_table` checks the name against that pattern again and
    double-quotes it before it is formatted into a statement. The id itself is
    stored in the registry table through a bound parameter.

Event ids
    Ids are unique across every table so ``POST /api/events/{id}/ack`` finds
    the row with one lookup: ``id = (seq << 16) | table_no``, where ``seq`` is
    one sequence for the whole file (``event_sequence``) and ``table_no`` the
    table's number in ``event_table``. Numbers of dropped tables are reused;
    ``seq`` never is, so neither are ids. Ids stay exact as JSON doubles up to
    ``seq`` = 2**37 (137 billion events).

Everything here runs in the store's worker threads; nothing awaits.
"""

from __future__ import annotations

import enum
import hashlib
import re
import sqlite3

from attrs import frozen

from opencrate.errors import InvalidInput, StoreError
from opencrate.model.ids import validate_node_id

__all__ = [
    "FIXED_TABLES",
    "MAX_TABLES",
    "REGISTRY_SCHEMA",
    "TABLE_BITS",
    "EventTable",
    "TableCache",
    "TableKind",
    "change_table_name",
    "create_event_table",
    "encode_id",
    "load_tables",
    "quote_table",
    "table_no_of",
]

TABLE_BITS = 16
MAX_TABLES = 1 << TABLE_BITS
#: Device tables are numbered from here; below are the fixed tables.
FIRST_DEVICE_TABLE = 16
_SLUG_MAX = 40


class TableKind(enum.StrEnum):
    """Kinds of event table; a string enum, so ``TableKind.ALERT == "alert"``."""

    GENERAL = "general"
    INFO = "info"
    ALERT = "alert"
    CHANGE = "change"


@frozen(kw_only=True)
class EventTable:
    """One event table: its number (low bits of its ids), kind, device (change tables) and name."""

    no: int
    kind: TableKind
    name: str
    device: str | None = None


FIXED_TABLES: dict[TableKind, EventTable] = {
    TableKind.GENERAL: EventTable(no=1, kind=TableKind.GENERAL, name="event_general"),
    TableKind.INFO: EventTable(no=2, kind=TableKind.INFO, name="event_info"),
    TableKind.ALERT: EventTable(no=3, kind=TableKind.ALERT, name="event_alert"),
}

REGISTRY_SCHEMA = """
CREATE TABLE event_table (
    no      INTEGER PRIMARY KEY CHECK (no BETWEEN 1 AND 65535),
    kind    TEXT NOT NULL CHECK (kind IN ('general', 'info', 'alert', 'change')),
    device  TEXT UNIQUE,
    name    TEXT NOT NULL UNIQUE,
    CHECK ((kind = 'change') = (device IS NOT NULL))
);
CREATE TABLE event_sequence (
    one       INTEGER PRIMARY KEY CHECK (one = 1),
    last_seq  INTEGER NOT NULL
);
INSERT INTO event_sequence (one, last_seq) VALUES (1, 0);
"""

_SAFE_NAME = re.compile(r"event_(general|info|alert)|change_[a-z0-9_]{0,41}[0-9a-f]{12}")


def encode_id(seq: int, table_no: int) -> int:
    return (seq << TABLE_BITS) | table_no


def table_no_of(event_id: int) -> int:
    """The number of the table that holds ``event_id``."""
    return event_id & (MAX_TABLES - 1)


def change_table_name(device: str) -> str:
    """The change table name for ``device``: ``change_<slug>_<sha256[:12]>``.

    Raises :class:`InvalidInput` if ``device`` is not a valid node id segment
    (empty, too long, control characters, contains ``/``).
    """
    validate_node_id(device, what="device")
    if "/" in device:
        raise InvalidInput(f"device {device!r} must not contain '/'", field="device")
    slug = re.sub(r"[^a-z0-9]+", "_", device.lower()).strip("_")[:_SLUG_MAX].strip("_")
    digest = hashlib.sha256(device.encode("utf-8")).hexdigest()[:12]
    return f"change_{slug}_{digest}" if slug else f"change_{digest}"


def quote_table(name: str, suffix: str = "") -> str:
    """``name`` (plus an index ``suffix``) as a quoted SQL identifier, after checking it.

    Only names this module makes pass; anything else is a bug or a tampered
    registry, and raises :class:`StoreError` rather than reaching SQL.
    """
    if not _SAFE_NAME.fullmatch(name) or not re.fullmatch(r"[a-z_]*", suffix):
        raise StoreError(f"refusing unsafe event table name {name[:80]!r}", store="events")
    return '"' + (name + suffix).replace('"', '""') + '"'


def create_event_table(conn: sqlite3.Connection, table: EventTable) -> None:
    """Create ``table`` and its indexes (idempotent)."""
    q = quote_table(table.name)
    conn.execute(
        f"""CREATE TABLE IF NOT EXISTS {q} (
            id           INTEGER PRIMARY KEY,
            context      TEXT NOT NULL,
            name         TEXT NOT NULL,
            created_ms   INTEGER NOT NULL,
            first_ms     INTEGER NOT NULL,
            expires_ms   INTEGER NOT NULL,
            level        INTEGER NOT NULL CHECK (level BETWEEN 0 AND 5),
            permissions  TEXT,
            count        INTEGER NOT NULL DEFAULT 1 CHECK (count >= 1),
            acks         TEXT NOT NULL DEFAULT '[]',
            enrichments  TEXT NOT NULL DEFAULT '[]',
            format       TEXT,
            data         TEXT NOT NULL DEFAULT '{{}}',
            open_key     BLOB
        )"""
    )
    # (created_ms) carries the rowid too, so it serves ORDER BY created_ms, id.
    conn.execute(
        f"CREATE INDEX IF NOT EXISTS {quote_table(table.name, '_time')} ON {q} (created_ms)"
    )
    conn.execute(
        f"CREATE INDEX IF NOT EXISTS {quote_table(table.name, '_context')} "
        f"ON {q} (context, created_ms)"
    )
    conn.execute(
        f"CREATE INDEX IF NOT EXISTS {quote_table(table.name, '_expires')} ON {q} (expires_ms)"
    )
    # Deduplication looks up open (unacknowledged) rows by their key only.
    conn.execute(
        f"CREATE INDEX IF NOT EXISTS {quote_table(table.name, '_open')} "
        f"ON {q} (open_key) WHERE open_key IS NOT NULL"
    )


def create_fixed_tables(conn: sqlite3.Connection) -> None:
    """Migration step: register and create the general, info and alert tables."""
    for table in FIXED_TABLES.values():
        conn.execute(
            "INSERT INTO event_table (no, kind, device, name) VALUES (?, ?, NULL, ?)",
            (table.no, table.kind.value, table.name),
        )
        create_event_table(conn, table)


def load_tables(conn: sqlite3.Connection) -> list[EventTable]:
    """Every registered table, by number."""
    return [
        EventTable(no=no, kind=TableKind(kind), device=device, name=name)
        for no, kind, device, name in conn.execute(
            "SELECT no, kind, device, name FROM event_table ORDER BY no"
        )
    ]


class TableCache:
    """The writer's view of the registry: which tables exist, by device and by number.

    Owned by the writer thread. A transaction that rolls back after creating or
    dropping a table leaves this out of step; the store then calls
    :meth:`reload` (see ``EventLogStore._guard``).
    """

    def __init__(self) -> None:
        self.by_no: dict[int, EventTable] = {}
        self.by_device: dict[str, EventTable] = {}

    def reload(self, conn: sqlite3.Connection) -> None:
        self.by_no = {t.no: t for t in load_tables(conn)}
        self.by_device = {t.device: t for t in self.by_no.values() if t.device is not None}

    def tables(self) -> list[EventTable]:
        return list(self.by_no.values())

    def for_context(self, context: str) -> list[EventTable]:
        """The tables that can hold events of ``context``: the fixed ones and its device's."""
        found = [
            FIXED_TABLES[kind] for kind in (TableKind.GENERAL, TableKind.INFO, TableKind.ALERT)
        ]
        device_table = self.by_device.get(context.partition("/")[0])
        if device_table is not None:
            found.append(device_table)
        return found

    def ensure_change_table(self, conn: sqlite3.Connection, device: str) -> EventTable:
        """The change table of ``device``, created and registered if it is new."""
        found = self.by_device.get(device)
        if found is not None:
            return found
        name = change_table_name(device)
        no = next((n for n in range(FIRST_DEVICE_TABLE, MAX_TABLES) if n not in self.by_no), None)
        if no is None:
            raise StoreError(
                f"too many device event tables ({MAX_TABLES - FIRST_DEVICE_TABLE})",
                store="events",
                device=device,
            )
        table = EventTable(no=no, kind=TableKind.CHANGE, device=device, name=name)
        conn.execute(
            "INSERT INTO event_table (no, kind, device, name) VALUES (?, 'change', ?, ?)",
            (no, device, name),
        )
        create_event_table(conn, table)
        self.by_no[no] = table
        self.by_device[device] = table
        return table

    def drop_change_table(self, conn: sqlite3.Connection, device: str) -> int:
        """Drop ``device``'s change table if it has one; returns how many rows it held."""
        table = self.by_device.get(device)
        if table is None:
            return 0
        q = quote_table(table.name)
        rows = int(conn.execute(f"SELECT count(*) FROM {q}").fetchone()[0])
        conn.execute(f"DROP TABLE {q}")
        conn.execute("DELETE FROM event_table WHERE no = ?", (table.no,))
        del self.by_no[table.no]
        del self.by_device[device]
        return rows
