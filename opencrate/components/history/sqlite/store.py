"""HistoryStore: the default (``sqlite``) persistence service, in ``data/history.db``.

Layout (see ``docs/explanation/history-layout.md`` for the measured sizes)::

    point(key INTEGER PRIMARY KEY, point_id TEXT UNIQUE, kind TEXT)
    sample(point_key, ts_ms, value, PRIMARY KEY (point_key, ts_ms)) WITHOUT ROWID
    rollup_5m / rollup_1h(point_key, start_ms, ...)              WITHOUT ROWID

``value`` has no declared type, so SQLite keeps what it is given: REAL for
numbers, INTEGER for enumerations and booleans (0 and 1 take no payload bytes),
TEXT for text. ``kind`` (the point's newest value kind) tells booleans from
integers when reading. Writing a sample at an existing ``(point, ts_ms)``
updates it in place.

Caches (owned by the writer thread, read by the reader): point id -> key and
kind, and each point's newest timestamp, which tells in-order samples (the
O(1) rollup path) from out-of-order ones (windows recomputed from raw). When a
write transaction fails, the next command first reloads the caches and reopens
the rollup windows from what is committed, so a rolled-back batch leaves no
trace in memory either.

Start-up does not grow with the archive: opening reads the point dictionary
only. A point's newest time (one index probe) and its open rollup windows
(back-filled from raw) are loaded by the writer the first time a command
touches that point (a new sample, a removal, a purge); until then queries
compute its open window from raw samples, as they do for every point.

Implements :class:`~opencrate.components.history.service.PersistenceService`; see
that module for the contract every method follows. Rollups:
:mod:`~opencrate.components.history.sqlite.rollups`; query SQL:
:mod:`~opencrate.components.history.sqlite.queries`; retention:
:mod:`~opencrate.components.history.sqlite.retention`.

Errors: :class:`~opencrate.errors.InvalidInput` for bad samples or ranges
(checked before anything is written, so a bad batch stores nothing),
:class:`~opencrate.errors.StoreError` / ``StoreClosed`` from the actor.
Cancellation: see :class:`~opencrate.runtime.actor.StoreActor`.
"""

from __future__ import annotations

import operator
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from attrs import frozen

from opencrate.clock import Clock
from opencrate.components.history.service import (
    TIER_WIDTH_MS,
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
from opencrate.components.history.sqlite import queries as q
from opencrate.components.history.sqlite.deletes import delete_raw_batch, delete_rollup_batch
from opencrate.components.history.sqlite.pages import raw_page, tier_page
from opencrate.components.history.sqlite.rollup_maintenance import RollupMaintainer
from opencrate.components.history.sqlite.rollups import tier_ddl
from opencrate.errors import InvalidInput
from opencrate.model.values import PointValue, ValueKind, value_kind
from opencrate.runtime.actor import StoreActor, StoreStatistics
from opencrate.runtime.sqlite import Migration

__all__ = ["WRITER_PRAGMAS", "HistoryStatistics", "HistoryStore"]

DEFAULT_TIERS = (Resolution.FIVE_MIN, Resolution.HOUR)

_SCHEMA_V1 = (
    """
CREATE TABLE point (
    key INTEGER PRIMARY KEY,
    point_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL
);
CREATE TABLE sample (
    point_key INTEGER NOT NULL,
    ts_ms INTEGER NOT NULL,
    value,
    PRIMARY KEY (point_key, ts_ms)
) WITHOUT ROWID;
"""
    + tier_ddl(Resolution.FIVE_MIN)
    + tier_ddl(Resolution.HOUR)
)

# Where a point's raw samples may have been purged (see deletes.delete_raw_batch):
# rollup windows starting before before_ms are the only record of that time.
_SCHEMA_V2 = """
CREATE TABLE raw_floor (
    point_key INTEGER PRIMARY KEY,
    before_ms INTEGER NOT NULL
) WITHOUT ROWID;
"""

_UPSERT = (
    "INSERT INTO sample (point_key, ts_ms, value) VALUES (?, ?, ?) "
    "ON CONFLICT (point_key, ts_ms) DO UPDATE SET value = excluded.value"
)

_ROW_KEY = operator.itemgetter(0, 1)

#: Writer settings on top of the project's (WAL, synchronous=NORMAL). A batch
#: from many points dirties the newest leaf page of each, so a 2 MiB cache and a
#: checkpoint every 1,000 pages (SQLite's defaults) checkpoint on nearly every
#: commit. 16 MiB and 10,000 pages (a WAL of up to ~40 MB) measured 2.3x the
#: insert rate for 500k samples over 1,000 points (benchmarks/ingest.py).
WRITER_PRAGMAS = ("PRAGMA cache_size=-16384", "PRAGMA wal_autocheckpoint=10000")

#: Below this share of mean^2, a variance from rollup moments is recomputed from raw.
_CANCELLATION = 1e-6

#: A range long enough that AUTO picks a tier: about 500 windows or more.
_AUTO_MIN_WINDOWS = 500


@frozen(kw_only=True)
class HistoryStatistics:
    points: int
    samples_written: int
    out_of_order: int
    open_windows: int


class HistoryStore(StoreActor):
    """The embedded SQLite persistence service (``service_id = "sqlite"``)."""

    name: ClassVar[str] = "history"
    migrations: ClassVar[Sequence[Migration]] = (_SCHEMA_V1, _SCHEMA_V2)
    service_id: str = "sqlite"

    def __init__(
        self,
        path: Path | str,
        *,
        tiers: Sequence[Resolution] = DEFAULT_TIERS,
        clock: Clock | None = None,
        capacity: int = 1024,
        max_batch: int = 512,
    ) -> None:
        super().__init__(path, clock=clock, capacity=capacity, max_batch=max_batch)
        for tier in tiers:
            if tier not in TIER_WIDTH_MS:
                raise InvalidInput(f"not a rollup tier: {tier!r} (use 5m or 1h)")
        self._rollups = RollupMaintainer(tiers)
        self.tiers = self._rollups.tiers
        self._keys: dict[str, int] = {}
        self._kinds: dict[int, ValueKind] = {}
        self._newest: dict[int, int] = {}
        #: Points whose newest time and open windows are loaded (see _touch).
        self._touched: set[int] = set()
        #: The writer's hot path: point id -> (key, Python type of its last value), for
        #: touched points only. One look-up instead of three (key, type, touched): at
        #: 50,000 points each look-up is a likely cache miss.
        self._ready: dict[str, tuple[int, type]] = {}
        self._written = self._out_of_order = 0
        self._resync_needed = False

    # -- lifecycle -----------------------------------------------------------------
    def on_open(self, conn: sqlite3.Connection) -> None:
        """Tune the writer and load the point dictionary (points load lazily: _touch)."""
        for pragma in WRITER_PRAGMAS:
            conn.execute(pragma)
        self._load_caches(conn)

    def _load_caches(self, conn: sqlite3.Connection) -> None:
        # Build fresh dicts and publish each with one assignment: the trio
        # thread reads _keys and _kinds while this runs in the worker (sqlite
        # releases the GIL per step), and clearing them in place would show it
        # no points, or bools decoded as ints, until the reload finished.
        keys: dict[str, int] = {}
        kinds: dict[int, ValueKind] = {}
        for key, point_id, kind in conn.execute("SELECT key, point_id, kind FROM point"):
            keys[point_id] = key
            kinds[key] = ValueKind(kind)
        self._newest = {}
        self._touched = set()
        self._ready = {}
        self._kinds, self._keys = kinds, keys

    def _touch(self, conn: sqlite3.Connection, key: int) -> None:
        """Load a point's newest time and reopen its rollup windows (first command on it).

        In the writer's transaction, before anything of the command is written:
        windows missed while rollups were not kept are back-filled from raw and
        the newest reopened, so the fast path carries on from committed state.
        """
        self._touched.add(key)
        newest = conn.execute(
            "SELECT max(ts_ms) FROM sample WHERE point_key = ?", (key,)
        ).fetchone()[0]
        if newest is not None:
            self._newest[key] = newest
            self._rollups.load(conn, key)

    def _resync(self, conn: sqlite3.Connection) -> None:
        # A write transaction failed after our caches moved: reload them from
        # what is committed and rebuild the open windows from raw samples.
        self._resync_needed = False
        self._load_caches(conn)
        self._rollups = RollupMaintainer(self.tiers)

    def statistics(self) -> StoreStatistics[HistoryStatistics]:
        """The actor's figures; ``detail`` has the history counters."""
        return self._statistics_with(self._history_statistics())

    def _history_statistics(self) -> HistoryStatistics:
        return HistoryStatistics(
            points=len(self._keys),
            samples_written=self._written,
            out_of_order=self._out_of_order,
            open_windows=self._rollups.open_windows,
        )

    # -- writes --------------------------------------------------------------------
    async def store(self, samples: Sequence[SampleRow]) -> None:
        """Upsert ``samples`` in one transaction (grouped with other queued writes).

        Raises :class:`InvalidInput` naming the first bad sample; nothing of
        the batch is stored then.
        """
        check_samples(samples)
        if samples:
            try:
                await self.write(lambda conn: self._store(conn, samples))
            except Exception:
                # The transaction did not commit (the command itself, or the
                # COMMIT of its group): our caches may be ahead of the file.
                # (A cancelled caller's command still runs; that is no failure.)
                self._resync_needed = True
                raise

    def _key_for(self, conn: sqlite3.Connection, point_id: str, value: PointValue) -> int:
        kind = value_kind(value)
        key = self._keys.get(point_id)
        if key is None:
            key = conn.execute(
                "INSERT INTO point (point_id, kind) VALUES (?, ?) RETURNING key",
                (point_id, kind.value),
            ).fetchone()[0]
            self._touched.add(key)  # a new point: nothing stored to load
            self._rollups.new_point(key)
            self._keys[point_id] = key
            self._kinds[key] = kind
        elif self._kinds[key] is not kind:
            conn.execute("UPDATE point SET kind = ? WHERE key = ?", (kind.value, key))
            self._kinds[key] = kind
        return key

    def _ready_key(self, conn: sqlite3.Connection, point_id: str, value: PointValue) -> int:
        """The key of a point the hot path has not seen with this value's type: created or
        re-kinded if need be, loaded (:meth:`_touch`), then remembered in ``_ready``."""
        key = self._key_for(conn, point_id, value)
        if key not in self._touched:
            self._touch(conn, key)
        self._ready[point_id] = (key, type(value))
        return key

    def _store(self, conn: sqlite3.Connection, samples: Sequence[SampleRow]) -> None:
        if self._resync_needed:
            self._resync(conn)
        try:
            rows = []
            late: dict[int, list[int]] = {}
            newest = self._newest
            ready = self._ready
            open_windows = self._rollups.open_by_point
            add = self._rollups.add
            # One pass; the common case (a point's next sample, inside its open
            # finest window) costs three dict lookups and an Accumulator.add.
            for point_id, ts, value in samples:
                hit = ready.get(point_id)
                if hit is not None and hit[1] is type(value):
                    key = hit[0]
                else:
                    key = self._ready_key(conn, point_id, value)
                rows.append((key, ts, value))
                last = newest.get(key)
                if last is not None and ts <= last:
                    late.setdefault(key, []).append(ts)
                    continue
                newest[key] = ts
                accs = open_windows.get(key)
                acc = None if accs is None else accs[0]
                if acc is not None and ts < acc.end:
                    acc.add(ts, value)
                else:
                    # A new window (or the first sample of a point): carried-in
                    # state comes from memory, or from rows already committed;
                    # earlier samples of this batch that are not yet inserted
                    # are out of order and make the window be recomputed below.
                    add(conn, key, ts, value)
            # In key order the B-tree is walked leaf by leaf instead of jumping
            # between points (measured 30-60 % faster); the sort is stable, so
            # of two samples at the same (point, ms) the later one still wins.
            rows.sort(key=_ROW_KEY)
            conn.executemany(_UPSERT, rows)
            self._rollups.write_pending(conn)
            for key, ts_list in late.items():
                self._rollups.recompute(conn, key, ts_list)
            self._written += len(rows)
            self._out_of_order += sum(map(len, late.values()))
        except BaseException:
            self._rollups.discard_pending()
            self._resync_needed = True
            raise

    async def remove(self, point_id: str, begin_ms: int, end_ms: int) -> int:
        """Delete the samples of ``point_id`` in ``[begin_ms, end_ms]``; return how many.

        Rollup windows that overlap the range are recomputed from what is left.
        An unknown point removes nothing (0).
        """
        check_range(begin_ms, end_ms)

        def fn(conn: sqlite3.Connection, key: int) -> int:
            touched = [
                ts
                for (ts,) in conn.execute(
                    "DELETE FROM sample WHERE point_key = ? AND ts_ms BETWEEN ? AND ? "
                    "RETURNING ts_ms",
                    (key, begin_ms, end_ms),
                )
            ]
            if touched:
                newest = conn.execute(
                    "SELECT max(ts_ms) FROM sample WHERE point_key = ?", (key,)
                ).fetchone()[0]
                if newest is None:
                    self._newest.pop(key, None)
                else:
                    self._newest[key] = newest
                self._rollups.recompute(conn, key, touched)
            return len(touched)

        return await self._write_point(point_id, fn)

    async def _write_point(
        self, point_id: str, fn: Callable[[sqlite3.Connection, int], int]
    ) -> int:
        """``fn(conn, key)`` for a known point in the writer (0 for an unknown one)."""

        def run(conn: sqlite3.Connection) -> int:
            if self._resync_needed:
                self._resync(conn)
            key = self._keys.get(point_id)
            if key is None:
                return 0
            if key not in self._touched:
                self._touch(conn, key)
            return fn(conn, key)

        try:
            return await self.write(run)
        except Exception:
            self._resync_needed = True  # as in store()
            raise

    # -- retention (driven by opencrate.components.history.sqlite.retention) ----------------------
    async def purge_raw_batch(self, point_id: str, cutoff_ms: int, limit: int) -> int:
        """Delete at most ``limit`` samples of ``point_id`` before ``cutoff_ms`` (one command).

        Open rollup windows ending by the cutoff are written first; samples in
        windows still open, and the newest sample before the cutoff, are kept
        (see :mod:`~opencrate.components.history.sqlite.retention`).
        """
        if limit < 1:
            raise InvalidInput(f"purge batch size must be at least 1, got {limit}")

        def fn(conn: sqlite3.Connection, key: int) -> int:
            self._rollups.flush_before(conn, cutoff_ms, key)
            # Raw samples a still-open window summarises stay until it closes: a
            # late sample, or the next start, recomputes that window from them.
            open_start = self._rollups.oldest_open_start(key)
            cutoff = cutoff_ms if open_start is None else min(cutoff_ms, open_start)
            return delete_raw_batch(conn, key, cutoff, limit)

        return await self._write_point(point_id, fn)

    async def purge_rollup_batch(
        self, point_id: str, tier: Resolution, cutoff_ms: int, limit: int
    ) -> int:
        """Delete at most ``limit`` rollup rows of ``tier`` whose window ended by ``cutoff_ms``."""
        if limit < 1:
            raise InvalidInput(f"purge batch size must be at least 1, got {limit}")
        key = self._keys.get(point_id)
        if key is None or tier not in self.tiers:
            return 0
        return await self.write(lambda conn: delete_rollup_batch(conn, key, tier, cutoff_ms, limit))

    # -- reads ---------------------------------------------------------------------
    def _decode(self, key: int, value: Any) -> PointValue:
        if type(value) is int and self._kinds.get(key) is ValueKind.BOOL:
            return bool(value)
        return value  # type: ignore[no-any-return]

    def _sample(self, point_id: str, key: int, row: tuple[int, Any] | None) -> Sample | None:
        if row is None:
            return None
        return Sample(point_id=point_id, ts_ms=row[0], value=self._decode(key, row[1]))

    def _coarse_first(self) -> tuple[Resolution, ...]:
        return tuple(reversed(self.tiers))

    async def point_ids(self) -> list[str]:
        """Every point that has (or had) history, sorted."""
        return sorted(self._keys)

    async def last_states(self, point_ids: Iterable[str] | None = None) -> Mapping[str, Sample]:
        # One statement for all points: restoreOnStartup of 10,000 points is one query.
        # dict() copies in one step under the GIL; the writer thread may add points meanwhile.
        known = dict(self._keys)
        keys = None if point_ids is None else [known[p] for p in point_ids if p in known]
        ids = {key: point_id for point_id, key in known.items()}

        def fn(conn: sqlite3.Connection) -> dict[str, Sample]:
            return {
                # Positional: one per point of the building at every start.
                ids[key]: Sample(ids[key], ts_ms, self._decode(key, value))
                for key, ts_ms, value in q.newest_of_each(conn, keys)
            }

        return await self.read(fn)

    async def state_at(self, point_id: str, ts_ms: int) -> Sample | None:
        return await self._one(point_id, lambda c, k: q.newest_at(c, k, ts_ms))

    async def next_sample(self, point_id: str, ts_ms: int) -> Sample | None:
        return await self._one(point_id, lambda c, k: q.oldest_from(c, k, ts_ms))

    async def last_differing(self, point_id: str, ts_ms: int, value: PointValue) -> Sample | None:
        return await self._one(point_id, lambda c, k: q.newest_differing(c, k, ts_ms, value))

    async def first_differing(self, point_id: str, ts_ms: int, value: PointValue) -> Sample | None:
        return await self._one(point_id, lambda c, k: q.oldest_differing(c, k, ts_ms, value))

    async def _one(
        self, point_id: str, fn: Callable[[sqlite3.Connection, int], q.Row | None]
    ) -> Sample | None:
        key = self._keys.get(point_id)
        if key is None:
            return None
        return await self.read(lambda conn: self._sample(point_id, key, fn(conn, key)))

    async def window_stats(self, point_id: str, begin_ms: int, end_ms: int) -> WindowStats:
        check_range(begin_ms, end_ms)
        key = self._keys.get(point_id)
        if key is None:
            return WindowStats(
                count=0, numeric_count=0, sum=0.0, min=None, max=None, first=None, last=None,
                changes=0,
            )  # fmt: skip
        tiers = self._coarse_first()
        p = await self.read(lambda conn: q.window_partial(conn, key, begin_ms, end_ms, tiers))
        return WindowStats(
            count=p.count,
            numeric_count=p.num_count,
            sum=p.sum,
            min=self._sample(point_id, key, p.min),
            max=self._sample(point_id, key, p.max),
            first=self._sample(point_id, key, p.first),
            last=self._sample(point_id, key, p.last),
            changes=p.changes,
        )

    async def window_extreme(
        self, point_id: str, begin_ms: int, end_ms: int, *, high: bool
    ) -> WindowExtreme:
        check_range(begin_ms, end_ms)
        key = self._keys.get(point_id)
        if key is None:
            return WindowExtreme(best=None, at_begin=None)
        tiers = self._coarse_first()
        best, at_begin = await self.read(
            lambda conn: q.window_extreme(conn, key, begin_ms, end_ms, tiers, high=high)
        )
        return WindowExtreme(
            best=self._sample(point_id, key, best), at_begin=self._sample(point_id, key, at_begin)
        )

    async def weighted_stats(
        self,
        point_id: str,
        begin_ms: int,
        end_ms: int,
        riemann: RiemannType = RiemannType.LEFT,
    ) -> WeightedStats | None:
        check_range(begin_ms, end_ms)
        riemann = RiemannType(riemann)
        key = self._keys.get(point_id)
        if key is None:
            return None
        if riemann is RiemannType.LEFT:
            # Step-hold moments add up across rollup windows: read them there.
            tiers = self._coarse_first()
            duration, integral, integral_sq = await self.read(
                lambda conn: q.weighted_left(conn, key, begin_ms, end_ms, tiers)
            )
            if duration <= 0:
                return None
            mean = integral / duration
            variance = integral_sq / duration - mean * mean
            if variance <= _CANCELLATION * mean * mean:
                # E[v^2] - mean^2 has lost its digits (a large, nearly steady
                # value such as an energy counter): take the raw two-pass sum.
                exact = await self.read(
                    lambda conn: q.weighted_raw(conn, key, begin_ms, end_ms, RiemannType.LEFT)
                )
                if exact is not None:
                    variance = exact[2]
        else:
            result = await self.read(
                lambda conn: q.weighted_raw(conn, key, begin_ms, end_ms, riemann)
            )
            if result is None:
                return None
            duration, integral, variance = result
            mean = integral / duration
        return WeightedStats(
            duration_ms=round(duration), integral=integral, mean=mean,
            variance=max(variance, 0.0),
        )  # fmt: skip

    async def median(self, point_id: str, begin_ms: int, end_ms: int) -> float | None:
        check_range(begin_ms, end_ms)
        key = self._keys.get(point_id)
        if key is None:
            return None

        return await self.read(lambda conn: q.median(conn, key, begin_ms, end_ms))

    async def samples(
        self, point_id: str, begin_ms: int, end_ms: int, *, limit: int | None = None
    ) -> list[Sample]:
        page = await self.query(point_id, begin_ms, end_ms, limit=limit or -1)
        return list(page.samples)

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
        """Samples or rollup windows of ``point_id`` in ``[begin_ms, end_ms]``.

        ``limit`` < 0 means no limit. For tiers, windows not yet in the table
        (the open one) are computed from raw samples on the fly.
        """
        check_range(begin_ms, end_ms)
        resolution = Resolution(resolution)
        if resolution is Resolution.AUTO:
            resolution = self._auto(end_ms - begin_ms)
        elif resolution is not Resolution.RAW and resolution not in self.tiers:
            raise InvalidInput(f"rollup tier {resolution.value} is not kept by this store")
        key = self._keys.get(point_id)
        if key is None:
            return HistoryPage(point_id=point_id, resolution=resolution, samples=())

        def decode(value: Any) -> PointValue:
            return self._decode(key, value)

        if resolution is Resolution.RAW:
            return await self.read(
                lambda conn: raw_page(
                    conn, point_id, key, begin_ms, end_ms, descending, limit, decode
                )
            )
        tier = resolution
        return await self.read(
            lambda conn: tier_page(
                conn, point_id, key, tier, begin_ms, end_ms, descending, limit, decode
            )
        )

    def _auto(self, span_ms: int) -> Resolution:
        for tier in self._coarse_first():
            if span_ms // TIER_WIDTH_MS[tier] >= _AUTO_MIN_WINDOWS:
                return tier
        return Resolution.RAW
