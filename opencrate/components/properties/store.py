"""PropertyStore: persistent per-context properties and binary blocks (``properties.db``, seed 004).

A property is ``(context, name) -> value``: a context path (``"devices/1001"``,
``"users.admin"``), a property name, and either a JSON value or bytes. The
workload is update-heavy (a device's value cache rewrites the same few
properties again and again), so:

Cache, group commit and coalescing
    Every property (without its blocks) is loaded into memory at open; reads
    (:meth:`PropertyStore.get`) never touch the disk. A write updates the
    cache and marks the property dirty; a flusher writes every dirty property
    in one command (one transaction), so many updates of one property between
    two flushes become **one** row write.

    :meth:`put` is *durable*: it returns only once the flush holding its
    update has committed (group commit: every caller waiting on that flush is
    released by the one commit). The flusher starts such a flush
    ``commit_delay_s`` after the first durable put since the last one (0 by
    default: puts that arrive while a flush is being written simply join the
    next one, which is what groups them under load). This is what the API
    uses: a 2xx means the value is on disk, and a ``kill -9`` loses nothing
    acknowledged.

    :meth:`put_write_behind` is the non-durable path, for internal callers
    that say so by name (a device value cache that is rewritten every few
    seconds anyway): it returns once cached, and its update is written with
    the next flush, at the latest ``flush_interval_s`` after the first such
    update; a crash loses at most that interval of them. While nothing is
    dirty the flusher sets no timer. :meth:`aclose` flushes before the actor
    stops. When more than ``max_dirty`` properties are dirty, a write flushes
    at once (bounded memory). ``coalesce=False`` writes every update through
    in its own command (for the benchmark that shows what coalescing buys).

    A durable put whose flush fails (disk full, read-only file) raises the
    store's error (:class:`~opencrate.errors.StorageFull`,
    :class:`~opencrate.errors.StoreUnavailable`): it is not acknowledged. Its
    update stays cached and dirty and is retried with every later flush, so
    it may still be stored once the cause goes away; the store is
    ``degraded`` in health until a flush commits.

Binary values and blocks
    Bytes up to ``blob_threshold`` are kept inline in the property row. Larger
    ones are split into ``chunk_size`` blocks in ``property_block`` and
    written through at once (not coalesced); :meth:`get` returns a
    :class:`BlobRef` (size, SHA-256, chunk count), never the bytes.
    :meth:`iter_blob` loads one block per read, so streaming a large value
    costs one chunk of memory. Deleting or replacing the property deletes its
    blocks (``ON DELETE CASCADE`` plus an explicit delete on replace).

Schema (version 1)::

    property(context, name, kind ('json' | 'bytes' | 'blob'), data JSON, inline BLOB,
             size, sha256, chunks, updated_ms, PRIMARY KEY (context, name)) WITHOUT ROWID
    property_block(context, name, seq, bytes,
                   PRIMARY KEY (context, name, seq)) WITHOUT ROWID  -- FK -> property

Errors: InvalidInput for a bad context, name or value (nothing stored; the
old value stays), NotFound for a property that does not exist, Conflict when
a blob is replaced while it is being streamed, StoreClosed after
:meth:`aclose`, StorageFull / StoreUnavailable when a durable write could not
be stored. Cancellation: a flush already sent to the actor completes; a
cancelled ``put`` either happened (cache + dirty: it will be written) or did
not.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import sqlite3
from collections.abc import AsyncGenerator, Mapping
from functools import partial
from pathlib import Path

import trio
from attrs import frozen

from opencrate.clock import Clock
from opencrate.components.properties.settings import PropertySettings
from opencrate.components.properties.values import (
    BlobRef,
    PropertyValue,
    StoredValue,
    check_context,
    check_name,
    dump_json,
)
from opencrate.errors import Conflict, InvalidInput, NotFound, StoreClosed, StoreError
from opencrate.runtime.actor import StoreActor, StoreStatistics
from opencrate.runtime.progress import Progress
from opencrate.runtime.records import named_rows

__all__ = ["PropertyStore", "PropertyStoreStatistics"]

log = logging.getLogger(__name__)

_SCHEMA_V1 = """
CREATE TABLE property (
    context     TEXT NOT NULL,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('json', 'bytes', 'blob')),
    data        TEXT CHECK (data IS NULL OR json_valid(data)),
    inline      BLOB,
    size        INTEGER,
    sha256      TEXT,
    chunks      INTEGER,
    updated_ms  INTEGER NOT NULL,
    PRIMARY KEY (context, name)
) WITHOUT ROWID;
CREATE TABLE property_block (
    context TEXT NOT NULL,
    name    TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    bytes   BLOB NOT NULL,
    PRIMARY KEY (context, name, seq),
    FOREIGN KEY (context, name) REFERENCES property (context, name) ON DELETE CASCADE
) WITHOUT ROWID;
"""

_UPSERT = (
    "INSERT INTO property (context, name, kind, data, inline, size, sha256, chunks, updated_ms) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (context, name) DO UPDATE SET "
    "kind = excluded.kind, data = excluded.data, inline = excluded.inline, "
    "size = excluded.size, sha256 = excluded.sha256, chunks = excluded.chunks, "
    "updated_ms = excluded.updated_ms"
)


@frozen(kw_only=True)
class PropertyStoreStatistics:
    cached: int  # properties in memory
    dirty: int  # waiting for the next flush
    updates: int  # put() and put_write_behind() calls accepted
    durable_updates: int  # of which put(): acknowledged after their flush committed
    rows_written: int  # property rows written (after coalescing)
    flushes: int
    flush_failures: int  # flushes that could not be written (their rows stay dirty)
    blobs_written: int
    blocks_read: int


class _Flush:
    """The flush a durable put waits for: released (or failed) by one commit."""

    def __init__(self) -> None:
        self.done = trio.Event()
        self.error: BaseException | None = None
        self.waiters = 0


@frozen(kw_only=True)
class _Row:
    """One property row to write (a JSON value or small bytes; blobs go their own way)."""

    context: str
    name: str
    kind: str
    data: str | None
    inline: bytes | None
    updated_ms: int

    def params(self) -> tuple[object, ...]:
        size = None if self.inline is None else len(self.inline)
        digest = None if self.inline is None else hashlib.sha256(self.inline).hexdigest()
        return (self.context, self.name, self.kind, self.data, self.inline, size, digest, None,
                self.updated_ms)  # fmt: skip


class PropertyStore(StoreActor):
    """Cached properties, durable by group commit, with binary blocks; see the module docstring."""

    name = "properties"
    migrations = (_SCHEMA_V1,)

    def __init__(
        self,
        path: Path | str,
        *,
        clock: Clock | None = None,
        flush_interval_s: float = 1.0,
        commit_delay_s: float = 0.0,
        coalesce: bool = True,
        max_dirty: int = 10_000,
        blob_threshold: int = 64 * 1024,
        chunk_size: int = 64 * 1024,
    ) -> None:
        if not (flush_interval_s > 0 and math.isfinite(flush_interval_s)):
            raise InvalidInput("flush interval must be a positive number of seconds")
        if not (commit_delay_s >= 0 and math.isfinite(commit_delay_s)):
            raise InvalidInput("commit delay must be a number of seconds >= 0")
        if chunk_size < 1 or blob_threshold < 0 or max_dirty < 1:
            raise InvalidInput("chunk size and max dirty must be >= 1, blob threshold >= 0")
        super().__init__(path, clock=clock)
        self._flush_interval_s = flush_interval_s
        self._commit_delay_s = commit_delay_s
        self._coalesce = coalesce
        self._max_dirty = max_dirty
        self._blob_threshold = blob_threshold
        self._chunk_size = chunk_size
        self._cache: dict[tuple[str, str], StoredValue] = {}
        self._dirty: dict[tuple[str, str], _Row] = {}
        self._flush_lock = trio.Lock()
        self._closing = False
        self._stop_flusher = trio.Event()
        # Set when the first property becomes dirty.
        self._wake = trio.Event()
        self._durable = trio.Event()  # set by a durable put: flush now, not at the interval
        self._next_flush = _Flush()  # what the puts since the last flush wait for
        self._updates = self._durable_updates = self._rows_written = self._flushes = 0
        self._flush_failures = 0
        self._flushed = Progress()
        self._blobs_written = self._blocks_read = 0
        self._blocks_progress = Progress()

    @classmethod
    def from_section(
        cls, path: Path | str, section: object, *, clock: Clock | None = None
    ) -> PropertyStore:
        """A store configured by the ``[properties]`` settings table (``None``: defaults).

        Raises ConfigError naming the key; see :mod:`opencrate.components.properties.settings`.
        """
        settings = PropertySettings.from_section(section)
        return cls(
            path,
            clock=clock,
            flush_interval_s=settings.flush_interval_s,
            max_dirty=settings.max_dirty,
            blob_threshold=settings.blob_threshold,
            chunk_size=settings.chunk_size,
        )

    # -- lifecycle ---------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the actor and the flusher; returns after :meth:`aclose`."""
        async with trio.open_nursery() as nursery:
            await nursery.start(super().run)
            nursery.start_soon(self._flush_loop)
            task_status.started()

    async def aclose(self) -> None:
        """Refuse new writes, flush what is dirty, then drain and close the actor. Idempotent."""
        try:
            if not self._closing:
                self._closing = True
                self._stop_flusher.set()
                self._wake.set()
                self._durable.set()
                if self._running:
                    with trio.CancelScope(shield=True):
                        await self.flush()
        finally:
            # Even when the last flush failed (it raises), the actor must stop.
            await super().aclose()

    def on_open(self, conn: sqlite3.Connection) -> None:
        rows = named_rows(
            conn, "SELECT context, name, kind, data, inline, size, sha256, chunks FROM property"
        )
        for row in rows:
            value: StoredValue
            if row["kind"] == "json":
                value = json.loads(row["data"])
            elif row["kind"] == "bytes":
                value = bytes(row["inline"])
            else:
                value = BlobRef(size=row["size"], sha256=row["sha256"], chunks=row["chunks"])
            self._cache[(row["context"], row["name"])] = value

    # -- writes ------------------------------------------------------------------
    async def put(self, context: str, name: str, value: PropertyValue) -> StoredValue:
        """Set a property, durably; returns what :meth:`get` will now return.

        Returns once the update is committed to disk (it waits for the flush
        that holds it; see the module docstring); larger bytes are written to
        blocks before this returns. Raises InvalidInput for a bad context or
        name or a value that is not JSON (NaN, sets, ...): nothing changes.
        StorageFull or StoreUnavailable when the flush could not be written
        (not acknowledged; the update stays dirty and is retried).
        StoreClosed after :meth:`aclose`.
        """
        return await self._put(context, name, value, durable=True)

    async def put_write_behind(self, context: str, name: str, value: PropertyValue) -> StoredValue:
        """Set a property and return once it is cached; it is written with the next flush.

        **Not durable**: a crash loses the updates of at most one flush
        interval. Only for internal callers whose values are rewritten
        soon anyway (a device value cache); never for an API write. Errors
        as :meth:`put` (a flush failure is logged, not raised: the update
        stays dirty and is retried).
        """
        return await self._put(context, name, value, durable=False)

    async def _put(
        self, context: str, name: str, value: PropertyValue, *, durable: bool
    ) -> StoredValue:
        key = (check_context(context), check_name(name))
        self._check_open()
        if isinstance(value, bytes | bytearray | memoryview):
            data = bytes(value)
            if len(data) > self._blob_threshold:
                return await self._put_blob(key, data)
            row = _Row(context=key[0], name=key[1], kind="bytes", data=None, inline=data,
                       updated_ms=self.clock.now_ms())  # fmt: skip
            stored: StoredValue = data
        else:
            text = dump_json(value, f"{context}/{name}")
            row = _Row(context=key[0], name=key[1], kind="json", data=text, inline=None,
                       updated_ms=self.clock.now_ms())  # fmt: skip
            # Cache what a reload would give: a decoded copy of anything but a plain
            # scalar (the caller may mutate its list; a tuple comes back a list).
            scalar = value is None or type(value) in (str, int, float, bool)
            stored = value if scalar else json.loads(text)
        self._updates += 1
        if durable:
            self._durable_updates += 1
        if not self._coalesce:
            await self.write(partial(_write_rows, rows=[row]))
            self._rows_written += 1
            self._cache[key] = stored
            return stored
        self._cache[key] = stored
        self._dirty[key] = row
        flush = self._next_flush
        self._wake.set()
        if durable:
            flush.waiters += 1
            self._durable.set()
        if len(self._dirty) >= self._max_dirty:
            await self.flush()
        elif not durable:
            await trio.lowlevel.checkpoint()
        if durable:
            await flush.done.wait()
            if flush.error is not None:
                raise flush.error
        return stored

    async def delete(self, context: str, name: str) -> None:
        """Delete a property and its blocks (written through). NotFound if it does not exist."""
        key = (check_context(context), check_name(name))
        self._check_open()
        async with self._flush_lock:
            if key not in self._cache:  # checked under the lock: a delete may have won
                raise NotFound(f"no property {name!r} in context {context!r}", context=context)
            value = self._cache.pop(key)
            displaced = self._dirty.pop(key, None)
            try:
                with trio.CancelScope(shield=True):
                    await self.write(partial(_delete_row, key=key))
            except BaseException:
                # Not deleted: the property is still there, with its acknowledged
                # value, unless a put() meanwhile set a newer one.
                self._cache.setdefault(key, value)
                self._restore_dirty(key, displaced)
                raise

    async def flush(self) -> int:
        """Write every dirty property now, in one command; returns how many rows.

        Releases the durable puts waiting for it when it commits; when it
        fails they get its error, the rows stay dirty, and it raises too.
        """
        async with self._flush_lock:
            if not self._dirty:
                return 0
            rows = list(self._dirty.values())
            self._dirty = {}
            flush, self._next_flush = self._next_flush, _Flush()
            try:
                with trio.CancelScope(shield=True):
                    await self.write(partial(_write_rows, rows=rows))
            except BaseException as exc:
                # Not written: put back what no newer put() has replaced meanwhile.
                for row in rows:
                    self._restore_dirty((row.context, row.name), row)
                self._flush_failures += 1
                flush.error = exc
                flush.done.set()
                raise
            self._flushes += 1
            self._rows_written += len(rows)
            self._flushed.add()
            flush.done.set()
            return len(rows)

    async def wait_flushes(self, n: int) -> None:
        """Return once at least ``n`` flushes have written (the write-behind loop's or yours)."""
        await self._flushed.wait(n)

    async def wait_blocks_read(self, n: int) -> None:
        """Return once at least ``n`` blob blocks have been read (by :meth:`iter_blob`)."""
        await self._blocks_progress.wait(n)

    # -- reads -------------------------------------------------------------------
    def get(self, context: str, name: str) -> StoredValue:
        """The property's value from the cache (no I/O): JSON, small bytes or a :class:`BlobRef`.

        Raises NotFound when it does not exist, InvalidInput for a bad context or name.
        """
        key = (check_context(context), check_name(name))
        try:
            return self._cache[key]
        except KeyError:
            raise NotFound(
                f"no property {name!r} in context {context!r}", context=context
            ) from None

    def names(self, context: str) -> list[str]:
        """The property names of ``context``, sorted (cache, no I/O)."""
        context = check_context(context)
        return sorted(name for ctx, name in self._cache if ctx == context)

    def contents(self, context: str) -> Mapping[str, StoredValue]:
        """Every property of ``context`` by name (cache, no I/O)."""
        return {name: self._cache[(context, name)] for name in self.names(context)}

    async def iter_blob(self, context: str, name: str) -> AsyncGenerator[bytes, None]:
        """The bytes of a binary property, one block per read (small bytes in one piece).

        Raises NotFound for no such property, InvalidInput when it is not
        binary, Conflict when it is replaced or deleted while streaming.
        """
        value = self.get(context, name)
        if isinstance(value, bytes):
            yield value
            return
        if not isinstance(value, BlobRef):
            raise InvalidInput(f"property {context}/{name} is not binary", field="name")
        for seq in range(value.chunks):
            chunk = await self.read(
                partial(_read_block, context=context, name=name, seq=seq, sha256=value.sha256)
            )
            if chunk is None:
                raise Conflict(f"property {context}/{name} changed while it was being read")
            self._blocks_read += 1
            self._blocks_progress.add()
            yield chunk

    def statistics(self) -> StoreStatistics[PropertyStoreStatistics]:
        """The actor's figures; ``detail`` has the cache and flush counters."""
        return self._statistics_with(self._property_statistics())

    def _property_statistics(self) -> PropertyStoreStatistics:
        return PropertyStoreStatistics(
            cached=len(self._cache),
            dirty=len(self._dirty),
            updates=self._updates,
            durable_updates=self._durable_updates,
            rows_written=self._rows_written,
            flushes=self._flushes,
            flush_failures=self._flush_failures,
            blobs_written=self._blobs_written,
            blocks_read=self._blocks_read,
        )

    # -- helpers -----------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closing or self.closed or not self._running:
            raise StoreClosed(f"store {self.name} is not running", store=self.name)

    def _restore_dirty(self, key: tuple[str, str], row: _Row | None) -> None:
        """Mark ``row`` dirty again after a failed write, unless a newer put() replaced it."""
        if row is not None:
            self._dirty.setdefault(key, row)
            self._wake.set()

    async def _flush_loop(self) -> None:
        while not self._stop_flusher.is_set():
            if not self._dirty:
                # Idle: no timer at all until something is dirty. A timer ticking
                # while idle would, under autojump_clock, let virtual time run away
                # whenever any task waits on a worker thread.
                self._wake = trio.Event()
                await self._wake.wait()
                continue
            if not self._next_flush.waiters:
                # Only write-behind updates: the interval runs from the first of
                # them, unless a durable put (or aclose) comes first.
                self._durable = trio.Event()
                with trio.move_on_after(self._flush_interval_s):
                    await self._durable.wait()
            elif self._commit_delay_s > 0:
                # Let more durable puts join this flush; later ones join the next.
                await trio.sleep(self._commit_delay_s)
            if self._stop_flusher.is_set():
                return  # aclose() does the last flush
            try:
                await self.flush()
            except StoreClosed:
                return
            except StoreError as exc:
                # Kept dirty by flush() and retried after the interval (which is
                # also what notices the store recovering); the durable callers got
                # the error; the actor logged the store degraded, once.
                log.debug("properties: flush failed: %s", exc)
            except Exception:
                log.exception("properties: flush failed")

    async def _put_blob(self, key: tuple[str, str], data: bytes) -> BlobRef:
        now = self.clock.now_ms()
        size = self._chunk_size

        def write_blocks(conn: sqlite3.Connection) -> BlobRef:
            # Hashing and slicing run here, in the actor's thread, not in the trio loop.
            ref = BlobRef(
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                chunks=-(-len(data) // size),
            )
            conn.execute(_UPSERT, (*key, "blob", None, None, ref.size, ref.sha256, ref.chunks, now))
            conn.execute("DELETE FROM property_block WHERE context = ? AND name = ?", key)
            conn.executemany(
                "INSERT INTO property_block (context, name, seq, bytes) VALUES (?, ?, ?, ?)",
                ((*key, seq, data[seq * size : (seq + 1) * size]) for seq in range(ref.chunks)),
            )
            return ref

        async with self._flush_lock:
            # A pending small value of this property must not overwrite the blob later.
            displaced = self._dirty.pop(key, None)
            try:
                with trio.CancelScope(shield=True):
                    ref = await self.write(write_blocks)
            except BaseException:
                # The blob is not stored: the acknowledged small value must still be.
                self._restore_dirty(key, displaced)
                raise
            if key not in self._dirty:  # else a newer put() won while we wrote
                self._cache[key] = ref
        self._updates += 1
        self._blobs_written += 1
        self._rows_written += 1
        return ref


def _write_rows(conn: sqlite3.Connection, *, rows: list[_Row]) -> None:
    conn.executemany(_UPSERT, (row.params() for row in rows))
    # A property that was a blob and is now small: its blocks go.
    conn.executemany(
        "DELETE FROM property_block WHERE context = ? AND name = ?",
        ((row.context, row.name) for row in rows),
    )


def _delete_row(conn: sqlite3.Connection, *, key: tuple[str, str]) -> None:
    conn.execute("DELETE FROM property WHERE context = ? AND name = ?", key)  # blocks cascade


def _read_block(
    conn: sqlite3.Connection, *, context: str, name: str, seq: int, sha256: str
) -> bytes | None:
    # The join checks the blob is still the one the reference names.
    row = conn.execute(
        "SELECT b.bytes FROM property_block AS b JOIN property AS p "
        "ON p.context = b.context AND p.name = b.name "
        "WHERE b.context = ? AND b.name = ? AND b.seq = ? AND p.sha256 = ? AND p.kind = 'blob'",
        (context, name, seq, sha256),
    ).fetchone()
    return None if row is None else bytes(row[0])
