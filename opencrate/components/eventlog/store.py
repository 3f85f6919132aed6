"""EventLogStore: the Iotellect-style event log (seed 004) in ``events.db``.

Every row carries context, name, creation and expiration time, level,
permissions, duplicate count, acknowledgements, enrichments, format and data
(:class:`~opencrate.components.eventlog.records.EventRecord`). Rows are spread over
tables by kind (:mod:`~opencrate.components.eventlog.tables`); callers never name a
table, except by choosing the kind when recording.

Deduplication
    An event identical to one that is still *open* on the same context (same
    name, level, data, permissions and format; open = not expired and not
    acknowledged) does not insert a row: the open row's ``count`` goes up, its
    ``created_ms`` moves to the latest occurrence, ``first_ms`` to the earliest
    (occurrences may arrive out of order) and ``expires_ms`` to the later of
    the two. Acknowledging a row closes
    it, so the next occurrence starts a new row.

Bounded loading
    :meth:`EventLogStore.query` returns one page of at most
    :data:`~opencrate.components.eventlog.records.MAX_PAGE` rows in ``(created_ms,
    id)`` order (newest first by default) and the cursor of the next page. With
    several tables it merges one lazily stepped SQLite cursor per table, so a
    page costs ``limit`` rows of memory whatever the tables hold.
    :meth:`EventLogStore.iter_events` walks all pages. A row that gets a
    duplicate while someone pages moves to its new time; paging does not
    freeze a snapshot.

Deletion and purge
    :meth:`delete_context` removes a node's events (and those of ``node/...``
    under it) from every table and drops its change table if it is a device.
    :meth:`purge_expired` deletes at most ``batch`` expired rows per call, as
    one command, so a periodic job (``opencrate.components.eventlog.engine``) can call it
    in a loop and let writers in between.

Errors: InvalidInput for bad arguments (nothing written), NotFound for an
unknown event id, StoreClosed when the store is not running. Cancellation: as
every store actor, a queued write runs even if its caller is cancelled.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import AsyncGenerator, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from attrs import frozen

from opencrate.clock import Clock
from opencrate.components.eventlog import tables
from opencrate.components.eventlog.records import (
    MAX_PAGE,
    Acknowledgement,
    Enrichment,
    EventCursor,
    EventPage,
    EventQuery,
    EventRecord,
    NewEvent,
    check_page_size,
    check_text,
    dump_json_object,
)
from opencrate.components.eventlog.sql import (
    EVENT_COLUMNS,
    dedup_key,
    insert_sql,
    merged_rows,
)
from opencrate.components.eventlog.tables import (
    FIXED_TABLES,
    EventTable,
    TableCache,
    TableKind,
    quote_table,
)
from opencrate.errors import InvalidInput, NotFound
from opencrate.model.ids import validate_node_id
from opencrate.runtime.actor import StoreActor, StoreStatistics
from opencrate.runtime.records import fetch_one, to_json
from opencrate.runtime.sqlite import iter_statements
from opencrate.validation import is_int

__all__ = ["EventLogStatistics", "EventLogStore", "Recorded"]

T = TypeVar("T")

#: Page cache of the writer connection, in KiB (a ceiling; pages are used as touched).
WRITER_CACHE_KIB = 65536
#: Default number of rows one purge command deletes.
PURGE_BATCH = 1000


@frozen(kw_only=True)
class Recorded:
    """What :meth:`EventLogStore.record_many` did with one event.

    ``count`` is 1 for a new row, more when the event was folded into an open
    duplicate (``deduplicated``).
    """

    id: int
    count: int
    table: TableKind

    @property
    def deduplicated(self) -> bool:
        return self.count > 1


def _migration_v1(conn: sqlite3.Connection) -> None:
    for statement in iter_statements(tables.REGISTRY_SCHEMA):
        conn.execute(statement)
    tables.create_fixed_tables(conn)


@frozen(kw_only=True)
class EventLogStatistics:
    tables: int  # event tables (the fixed ones and one change table per device)
    last_seq: int  # the newest event's sequence number


class EventLogStore(StoreActor):
    """The event log. Construct with the path of ``events.db``; run as any store actor."""

    name = "events"
    migrations = (_migration_v1,)

    def __init__(
        self,
        path: Path | str,
        *,
        capacity: int = 1024,
        max_batch: int = 512,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(path, capacity=capacity, max_batch=max_batch, clock=clock)
        # Writer-thread state: the table registry and the id sequence.
        self._cache = TableCache()
        self._cache_stale = False
        self._seq = 0

    def on_open(self, conn: sqlite3.Connection) -> None:
        # The dedup index is keyed by a hash, so inserts land all over its B-tree;
        # a 64 MiB page cache for the writer (SQLite's default is 2 MiB) keeps
        # insert speed from collapsing once the log holds millions of rows.
        conn.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
        self._cache.reload(conn)
        self._seq = int(conn.execute("SELECT last_seq FROM event_sequence").fetchone()[0])

    # -- writer helpers (worker thread) ---------------------------------------------
    def _guard(self, fn: Callable[[sqlite3.Connection], T]) -> Callable[[sqlite3.Connection], T]:
        """Wrap a write so a rolled-back table creation/drop cannot leave the cache wrong.

        A failing command is rolled back to its savepoint after it returns, so
        the cache is marked stale and reloaded by the next command.
        """

        def run(conn: sqlite3.Connection) -> T:
            if self._cache_stale:
                self._cache.reload(conn)
                self._cache_stale = False
            try:
                return fn(conn)
            except BaseException:
                self._cache_stale = True
                raise

        return run

    def _table_for(self, conn: sqlite3.Connection, kind: TableKind, context: str) -> EventTable:
        if kind is TableKind.CHANGE:
            return self._cache.ensure_change_table(conn, context.partition("/")[0])
        return FIXED_TABLES[kind]

    def _table_of_id(self, event_id: int) -> EventTable:
        table = self._cache.by_no.get(tables.table_no_of(event_id))
        if table is None:
            raise NotFound(f"event {event_id} not found", event_id=event_id)
        return table

    def _insert(
        self, conn: sqlite3.Connection, event: NewEvent, kind: TableKind, data_json: str
    ) -> Recorded:
        table = self._table_for(conn, kind, event.context)
        sql = insert_sql(table.name)
        key = dedup_key(event, data_json)
        open_row = conn.execute(sql.find_open, (key, event.created_ms)).fetchone()
        if open_row is not None:
            count = conn.execute(
                sql.count_duplicate, (event.created_ms, event.expires_ms, open_row[0])
            ).fetchone()[0]
            return Recorded(id=open_row[0], count=count, table=table.kind)
        self._seq += 1
        event_id = tables.encode_id(self._seq, table.no)
        conn.execute(
            sql.insert,
            (
                event_id,
                event.context,
                event.name,
                event.created_ms,
                event.created_ms,
                event.expires_ms,
                int(event.level),
                event.permissions,
                event.format,
                data_json,
                key,
            ),
        )
        return Recorded(id=event_id, count=1, table=table.kind)

    def _select_one(
        self, conn: sqlite3.Connection, table: EventTable, event_id: int
    ) -> EventRecord:
        event = fetch_one(
            conn,
            EventRecord,
            f"SELECT {EVENT_COLUMNS} FROM {quote_table(table.name)} WHERE id = ?",
            (event_id,),
            table=table.kind,
        )
        if event is None:
            raise NotFound(f"event {event_id} not found", event_id=event_id)
        return event

    # -- writing ---------------------------------------------------------------------
    async def record(self, event: NewEvent, kind: TableKind = TableKind.GENERAL) -> Recorded:
        """Record one event in a table of ``kind`` (deduplicated, see the module docstring).

        For ``TableKind.CHANGE`` the table is the context's device's, created on
        first use. Raises InvalidInput for a context whose device part cannot
        name a table (nothing is written).
        """
        return (await self.record_many([(event, kind)]))[0]

    async def record_many(self, events: Sequence[tuple[NewEvent, TableKind]]) -> list[Recorded]:
        """Record several events in one command (one transaction); results in order.

        All or nothing: if one event is refused, none is written.
        """
        prepared: list[tuple[NewEvent, TableKind, str]] = []
        for event, kind in events:
            if not isinstance(event, NewEvent) or not isinstance(kind, TableKind):
                raise InvalidInput("record_many takes (NewEvent, TableKind) pairs")
            if kind is TableKind.CHANGE:
                tables.change_table_name(event.device)  # refuse bad device ids up front
            prepared.append((event, kind, dump_json_object(event.data, "data")))
        if not prepared:
            return []

        def insert_all(conn: sqlite3.Connection) -> list[Recorded]:
            results = [self._insert(conn, e, k, d) for e, k, d in prepared]
            conn.execute("UPDATE event_sequence SET last_seq = ?", (self._seq,))
            return results

        return await self.write(self._guard(insert_all))

    async def acknowledge(self, event_id: int, *, user: str, comment: str = "") -> EventRecord:
        """Add an acknowledgement (who, now, comment) and close the event for deduplication.

        An event may be acknowledged more than once; each is kept. Raises
        NotFound for an unknown id, InvalidInput for an empty user.
        """
        _check_id(event_id)
        user = check_text(user, "user")
        if not isinstance(comment, str) or len(comment) > 2000:
            raise InvalidInput(
                "comment must be a string of at most 2000 characters", field="comment"
            )
        ack = to_json(Acknowledgement(user=user, ts_ms=self.clock.now_ms(), comment=comment))

        def update(conn: sqlite3.Connection) -> EventRecord:
            table = self._table_of_id(event_id)
            q = quote_table(table.name)
            row = conn.execute(
                f"UPDATE {q} SET acks = json_insert(acks, '$[#]', json(?)), open_key = NULL "
                f"WHERE id = ? RETURNING id",
                (json.dumps(ack), event_id),
            ).fetchone()
            if row is None:
                raise NotFound(f"event {event_id} not found", event_id=event_id)
            return self._select_one(conn, table, event_id)

        return await self.write(self._guard(update))

    async def enrich(self, event_id: int, *, name: str, value: Any, author: str) -> EventRecord:
        """Attach an enrichment (name, JSON value, author, now) to an event.

        Raises NotFound for an unknown id, InvalidInput for an empty name or
        author or a value that is not JSON.
        """
        _check_id(event_id)
        enrichment = Enrichment(
            name=check_text(name, "name"),
            value=value,
            author=check_text(author, "author"),
            ts_ms=self.clock.now_ms(),
        )
        text = dump_json_object(to_json(enrichment), "value")

        def update(conn: sqlite3.Connection) -> EventRecord:
            table = self._table_of_id(event_id)
            row = conn.execute(
                f"UPDATE {quote_table(table.name)} "
                f"SET enrichments = json_insert(enrichments, '$[#]', json(?)) "
                f"WHERE id = ? RETURNING id",
                (text, event_id),
            ).fetchone()
            if row is None:
                raise NotFound(f"event {event_id} not found", event_id=event_id)
            return self._select_one(conn, table, event_id)

        return await self.write(self._guard(update))

    async def delete_context(self, node_id: str) -> int:
        """Delete every event of ``node_id`` and of the contexts under it (``node_id/...``).

        If ``node_id`` is a device (it has no ``/``) its change table is dropped
        whole. Returns how many events went. Raises InvalidInput for an invalid id.
        """
        validate_node_id(node_id)
        # Contexts under node_id sort in [node_id + "/", node_id + "0"): '0' follows '/'.
        params = (node_id, node_id + "/", node_id + "0")

        def delete(conn: sqlite3.Connection) -> int:
            removed = 0
            if "/" not in node_id:
                removed += self._cache.drop_change_table(conn, node_id)
            for table in self._cache.for_context(node_id):
                removed += conn.execute(
                    f"DELETE FROM {quote_table(table.name)} "
                    f"WHERE context = ? OR (context >= ? AND context < ?)",
                    params,
                ).rowcount
            return removed

        return await self.write(self._guard(delete))

    async def drop_device_table(self, device: str) -> int:
        """Drop ``device``'s change table (if any); returns how many rows it held."""
        tables.change_table_name(device)

        def drop(conn: sqlite3.Connection) -> int:
            return self._cache.drop_change_table(conn, device)

        return await self.write(self._guard(drop))

    async def purge_expired(self, *, now_ms: int | None = None, batch: int = PURGE_BATCH) -> int:
        """Delete at most ``batch`` events whose expiration time is at or before ``now_ms``.

        One bounded command: call it in a loop until it returns less than
        ``batch``. ``now_ms`` defaults to the store's clock.
        """
        if not is_int(batch, minimum=1):
            raise InvalidInput(f"batch must be a positive integer, got {batch!r}", field="batch")
        cutoff = self.clock.now_ms() if now_ms is None else now_ms

        def purge(conn: sqlite3.Connection) -> int:
            left = batch
            for table in self._cache.tables():
                q = quote_table(table.name)
                left -= conn.execute(
                    f"DELETE FROM {q} WHERE id IN "
                    f"(SELECT id FROM {q} WHERE expires_ms <= ? LIMIT ?)",
                    (cutoff, left),
                ).rowcount
                if left == 0:
                    break
            return batch - left

        return await self.write(self._guard(purge))

    def statistics(self) -> StoreStatistics[EventLogStatistics]:
        """The actor's figures; ``detail`` has the table count and newest sequence number."""
        # Writer-thread state, read here: len() of a dict and an int are single reads.
        return self._statistics_with(
            EventLogStatistics(tables=len(self._cache.by_no), last_seq=self._seq)
        )

    # -- reading ---------------------------------------------------------------------
    async def tables(self) -> list[EventTable]:
        """Every event table, by number."""
        return await self.read(tables.load_tables)

    async def count_expired(self, *, now_ms: int | None = None) -> dict[str, int]:
        """How many events each table holds that a purge at ``now_ms`` would delete."""
        cutoff = self.clock.now_ms() if now_ms is None else now_ms

        def count(conn: sqlite3.Connection) -> dict[str, int]:
            return {
                t.name: int(
                    conn.execute(
                        f"SELECT count(*) FROM {quote_table(t.name)} WHERE expires_ms <= ?",
                        (cutoff,),
                    ).fetchone()[0]
                )
                for t in tables.load_tables(conn)
            }

        return await self.read(count)

    async def count(self) -> int:
        """How many events the log holds in all tables."""

        def count(conn: sqlite3.Connection) -> int:
            return sum(
                int(conn.execute(f"SELECT count(*) FROM {quote_table(t.name)}").fetchone()[0])
                for t in tables.load_tables(conn)
            )

        return await self.read(count)

    async def get(self, event_id: int) -> EventRecord:
        """The event with ``event_id``; NotFound when there is none."""
        _check_id(event_id)

        def select(conn: sqlite3.Connection) -> EventRecord:
            found = [t for t in tables.load_tables(conn) if t.no == tables.table_no_of(event_id)]
            if not found:
                raise NotFound(f"event {event_id} not found", event_id=event_id)
            return self._select_one(conn, found[0], event_id)

        return await self.read(select)

    async def query(
        self, query: EventQuery, *, limit: int = 100, cursor: EventCursor | None = None
    ) -> EventPage:
        """One page of events matching ``query``, after ``cursor`` in ``query.order``.

        ``limit`` is clamped to :data:`~opencrate.components.eventlog.records.MAX_PAGE`;
        ``next_cursor`` is ``None`` on the last page. Raises InvalidInput for a
        limit below 1.
        """
        limit = check_page_size(limit)

        def select(conn: sqlite3.Connection) -> EventPage:
            rows = list(itertools.islice(merged_rows(conn, query, cursor, limit + 1), limit + 1))
            more = len(rows) > limit
            events = tuple(rows[:limit])
            last = events[-1] if events else None
            next_cursor = (
                EventCursor(created_ms=last.created_ms, id=last.id) if more and last else None
            )
            return EventPage(events=events, next_cursor=next_cursor)

        return await self.read(select)

    async def iter_events(
        self, query: EventQuery, *, page_size: int = MAX_PAGE
    ) -> AsyncGenerator[EventRecord, None]:
        """Every event matching ``query``; one page (``page_size`` rows) in memory at a time.

        A caller that may stop early should wrap it in ``contextlib.aclosing``
        so the generator is finalized in its task, not by the garbage collector.
        """
        cursor: EventCursor | None = None
        while True:
            page = await self.query(query, limit=page_size, cursor=cursor)
            for event in page.events:
                yield event
            if page.next_cursor is None:
                return
            cursor = page.next_cursor


def _check_id(event_id: int) -> None:
    # Above MAX_ID sqlite3 raises a bare OverflowError when binding it.
    if not is_int(event_id, minimum=1):
        raise InvalidInput(
            f"event id must be a positive 64-bit integer, got {event_id!r}", field="id"
        )
