"""The store actor: one task, one SQLite file, commands over a bounded channel.

::

    caller --(Command: fn + reply slot)--> memory channel --> actor task
                                                        |  trio.to_thread (limiter 1)
    caller <------------- reply ------------------------+  sqlite3 (WAL) --> data/<name>.db

* **Group commit.** The actor takes one command, then every command already
  queued (up to ``max_batch``), and runs them in one thread hop and one
  transaction. Each command runs inside its own SAVEPOINT, so one failing
  command rolls back only itself: every caller gets its own reply or its own
  error. ``group_commit=False`` gives one transaction per command (for the
  benchmark that shows why we don't).
* **Errors** from ``sqlite3`` are translated (``IntegrityError`` ->
  :class:`~opencrate.errors.Conflict`, everything else ->
  :class:`~opencrate.errors.StoreError`) and carry the store's name.
* **Reads** that need no ordering with writes use a second, read-only
  connection with its own limiter; WAL lets them run beside the writer. A reply
  to a write is sent only after its transaction committed, so a read issued
  after it sees it.
* **Corrupt files** are moved aside (:func:`~opencrate.runtime.sqlite.quarantine`),
  recorded in :attr:`StoreActor.quarantined`, and recreated empty.
* :meth:`aclose` stops taking commands, runs the ones already queued, commits
  and closes the connections once any read in flight has finished (a read
  that was still waiting gets :class:`~opencrate.errors.StoreClosed`). It is
  idempotent.

Cancellation: once a command is on the channel it will run even if its caller
is cancelled while waiting for the reply (the reply is then dropped). SQL is
never interrupted half-way; a running batch always finishes.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, ClassVar, Generic, Self, TypeVar

import outcome
import trio
from attrs import AttrsInstance, frozen

from opencrate.clock import Clock, SystemClock
from opencrate.errors import Conflict, OpenCrateError, StoreClosed, StoreError
from opencrate.runtime import sqlite as sq

__all__ = ["Command", "StoreActor", "StoreStatistics"]

log = logging.getLogger(__name__)

T = TypeVar("T")
D = TypeVar("D", bound=AttrsInstance | None)
DetailT = TypeVar("DetailT", bound=AttrsInstance | None, covariant=True)


class _Reply(Generic[T]):
    """A one-shot reply slot: the actor fills it, the caller waits for it."""

    __slots__ = ("done", "result")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.result: outcome.Outcome[T] | None = None

    def set(self, result: outcome.Outcome[T]) -> None:
        self.result = result
        self.done.set()

    async def wait(self) -> T:
        await self.done.wait()
        assert self.result is not None
        return self.result.unwrap()


@frozen
class Command(Generic[T]):
    """A unit of work for the actor: ``fn(connection)`` and where its reply goes."""

    fn: Callable[[sqlite3.Connection], T]
    reply: _Reply[T]


@frozen(kw_only=True)
class StoreStatistics(Generic[DetailT]):
    """The actor's figures, the same for every store, and ``detail``: the store's own.

    ``detail`` is a frozen record of the store's kind (``AlarmStore`` gives
    ``AlarmStatistics``), or ``None`` for a store with no figures of its own.
    """

    name: str
    path: str
    schema_version: int
    queue_depth: int
    queue_capacity: int
    commands_served: int
    commands_failed: int
    batches: int
    last_batch_size: int
    max_batch_size: int
    last_commit_ms: int | None
    quarantined: sq.QuarantineRecord | None
    closed: bool
    detail: DetailT


def _translate(exc: Exception, store: str) -> Exception:
    if isinstance(exc, OpenCrateError) or not isinstance(exc, sqlite3.Error):
        return exc
    if isinstance(exc, sqlite3.IntegrityError):
        err: OpenCrateError = Conflict(f"{store}: {exc}", store=store)
    else:
        err = StoreError(f"{store}: {exc}", store=store)
    err.__cause__ = exc
    return err


class StoreActor:
    """Base class of every SQLite-backed store.

    Subclasses set ``name`` and ``migrations`` and add typed async methods that
    call :meth:`write` or :meth:`read` with a function of the connection. They
    may override :meth:`on_open` to load caches in the worker thread at start.
    """

    name: ClassVar[str] = "store"
    migrations: ClassVar[Sequence[sq.Migration]] = ()

    def __init__(
        self,
        path: Path | str,
        *,
        capacity: int = 1024,
        max_batch: int = 512,
        group_commit: bool = True,
        clock: Clock | None = None,
    ) -> None:
        self.path = Path(path)
        self.clock: Clock = clock or SystemClock()
        self._capacity = capacity
        self._max_batch = max_batch if group_commit else 1
        self._send, self._receive = trio.open_memory_channel[Command[Any]](capacity)
        self._write_limiter = trio.CapacityLimiter(1)
        self._read_limiter = trio.CapacityLimiter(1)
        self._conn: sqlite3.Connection | None = None
        self._read_conn: sqlite3.Connection | None = None
        self._stopped = trio.Event()
        self._running = False
        self._closed = False
        self.schema_version = 0
        self.quarantined: sq.QuarantineRecord | None = None
        self._served = self._failed = self._batches = 0
        self._last_batch = self._max_seen_batch = 0
        self._last_commit_ms: int | None = None

    # -- lifecycle ---------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Open (quarantining a corrupt file), migrate, then serve commands until closed."""
        if self._closed:
            raise StoreClosed(f"store {self.name} is closed", store=self.name)
        if self._running or self._conn is not None:
            raise StoreError(f"store {self.name} is already running", store=self.name)
        await trio.to_thread.run_sync(self._open, limiter=self._write_limiter)
        self._running = True
        task_status.started()
        try:
            async for first in self._receive:
                batch = [first]
                try:
                    while len(batch) < self._max_batch:
                        batch.append(self._receive.receive_nowait())
                except trio.WouldBlock:
                    pass
                results = await trio.to_thread.run_sync(
                    self._run_batch, batch, limiter=self._write_limiter
                )
                for command, result in zip(batch, results, strict=True):
                    command.reply.set(result)
        finally:
            self._closed = True
            self._running = False
            # Anything still queued (we were cancelled) is refused, not left hanging;
            # closing the receive end makes later sends fail at once.
            while True:
                try:
                    self._receive.receive_nowait().reply.set(
                        outcome.Error(StoreClosed(f"store {self.name} closed", store=self.name))
                    )
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
            self._receive.close()
            with trio.CancelScope(shield=True):
                # Holding the read limiter too: a read in flight is using the read
                # connection in its own thread, and must finish before it closes.
                async with self._read_limiter:
                    await trio.to_thread.run_sync(
                        self._close_connections, limiter=self._write_limiter
                    )
            self._stopped.set()

    async def aclose(self) -> None:
        """Stop taking commands, finish the queued ones, commit and close. Idempotent."""
        if self._closed and not self._running:
            self._stopped.set()
            return
        self._closed = True
        await self._send.aclose()
        if self._running:
            await self._stopped.wait()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Self]:
        """Run the actor for the body of an ``async with`` (tests and CLI commands)."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self.run)
            try:
                yield self
            finally:
                with trio.CancelScope(shield=True):
                    await self.aclose()

    # -- calls -------------------------------------------------------------------
    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` in the writer's transaction (grouped with other queued writes)."""
        if self._closed:
            raise StoreClosed(f"store {self.name} is closed", store=self.name)
        reply: _Reply[T] = _Reply()
        try:
            await self._send.send(Command(fn, reply))
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise StoreClosed(f"store {self.name} is closed", store=self.name) from None
        return await reply.wait()

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` on the read-only connection, beside the writer."""
        if self._read_conn is None or self._closed:
            raise StoreClosed(f"store {self.name} is not open", store=self.name)
        return await trio.to_thread.run_sync(self._run_read, fn, limiter=self._read_limiter)

    def statistics(self) -> StoreStatistics[AttrsInstance | None]:
        """The actor's figures. A store with figures of its own overrides this,
        narrowing the type: ``return self._statistics_with(MyStatistics(...))``."""
        return self._statistics_with(None)

    def _statistics_with(self, detail: D) -> StoreStatistics[D]:
        return StoreStatistics(
            name=self.name,
            path=str(self.path),
            schema_version=self.schema_version,
            queue_depth=self._receive.statistics().current_buffer_used,
            queue_capacity=self._capacity,
            commands_served=self._served,
            commands_failed=self._failed,
            batches=self._batches,
            last_batch_size=self._last_batch,
            max_batch_size=self._max_seen_batch,
            last_commit_ms=self._last_commit_ms,
            quarantined=self.quarantined,
            closed=self._closed,
            detail=detail,
        )

    # -- hooks -------------------------------------------------------------------
    def on_open(self, conn: sqlite3.Connection) -> None:
        """Called in the worker thread after migrations; load caches here."""

    def after_commit(self, results: Sequence[outcome.Outcome[Any]]) -> None:
        """Called in the worker thread after a batch committed, before any caller wakes.

        ``results`` are the batch's outcomes in order; a ``Value`` means that
        command's work is now durable. Stores with a cache apply exactly those
        changes here, so the cache never shows uncommitted state and a caller
        cancelled mid-write cannot leave it behind. Not called when the commit
        itself failed.
        """

    # -- worker thread -----------------------------------------------------------
    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = None
        try:
            conn = sq.connect(self.path)
            sq.probe(conn)
        except sqlite3.DatabaseError as exc:
            if conn is not None:
                conn.close()
            if not sq.is_corruption(exc):
                raise StoreError(f"store {self.name}: cannot open {self.path}: {exc}") from exc
            self.quarantined = sq.quarantine(self.name, self.path, str(exc), self.clock.now_ms())
            conn = sq.connect(self.path)
        try:
            self.schema_version = sq.migrate(conn, self.name, self.migrations)
            self.on_open(conn)
            self._read_conn = sq.connect(self.path, read_only=True)
        except Exception as exc:
            conn.close()
            # on_open reads tables: a damaged page or a lock shows up here first.
            err = _translate(exc, self.name)
            raise err from err.__cause__
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _run_read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._read_conn
        if conn is None:  # closed while this read waited for the limiter
            raise StoreClosed(f"store {self.name} is not open", store=self.name)
        try:
            return fn(conn)
        except Exception as exc:
            # Keeps the sqlite3 error as the cause (exc.__cause__ is usually None).
            err = _translate(exc, self.name)
            raise err from err.__cause__

    def _run_batch(self, batch: list[Command[Any]]) -> list[outcome.Outcome[Any]]:
        conn = self._conn
        assert conn is not None
        results: list[outcome.Outcome[Any]] = []
        single = len(batch) == 1
        try:
            conn.execute("BEGIN IMMEDIATE")
            for command in batch:
                if single:
                    results.append(outcome.capture(command.fn, conn))
                    continue
                conn.execute("SAVEPOINT command")
                result = outcome.capture(command.fn, conn)
                if isinstance(result, outcome.Error):
                    conn.execute("ROLLBACK TO command")
                conn.execute("RELEASE command")
                results.append(result)
            if single and isinstance(results[0], outcome.Error):
                conn.execute("ROLLBACK")
            else:
                conn.execute("COMMIT")
                self.after_commit(results)
        except sqlite3.Error as exc:
            # BEGIN or COMMIT itself failed (disk full, I/O error): nothing committed.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            failure = _translate(exc, self.name)
            results = [outcome.Error(failure) for _ in batch]
        self._batches += 1
        self._last_batch = len(batch)
        self._max_seen_batch = max(self._max_seen_batch, len(batch))
        self._last_commit_ms = self.clock.now_ms()
        self._served += len(batch)
        for i, result in enumerate(results):
            if isinstance(result, outcome.Error):
                self._failed += 1
                if isinstance(result.error, Exception):
                    results[i] = outcome.Error(_translate(result.error, self.name))
        return results

    def _close_connections(self) -> None:
        # Reader first: the last connection to close checkpoints and removes the
        # -wal/-shm files, and a read-only connection is not allowed to.
        for conn in (self._read_conn, self._conn):
            if conn is not None:
                conn.close()
        self._conn = self._read_conn = None
