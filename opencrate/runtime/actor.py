"""The store actor: one task, one SQLite file, commands over a bounded channel.

The channel, reply slots and draining are the generic
:class:`~opencrate.runtime.thread_actor.ThreadActor`; this module adds the
SQLite part (the connections, one transaction per batch, migrations).

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
* **Errors** from ``sqlite3`` are translated at one boundary
  (:func:`sqlite_errors`, an :func:`~opencrate.errors.map_exceptions`):
  ``IntegrityError`` -> :class:`~opencrate.errors.Conflict`; a full disk
  (``SQLITE_FULL``) -> :class:`~opencrate.errors.StorageFull`; a file that
  cannot be written now (``SQLITE_READONLY``, ``IOERR``, ``CANTOPEN``,
  ``BUSY``, ...) -> :class:`~opencrate.errors.StoreUnavailable`; every other
  ``sqlite3`` exception -> :class:`~opencrate.errors.StoreError`; all naming
  the store.
* **Degraded**: a batch that failed with :class:`~opencrate.errors.StoreUnavailable`
  (a write could not be stored: disk full, read-only, I/O error) makes the
  store *degraded* (:attr:`StoreStatistics.fault`: the code, the reason, since
  when, how many failures); health reports it. Nothing of a failed batch is
  acknowledged. The next batch that commits a write clears it: the store
  recovers by itself when the cause goes away (space freed). The first failure
  and the recovery are logged once each, at WARNING and INFO.
* **Writable at open**: the file is opened for writing and a write is tried
  (and rolled back) before the store counts as started, so a ``*.db`` that can
  only be read (permissions, an immutable file) fails the start with a
  :class:`~opencrate.errors.StoreError` naming the file and the cause, instead
  of answering every write with an error later.
* **Broken**: when the actor's task ends with an error (its file could not be
  opened, or a batch failed in a way no command caught), queued and later
  callers get :class:`~opencrate.errors.StoreBroken` naming the store, caused
  by that error; :class:`~opencrate.errors.StoreClosed` means it was closed.
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

import contextlib
import functools
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, Generic, Self, TypeVar

import attrs
import outcome
import trio
from attrs import AttrsInstance, frozen

from opencrate.clock import Clock, SystemClock
from opencrate.errors import (
    Conflict,
    MapTarget,
    OpenCrateError,
    StorageFull,
    StoreClosed,
    StoreError,
    StoreUnavailable,
    map_exceptions,
)
from opencrate.runtime import sqlite as sq
from opencrate.runtime.thread_actor import ThreadActor

__all__ = [
    "SQLITE_EXCEPTIONS",
    "StoreActor",
    "StoreFault",
    "StoreStatistics",
    "sqlite_error_class",
    "sqlite_errors",
]

log = logging.getLogger(__name__)

T = TypeVar("T")
D = TypeVar("D", bound=AttrsInstance | None)
DetailT = TypeVar("DetailT", bound=AttrsInstance | None, covariant=True)

#: Every exception ``sqlite3`` raises, most specific first, and what it becomes.
#: ``OverflowError`` is sqlite3's answer to an int it cannot bind (beyond 64 bits).
SQLITE_EXCEPTIONS: Mapping[type[Exception], type[OpenCrateError]] = {
    sqlite3.IntegrityError: Conflict,
    sqlite3.Error: StoreError,
    sqlite3.Warning: StoreError,
    OverflowError: StoreError,
}


#: SQLite's primary result codes that mean "this file cannot be written now":
#: not the caller's fault, not a bug, and possibly gone by the next try.
_UNAVAILABLE_CODES = frozenset(
    {
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_PERM,
        sqlite3.SQLITE_PROTOCOL,
        sqlite3.SQLITE_NOLFS,
    }
)


def sqlite_error_class(exc: BaseException) -> type[OpenCrateError]:
    """What a ``sqlite3`` exception becomes: by its result code, then by its type."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        primary = code & 0xFF
        if primary == sqlite3.SQLITE_FULL:
            return StorageFull
        if primary in _UNAVAILABLE_CODES:
            return StoreUnavailable
    for source, target in SQLITE_EXCEPTIONS.items():
        if isinstance(exc, source):
            return target
    return StoreError


def _store_error(store: str) -> MapTarget:
    def build(exc: Exception) -> OpenCrateError:
        target = sqlite_error_class(exc)
        if issubclass(target, StoreUnavailable):
            # An operator reads this one (health, a 503): say which store cannot write.
            return target(f"store {store} cannot write: {exc}", store=store)
        return target(f"{store}: {exc}", store=store)

    return build


@functools.cache
def _mapping(store: str) -> Mapping[type[BaseException], MapTarget]:
    return {source: _store_error(store) for source in SQLITE_EXCEPTIONS}


@contextlib.contextmanager
def sqlite_errors(store: str) -> Iterator[None]:
    """The sqlite3 boundary: its exceptions leave as OpenCrate ones naming ``store``.

    The sqlite3 exception stays as ``__cause__``.
    """
    with map_exceptions(_mapping(store)):
        yield


def _mapped(exc: Exception, store: str) -> Exception:
    """``exc`` as it leaves :func:`sqlite_errors` (for an exception already caught)."""
    try:
        with sqlite_errors(store):
            raise exc
    except Exception as mapped:
        return mapped


@frozen(kw_only=True)
class StoreFault:
    """Why a store is degraded: its writes fail and nothing of them is stored."""

    code: str  # the error code its writes answer: storage_full, store_unavailable
    reason: str  # the error's message (names the store and SQLite's words)
    since_ms: int  # the first failure since the store last committed
    failures: int  # batches failed since then


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
    #: Bytes in the ``-wal`` file now (0 when there is none); SQLite copies it
    #: back into the database at each automatic checkpoint, so it levels off.
    wal_bytes: int
    #: Set while the store cannot write (see the module docstring), else ``None``.
    fault: StoreFault | None
    detail: DetailT

    @property
    def degraded(self) -> bool:
        """Whether health should say so: a file was quarantined, or writes fail."""
        return self.quarantined is not None or self.fault is not None


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
        self._actor = ThreadActor(
            f"store {self.name}",
            capacity=capacity,
            max_batch=max_batch if group_commit else 1,
            store=self.name,
        )
        self._read_limiter = trio.CapacityLimiter(1)
        self._conn: sqlite3.Connection | None = None
        self._read_conn: sqlite3.Connection | None = None
        self._stopped = trio.Event()
        self._running = False
        self.schema_version = 0
        self.quarantined: sq.QuarantineRecord | None = None
        self._last_commit_ms: int | None = None
        self._fault: StoreFault | None = None

    @property
    def closed(self) -> bool:
        """True once the store refuses calls: closed, broken, or stopped."""
        return self._actor.closed

    # -- lifecycle ---------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Open (quarantining a corrupt file), migrate, then serve commands until closed.

        Returns after :meth:`aclose`. Raises what ended it otherwise; callers
        then get :class:`StoreBroken` (an error) or :class:`StoreClosed`
        (cancelled).
        """
        if self._actor.closed:
            raise self._actor_refusal()
        if self._running or self._conn is not None:
            raise StoreError(f"store {self.name} is already running", store=self.name)
        self._running = True
        try:
            await trio.to_thread.run_sync(self._open, limiter=self._actor.limiter)
            task_status.started()
            await self._actor.serve(self._run_batch)
        except Exception as exc:
            self._actor.break_(exc)
            raise
        finally:
            # Anything still queued (we were cancelled, or broke) is refused, not
            # left hanging, and so is every later call.
            self._actor.refuse()
            with trio.CancelScope(shield=True):
                # Holding the read limiter too: a read in flight is using the read
                # connection in its own thread, and must finish before it closes.
                async with self._read_limiter:
                    await trio.to_thread.run_sync(
                        self._close_connections, limiter=self._actor.limiter
                    )
            self._running = False
            self._stopped.set()

    async def aclose(self) -> None:
        """Stop taking commands, finish the queued ones, commit and close. Idempotent."""
        await self._actor.aclose()
        if self._running:
            await self._stopped.wait()
        else:
            self._actor.refuse()
            self._stopped.set()

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
        return await self._actor.call(partial(self._on_writer, fn))

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` on the read-only connection, beside the writer."""
        if self._read_conn is None or self._actor.closed:
            if self._actor.broken_by is not None:
                raise self._actor_refusal()
            raise StoreClosed(f"store {self.name} is not open", store=self.name)
        return await trio.to_thread.run_sync(self._run_read, fn, limiter=self._read_limiter)

    def statistics(self) -> StoreStatistics[AttrsInstance | None]:
        """The actor's figures. A store with figures of its own overrides this,
        narrowing the type: ``return self._statistics_with(MyStatistics(...))``."""
        return self._statistics_with(None)

    def _statistics_with(self, detail: D) -> StoreStatistics[D]:
        # The actor's queue and batch figures, under the same names ("broken" is
        # not a store figure: a broken store's callers get StoreBroken).
        figures = attrs.asdict(self._actor.statistics(), recurse=False)
        del figures["broken"]
        return StoreStatistics(
            name=self.name,
            path=str(self.path),
            schema_version=self.schema_version,
            last_commit_ms=self._last_commit_ms,
            quarantined=self.quarantined,
            wal_bytes=self._wal_bytes(),
            fault=self._fault,
            detail=detail,
            **figures,
        )

    def _wal_bytes(self) -> int:
        # One stat() call: cheap enough for health, and no SQLite lock taken.
        try:
            return self.path.with_name(self.path.name + "-wal").stat().st_size
        except OSError:
            return 0

    def _actor_refusal(self) -> StoreError:
        return self._actor.refusal()

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
                raise sqlite_error_class(exc)(
                    f"store {self.name}: cannot open {self.path}: {exc}", store=self.name
                ) from exc
            self.quarantined = sq.quarantine(self.name, self.path, str(exc), self.clock.now_ms())
            conn = sq.connect(self.path)
        try:
            sq.probe_writable(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise sqlite_error_class(exc)(
                f"store {self.name}: cannot write {self.path}: {exc}", store=self.name
            ) from exc
        try:
            # on_open reads tables: a damaged page or a lock shows up here first.
            with sqlite_errors(self.name):
                self.schema_version = sq.migrate(conn, self.name, self.migrations)
                self.on_open(conn)
                self._read_conn = sq.connect(self.path, read_only=True)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _run_read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._read_conn
        if conn is None:  # closed while this read waited for the limiter
            raise StoreClosed(f"store {self.name} is not open", store=self.name)
        with sqlite_errors(self.name):
            return fn(conn)

    def _on_writer(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn
        assert conn is not None
        return fn(conn)

    def _run_batch(self, batch: Sequence[Callable[[], Any]]) -> list[outcome.Outcome[Any]]:
        conn = self._conn
        assert conn is not None
        results: list[outcome.Outcome[Any]] = []
        single = len(batch) == 1
        committed = False
        try:
            with sqlite_errors(self.name):
                conn.execute("BEGIN IMMEDIATE")
                for fn in batch:
                    if not single:
                        conn.execute("SAVEPOINT command")
                    result = outcome.capture(fn)
                    if isinstance(result, outcome.Error) and not conn.in_transaction:
                        # SQLite rolled the whole transaction back itself (disk
                        # full, I/O error): nothing of this batch is stored, so
                        # no caller of it may be told otherwise.
                        results = [result] * len(batch)
                        break
                    if not single:
                        if isinstance(result, outcome.Error):
                            conn.execute("ROLLBACK TO command")
                        conn.execute("RELEASE command")
                    results.append(result)
                else:
                    if single and isinstance(results[0], outcome.Error):
                        conn.execute("ROLLBACK")
                    else:
                        conn.execute("COMMIT")
                        committed = True
                        self.after_commit(results)
        except StoreError as failure:
            # BEGIN or COMMIT itself failed (disk full, I/O error): nothing committed.
            if failure.__cause__ is None or not isinstance(failure.__cause__, sqlite3.Error):
                raise
            if conn.in_transaction:
                with sqlite_errors(self.name):
                    conn.execute("ROLLBACK")
            results = [outcome.Error(failure) for _ in batch]
        if committed:
            self._last_commit_ms = self.clock.now_ms()
        # A command's own sqlite3 error leaves through the same boundary.
        mapped = [
            outcome.Error(_mapped(r.error, self.name))
            if isinstance(r, outcome.Error) and isinstance(r.error, Exception)
            else r
            for r in results
        ]
        self._note_health(mapped)
        return mapped

    def _note_health(self, results: Sequence[outcome.Outcome[Any]]) -> None:
        """Degrade on a write that could not be stored; recover on one that committed."""
        failure = next(
            (
                r.error
                for r in results
                if isinstance(r, outcome.Error) and isinstance(r.error, StoreUnavailable)
            ),
            None,
        )
        if failure is not None:
            fault = self._fault
            if fault is None:
                log.warning("store %s degraded: %s", self.name, failure)
                self._fault = StoreFault(
                    code=failure.code,
                    reason=str(failure),
                    since_ms=self.clock.now_ms(),
                    failures=1,
                )
            else:
                self._fault = attrs.evolve(
                    fault, code=failure.code, reason=str(failure), failures=fault.failures + 1
                )
        elif (
            self._fault is not None
            and self._last_commit_ms is not None
            and any(isinstance(r, outcome.Value) for r in results)
        ):
            log.info(
                "store %s recovered: writes commit again (%d failed batches since %d)",
                self.name,
                self._fault.failures,
                self._fault.since_ms,
            )
            self._fault = None

    def _close_connections(self) -> None:
        # Reader first: the last connection to close checkpoints and removes the
        # -wal/-shm files, and a read-only connection is not allowed to.
        with sqlite_errors(self.name):
            for conn in (self._read_conn, self._conn):
                if conn is not None:
                    conn.close()
        self._conn = self._read_conn = None
