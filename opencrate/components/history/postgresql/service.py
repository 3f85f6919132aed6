"""The ``postgresql`` persistence service: one shared server for many OpenCrate nodes.

The store-actor pattern with a PostgreSQL connection, on the same
:class:`~opencrate.runtime.thread_actor.ThreadActor` as the SQLite stores::

    caller --(command: fn + reply)--> bounded channel --> actor task
                                                  | trio.to_thread (limiter 1)
    caller <----------- reply ------------------- + psycopg (sync) --> server
                                                  + sqlite3 spool   --> data/pg-spool-<id>.db

* **Layout**: one table partitioned by month (UTC), partitions created on
  demand (:mod:`~opencrate.components.history.postgresql.queries`).
* **Connection loss** is survived: a ``store`` that finds the server gone
  (or arrives while the spool is not empty, to keep the order) appends its
  samples to a local SQLite spool, bounded by ``spool_max`` samples (the
  oldest are dropped beyond it, counted and logged), and returns. A reconnect
  task retries with exponential backoff and replays the spool **in order**,
  one batch per command so new stores interleave; a batch is deleted from the
  spool only after the server committed it (a crash in between replays it
  again, which the upsert makes harmless). The spool is a file, so samples
  spooled before a restart are replayed after it.
* **Reads** go to the server; while it is unreachable they raise
  :class:`~opencrate.errors.StoreError` (spooled samples are not yet visible).
* Errors from psycopg (and from the spool's sqlite3) never leave this module:
  one boundary (:meth:`PostgresService._errors`, an
  :func:`~opencrate.errors.map_exceptions` over :data:`PSYCOPG_EXCEPTIONS`)
  makes them ``StoreError``. Their text, like ``last_error`` and the log, has
  any DSN password masked.
* ``last_error`` is the error that keeps the service disconnected (or the
  last spooled batch the server refused); a successful connect clears it.
  ``recent_error`` (with ``recent_error_ms``) is the last error of any kind
  and stays for :data:`RECENT_S` after it, so an outage that is already over
  again (a connection killed every 50 ms) still shows; so does
  ``reconnects_last_minute``.
* ``stored`` counts samples **committed on the server** (directly or
  replayed from the spool); ``spooled`` is what waits in the spool now.
* **Logging**: an outage (a connection lost, a connect that fails) is one
  WARNING line, without a traceback, and at most one a minute; the others in
  that minute go to DEBUG and are counted in the next WARNING. A read while
  the server is unreachable raises :class:`~opencrate.errors.StoreUnavailable`
  (the API answers 503 with one WARNING line, not a traceback).

Cancellation: a command that reached the worker thread runs to the end (its
transaction commits or rolls back whole); :meth:`aclose` finishes queued
commands, then closes both connections. A cancelled service keeps what is
queued for its next run (a supervisor restart); after :meth:`aclose` every
call is refused with :class:`~opencrate.errors.StoreClosed`.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import trio
from attrs import frozen

from opencrate.clock import Clock, SystemClock
from opencrate.components.history.config.model import PG_IDENTIFIER
from opencrate.components.history.config.redact import redact_secrets
from opencrate.components.history.postgresql import queries as q
from opencrate.components.history.service import (
    HistoryPage,
    Resolution,
    RiemannType,
    Sample,
    SampleRow,
    WeightedStats,
    WindowExtreme,
    WindowStats,
    check_range,
    check_samples,
)
from opencrate.errors import (
    InvalidInput,
    MapTarget,
    OpenCrateError,
    StoreClosed,
    StoreError,
    StoreUnavailable,
    map_exceptions,
)
from opencrate.model.values import PointValue
from opencrate.runtime.actor import SQLITE_EXCEPTIONS
from opencrate.runtime.thread_actor import ThreadActor

__all__ = ["PSYCOPG_EXCEPTIONS", "RECENT_S", "PostgresService", "PostgresStatistics"]

log = logging.getLogger(__name__)
T = TypeVar("T")
_LOST = (psycopg.OperationalError, psycopg.InterfaceError)
#: How long a reconnect or an error counts as recent (health, log rate limit).
RECENT_S = 60.0

#: Every exception psycopg raises (``psycopg.errors.*`` derive from
#: ``psycopg.Error``) and what it becomes at this module's boundary. The
#: connection-loss ones (:data:`_LOST`) are handled first where they can occur
#: (the samples are spooled, or a read says the connection was lost).
PSYCOPG_EXCEPTIONS: Mapping[type[Exception], type[OpenCrateError]] = {
    psycopg.Error: StoreError,
    psycopg.Warning: StoreError,
}


@frozen(kw_only=True)
class PostgresStatistics:
    service_id: str
    connected: bool
    queue_depth: int
    stored: int  # samples committed on the server (directly or replayed)
    spooled: int  # samples waiting in the spool now
    spool_max: int
    spool_dropped: int  # oldest spooled samples dropped because the spool was full
    replayed: int
    reconnects: int
    reconnects_last_minute: int
    connection_losses: int
    last_error: str | None  # what keeps it disconnected now (None while connected)
    recent_error: str | None  # the last error of the last minute, even if connected again
    recent_error_ms: int | None
    closed: bool


def _describe(exc: BaseException) -> str:
    # libpq quotes the connection string in some errors (a malformed DSN): never its password.
    return redact_secrets(str(exc))


class _Spool:
    """Samples waiting for the server, in arrival order (a SQLite file; worker thread only)."""

    def __init__(self, path: Path, limit: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS spool (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
            "point_id TEXT NOT NULL, ts_ms INTEGER NOT NULL, value, kind TEXT NOT NULL)"
        )
        self.limit = limit
        self.count: int = self.conn.execute("SELECT count(*) FROM spool").fetchone()[0]
        self.dropped = 0

    def append(self, samples: Sequence[SampleRow]) -> None:
        rows = []
        for point_id, ts_ms, value in samples:
            num, txt, kind = q.encode(value)
            rows.append((point_id, ts_ms, txt if kind == "s" else num, kind))
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany(
                "INSERT INTO spool (point_id, ts_ms, value, kind) VALUES (?, ?, ?, ?)", rows
            )
            over = self.count + len(rows) - self.limit
            if over > 0:
                self.conn.execute(
                    "DELETE FROM spool WHERE seq IN (SELECT seq FROM spool ORDER BY seq LIMIT ?)",
                    (over,),
                )
        if over > 0:
            self.dropped += over
            log.error("postgresql spool full (%d): dropped the %d oldest samples", self.limit, over)
        self.count = min(self.count + len(rows), self.limit)

    def head(self, n: int) -> tuple[int, list[Sample]]:
        rows = self.conn.execute(
            "SELECT seq, point_id, ts_ms, value, kind FROM spool ORDER BY seq LIMIT ?", (n,)
        ).fetchall()
        samples = [
            Sample(
                point_id=p,
                ts_ms=t,
                value=q.decode(None if k == "s" else v, v if k == "s" else None, k),
            )
            for _seq, p, t, v, k in rows
        ]
        return (rows[-1][0] if rows else 0), samples

    def pop_through(self, seq: int) -> None:
        with self.conn:
            deleted = self.conn.execute("DELETE FROM spool WHERE seq <= ?", (seq,)).rowcount
        self.count -= deleted


class PostgresService:
    """A :class:`.PersistenceService` on PostgreSQL (see module)."""

    def __init__(
        self,
        service_id: str = "postgresql",
        *,
        dsn: str,
        spool_path: Path,
        schema: str = "public",
        table: str = "opencrate_samples",
        spool_max: int = 100_000,
        batch_max: int = 1000,
        connect_timeout_s: int = 5,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 30.0,
        capacity: int = 256,
        clock: Clock | None = None,
    ) -> None:
        for what, ident in (("schema", schema), ("table", table)):
            # Checked again here (the config reader checks first, naming the line):
            # these names are interpolated into SQL.
            if not PG_IDENTIFIER.fullmatch(ident):
                raise InvalidInput(f"postgresql {what} {ident!r}: use [a-z_][a-z0-9_]*, at most 41")
        self.service_id = service_id
        self.name = f"postgresql:{service_id}"
        self.dsn = dsn
        self.names = q.Names(schema, table)
        self.spool_path = spool_path
        self.spool_max = spool_max
        self.batch_max = batch_max
        self.connect_timeout_s = connect_timeout_s
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.clock = clock or SystemClock()
        # One command per thread hop: each is its own server transaction, and a
        # batch would only hold the first caller's reply until the last ran.
        self._actor = ThreadActor(self.name, capacity=capacity, max_batch=1, service=service_id)
        self._mapping: dict[type[BaseException], MapTarget] = {
            source: self._store_error for source in (*PSYCOPG_EXCEPTIONS, *SQLITE_EXCEPTIONS)
        }
        self._pg: psycopg.Connection[Any] | None = None
        self._spool: _Spool | None = None
        self._partitions: set[str] = set()
        self._lost = trio.Event()
        self._running = False
        self._stopped = trio.Event()
        self._stored = self._replayed = self._reconnects = self._losses = 0
        self.last_error: str | None = None
        self._recent_error: tuple[int, str] | None = None
        self._reconnected_at: deque[int] = deque()  # clock ms of each reconnect, last minute
        self._warned_ms: int | None = None  # the last outage WARNING, for the rate limit
        self._quiet = 0  # outage lines sent to DEBUG since that WARNING

    # -- lifecycle -----------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Open the spool, try the server once, then serve commands until :meth:`aclose`.

        Starting does not need the server: stores spool until it is back.
        Cancelled, it closes its connections but not its command channel, so
        it can be run again (a supervisor restart); queued commands wait for it.
        """
        if self._actor.closed:
            raise self._actor.refusal()
        self._stopped = trio.Event()
        self._running = True
        try:
            with self._errors():
                self._spool = await trio.to_thread.run_sync(
                    _Spool, self.spool_path, self.spool_max, limiter=self._actor.limiter
                )
            await trio.to_thread.run_sync(self._connect, limiter=self._actor.limiter)
            if self._pg is None or self._spool.count:
                self._lost.set()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._reconnect_loop)
                task_status.started()
                await self._actor.serve()
                nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(self._close_connections, limiter=self._actor.limiter)
            self._running = False
            self._stopped.set()

    async def aclose(self) -> None:
        """Finish queued commands, close the server connection and the spool. Idempotent."""
        await self._actor.aclose()
        if self._running:
            await self._stopped.wait()
        else:
            # Not running (cancelled, never restarted): nobody will run what is queued.
            self._actor.refuse()

    async def _call(self, fn: Callable[[], T]) -> T:
        return await self._actor.call(fn)

    def _errors(self) -> AbstractContextManager[None]:
        """The psycopg / sqlite3 boundary: their exceptions leave as ``StoreError``."""
        return map_exceptions(self._mapping)

    def _store_error(self, exc: Exception) -> StoreError:
        return StoreError(f"{self.name}: {_describe(exc)}", service=self.service_id)

    # -- worker thread -------------------------------------------------------------
    def _connect(self) -> None:
        try:
            conn = psycopg.connect(
                self.dsn,
                connect_timeout=self.connect_timeout_s,
                # A server that vanishes without closing the socket (a cut network)
                # must not hang a store for the kernel's default minutes.
                keepalives=1,
                keepalives_idle=10,
                keepalives_interval=5,
                keepalives_count=3,
                tcp_user_timeout=15_000,
            )
            q.ensure_schema(conn, self.names)
        except psycopg.Error as exc:
            self.last_error = f"connect: {_describe(exc)}".strip()
            self._note_error(self.last_error)
            self._log_outage("cannot connect: %s", _describe(exc))
            return
        self._pg = conn
        self._partitions.clear()
        # Connected: the error that kept it down is history (the log has it).
        self.last_error = None

    def _note_error(self, text: str) -> None:
        self._recent_error = (self.clock.now_ms(), text)

    def _log_outage(self, message: str, detail: str) -> None:
        """One WARNING line a minute at most; the rest at DEBUG, counted in the next one."""
        now = self.clock.now_ms()
        if self._warned_ms is None or now - self._warned_ms >= RECENT_S * 1000:
            more = (
                f" ({self._quiet} more outage messages in the last minute)" if self._quiet else ""
            )
            log.warning("%s: " + message + "%s", self.name, detail, more)
            self._warned_ms, self._quiet = now, 0
        else:
            self._quiet += 1
            log.debug("%s: " + message, self.name, detail)

    def _drop_connection(self, exc: BaseException) -> None:
        self.last_error = f"{type(exc).__name__}: {_describe(exc)}".strip()
        self._losses += 1
        self._note_error(self.last_error)
        self._log_outage("connection lost: %s", _describe(exc))
        if self._pg is not None:
            try:
                self._pg.close()
            except psycopg.Error:
                pass
        self._pg = None

    def _write(self, samples: Sequence[SampleRow]) -> None:
        conn = self._pg
        assert conn is not None
        with conn.transaction():
            q.ensure_partitions(conn, self.names, (ts for _, ts, _ in samples), self._partitions)
            q.upsert(conn, self.names, samples)
        conn.commit()

    def _store_sync(self, samples: Sequence[SampleRow]) -> bool:
        """Write or spool; True when the connection was found lost."""
        spool = self._spool
        assert spool is not None
        with self._errors():
            if self._pg is None or spool.count:
                spool.append(samples)  # keep arrival order behind what is already spooled
                return self._pg is None
            try:
                self._write(samples)
            except _LOST as exc:
                self._drop_connection(exc)
                spool.append(samples)
                return True
        self._stored += len(samples)
        return False

    def _replay_batch(self) -> bool | None:
        """Reconnect if needed and replay one spool batch: True drained, False more, None down."""
        with self._errors():
            return self._replay_batch_unmapped()

    def _replay_batch_unmapped(self) -> bool | None:
        spool = self._spool
        assert spool is not None
        if self._pg is None:
            self._connect()
            if self._pg is None:
                return None
            self._reconnects += 1
            self._reconnected_at.append(self.clock.now_ms())
        last_seq, batch = spool.head(self.batch_max)
        if not batch:
            return True
        try:
            self._write(batch)
        except _LOST as exc:
            self._drop_connection(exc)
            return None
        except psycopg.Error as exc:
            # A batch the server refuses (not a connection problem) would block the spool forever.
            log.error("%s: spooled batch refused, dropped: %s", self.name, _describe(exc))
            self.last_error = _describe(exc)
            self._note_error(self.last_error)
            spool.dropped += len(batch)
        spool.pop_through(last_seq)
        self._replayed += len(batch)
        self._stored += len(batch)
        return spool.count == 0

    def _close_connections(self) -> None:
        with self._errors():
            if self._pg is not None:
                self._pg.close()
                self._pg = None
            if self._spool is not None:
                self._spool.conn.close()

    async def _reconnect_loop(self) -> None:
        while True:
            await self._lost.wait()
            delay = self.retry_initial_s
            while True:
                try:
                    state = await self._call(self._replay_batch)
                except StoreClosed:
                    return  # closing: the next run replays what is left
                if state is True:
                    break
                if state is None:
                    await trio.sleep(delay)
                    delay = min(delay * 2, self.retry_max_s)
            self._lost = trio.Event()
            log.info("%s: connected, spool empty", self.name)

    async def _read(self, fn: Callable[[psycopg.Connection[Any]], T]) -> T:
        def run() -> T:
            conn = self._pg
            if conn is None:
                raise StoreUnavailable(
                    f"{self.name}: server unavailable ({self.last_error})", service=self.service_id
                )
            with self._errors():
                try:
                    result = fn(conn)
                    conn.rollback()  # end the read transaction: no idle-in-transaction sessions
                    return result
                except _LOST as exc:
                    self._drop_connection(exc)
                    raise StoreUnavailable(
                        f"{self.name}: connection lost: {_describe(exc)}", service=self.service_id
                    ) from exc
                except psycopg.Error:
                    conn.rollback()
                    raise

        try:
            return await self._call(run)
        finally:
            if self._pg is None:
                self._lost.set()

    # -- PersistenceService --------------------------------------------------------
    async def store(self, samples: Sequence[SampleRow]) -> None:
        """Upsert on the server, or spool when it is unreachable (returns either way)."""
        check_samples(samples)
        if not samples:
            return
        lost = await self._call(lambda: self._store_sync(list(samples)))
        if lost:
            self._lost.set()

    async def query(
        self,
        point_id: str,
        begin_ms: int,
        end_ms: int,
        *,
        resolution: Resolution = Resolution.RAW,
        descending: bool = False,
        limit: int = 10_000,
    ) -> HistoryPage:
        """Raw samples (this service keeps no rollups; the page says ``raw``)."""
        check_range(begin_ms, end_ms)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidInput(f"limit must be a positive int, got {limit!r}")
        samples, next_ms = await self._read(
            lambda c: q.page(c, self.names, point_id, begin_ms, end_ms, descending, limit)
        )
        return HistoryPage(
            point_id=point_id, resolution=Resolution.RAW, samples=tuple(samples), next_ms=next_ms
        )

    async def remove(self, point_id: str, begin_ms: int, end_ms: int) -> int:
        check_range(begin_ms, end_ms)

        def fn(conn: psycopg.Connection[Any]) -> int:
            count = q.remove(conn, self.names, point_id, begin_ms, end_ms)
            conn.commit()
            return count

        return await self._read(fn)

    async def last_states(self, point_ids: Iterable[str] | None = None) -> Mapping[str, Sample]:
        ids = None if point_ids is None else list(point_ids)
        return await self._read(lambda c: q.last_states(c, self.names, ids))

    async def state_at(self, point_id: str, ts_ms: int) -> Sample | None:
        return await self._read(lambda c: q.one(c, self.names, point_id, ts_ms, before=True))

    async def next_sample(self, point_id: str, ts_ms: int) -> Sample | None:
        return await self._read(lambda c: q.one(c, self.names, point_id, ts_ms, before=False))

    async def last_differing(self, point_id: str, ts_ms: int, value: PointValue) -> Sample | None:
        return await self._read(
            lambda c: q.one(c, self.names, point_id, ts_ms, before=True, differing=value)
        )

    async def first_differing(self, point_id: str, ts_ms: int, value: PointValue) -> Sample | None:
        return await self._read(
            lambda c: q.one(c, self.names, point_id, ts_ms, before=False, differing=value)
        )

    async def window_stats(self, point_id: str, begin_ms: int, end_ms: int) -> WindowStats:
        check_range(begin_ms, end_ms)
        return await self._read(lambda c: q.window_stats(c, self.names, point_id, begin_ms, end_ms))

    async def window_extreme(
        self, point_id: str, begin_ms: int, end_ms: int, *, high: bool
    ) -> WindowExtreme:
        check_range(begin_ms, end_ms)

        def fn(conn: psycopg.Connection[Any]) -> WindowExtreme:
            stats = q.window_stats(conn, self.names, point_id, begin_ms, end_ms)
            at_begin = q.one(conn, self.names, point_id, begin_ms, before=True)
            return WindowExtreme(best=stats.max if high else stats.min, at_begin=at_begin)

        return await self._read(fn)  # one trip, as the SQLite store

    async def weighted_stats(
        self,
        point_id: str,
        begin_ms: int,
        end_ms: int,
        riemann: RiemannType = RiemannType.LEFT,
    ) -> WeightedStats | None:
        check_range(begin_ms, end_ms)
        kind = RiemannType(riemann)
        return await self._read(
            lambda c: q.weighted_stats(c, self.names, point_id, begin_ms, end_ms, kind)
        )

    async def median(self, point_id: str, begin_ms: int, end_ms: int) -> float | None:
        check_range(begin_ms, end_ms)
        return await self._read(lambda c: q.median(c, self.names, point_id, begin_ms, end_ms))

    async def samples(
        self, point_id: str, begin_ms: int, end_ms: int, *, limit: int | None = None
    ) -> list[Sample]:
        check_range(begin_ms, end_ms)
        cap = limit if limit is not None else 2**31 - 1
        found, _next = await self._read(
            lambda c: q.page(c, self.names, point_id, begin_ms, end_ms, False, cap)
        )
        return found

    def statistics(self) -> PostgresStatistics:
        spool = self._spool
        now = self.clock.now_ms()
        horizon = now - int(RECENT_S * 1000)
        while self._reconnected_at and self._reconnected_at[0] < horizon:
            self._reconnected_at.popleft()
        recent = (
            self._recent_error if self._recent_error and self._recent_error[0] >= horizon else None
        )
        return PostgresStatistics(
            service_id=self.service_id,
            connected=self._pg is not None,
            queue_depth=self._actor.statistics().queue_depth,
            stored=self._stored,
            spooled=0 if spool is None else spool.count,
            spool_max=self.spool_max,
            spool_dropped=0 if spool is None else spool.dropped,
            replayed=self._replayed,
            reconnects=self._reconnects,
            reconnects_last_minute=len(self._reconnected_at),
            connection_losses=self._losses,
            last_error=self.last_error,
            recent_error=None if recent is None else recent[1],
            recent_error_ms=None if recent is None else recent[0],
            closed=self._actor.closed,
        )
