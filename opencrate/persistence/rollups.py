"""Rollup tiers of the SQLite history: windows maintained as samples arrive.

A tier (5 min, 1 h) holds one row per point and window ``[start, start + width)``
that has samples: count, numeric count, sum, min/max (with their timestamps),
first/last (with theirs), the number of state changes inside the window, and
the step-hold time-weighted integral with the duration it covers. ``close`` is
the numeric state in force at the window's end, so empty windows after a row
are known to hold it.

Maintenance (all in the history actor's worker thread, inside its transaction):

* **In order** (the normal case): each point has an open :class:`Accumulator`
  per tier in memory. A sample in the open window is added in O(1); a sample in
  a later window closes the open one, which is written as a row in the same
  transaction as the sample that closed it. The first tier's closed rows are
  *folded* into the next tier's accumulator, so a sample costs one update, not
  one per tier (exact: every statistic here is mergeable).
* **Out of order** (a sample at or before the point's newest, a removal): the
  affected windows are recomputed from the raw samples with the same
  accumulator code, so both paths agree by construction.
* **After downtime**: :func:`backfill` recomputes every window after the last
  stored row from the raw samples and reopens the accumulator of the newest one.

The open window is never in the table; queries read rollups only up to
:func:`rolled_until` and raw samples after it (see :mod:`.sqlite_queries`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from opencrate.model.values import PointValue
from opencrate.persistence.service import TIER_WIDTH_MS, Resolution

__all__ = [
    "ROLLUP_COLUMNS",
    "Accumulator",
    "RollupMaintainer",
    "RollupRow",
    "backfill",
    "recompute_windows",
    "rolled_until",
    "rollup_table",
    "tier_ddl",
]

#: Column order of a rollup row in SQL and in :data:`RollupRow`.
ROLLUP_COLUMNS = (
    "point_key, start_ms, count, num_count, sum, min, min_ts, max, max_ts, "
    "first, first_ts, last, last_ts, changes, integral, integral_sq, weight_ms, close"
)

#: A row as written: the columns of :data:`ROLLUP_COLUMNS` in order.
RollupRow = tuple[Any, ...]


def rollup_table(tier: Resolution) -> str:
    """The table of ``tier`` (a fixed name per tier, never built from user data)."""
    return {Resolution.FIVE_MIN: "rollup_5m", Resolution.HOUR: "rollup_1h"}[tier]


def tier_ddl(tier: Resolution) -> str:
    return f"""
CREATE TABLE IF NOT EXISTS {rollup_table(tier)} (
    point_key INTEGER NOT NULL,
    start_ms INTEGER NOT NULL,
    count INTEGER NOT NULL,
    num_count INTEGER NOT NULL,
    sum REAL,
    min, min_ts INTEGER,
    max, max_ts INTEGER,
    first, first_ts INTEGER NOT NULL,
    last, last_ts INTEGER NOT NULL,
    changes INTEGER NOT NULL,
    integral REAL NOT NULL,
    integral_sq REAL NOT NULL,
    weight_ms INTEGER NOT NULL,
    close,
    PRIMARY KEY (point_key, start_ms)
) WITHOUT ROWID;
"""


def _numeric(value: PointValue) -> bool:
    return type(value) is not str


class Accumulator:
    """Statistics of one point's window, fed in time order.

    ``carry`` is the numeric state in force at ``start`` (``None`` if unknown):
    the integral covers ``[start, end)`` when it is known, else it begins at the
    first numeric sample (the same "trim" as the extensions).
    """

    __slots__ = (
        "carry",
        "changes",
        "count",
        "cur_ts",
        "cur_v",
        "end",
        "first",
        "first_ts",
        "integral",
        "integral_sq",
        "last",
        "last_ts",
        "max",
        "max_ts",
        "min",
        "min_ts",
        "num_count",
        "point_key",
        "start",
        "sum",
        "weight",
    )

    def __init__(self, point_key: int, start: int, width: int, carry: float | None) -> None:
        self.point_key = point_key
        self.carry = carry
        self.start = start
        self.end = start + width
        self.count = self.num_count = self.changes = 0
        self.sum = 0.0
        self.min: float | None = None
        self.max: float | None = None
        self.min_ts = self.max_ts = 0
        self.first: PointValue = 0
        self.last: PointValue = 0
        self.first_ts = self.last_ts = 0
        self.integral = self.integral_sq = 0.0
        self.weight = 0
        self.cur_v = carry
        self.cur_ts = start

    def add(self, ts: int, value: PointValue) -> None:
        """Add a sample with ``start <= ts < end`` and ``ts`` after every earlier one."""
        if self.count == 0:
            self.first, self.first_ts = value, ts
        elif value != self.last:
            self.changes += 1
        self.last, self.last_ts = value, ts
        self.count += 1
        if type(value) is str:
            return
        v = float(value)
        cur = self.cur_v
        if cur is not None:
            held = cur * (ts - self.cur_ts)
            self.integral += held
            self.integral_sq += held * cur
            self.weight += ts - self.cur_ts
        self.cur_v, self.cur_ts = v, ts
        self.num_count += 1
        self.sum += v
        # Strict comparisons keep the oldest sample among equal extremes.
        if self.min is None or v < self.min:
            self.min, self.min_ts = v, ts
        if self.max is None or v > self.max:
            self.max, self.max_ts = v, ts

    def merge(self, row: RollupRow, width: int) -> None:
        """Fold a closed row of a finer tier (rows in time order, all inside this window)."""
        (_, start, count, num_count, total, mn, mn_ts, mx, mx_ts, first, first_ts, last, last_ts,
         changes, integral, integral_sq, weight, close) = row  # fmt: skip
        # The gap before the row held the state we carry.
        cur = self.cur_v
        if cur is not None:
            self.integral += cur * (start - self.cur_ts)
            self.integral_sq += cur * cur * (start - self.cur_ts)
            self.weight += start - self.cur_ts
        if self.count == 0:
            self.first, self.first_ts = first, first_ts
        elif first != self.last:
            self.changes += 1
        self.changes += changes
        self.last, self.last_ts = last, last_ts
        self.count += count
        self.num_count += num_count
        self.sum += total or 0.0
        if mn is not None and (self.min is None or mn < self.min):
            self.min, self.min_ts = mn, mn_ts
        if mx is not None and (self.max is None or mx > self.max):
            self.max, self.max_ts = mx, mx_ts
        self.integral += integral
        self.integral_sq += integral_sq
        self.weight += weight
        self.cur_v, self.cur_ts = close, start + width

    def row(self) -> RollupRow:
        """The closed window as a row: the held state runs on to ``end``."""
        integral, integral_sq, weight = self.integral, self.integral_sq, self.weight
        cur = self.cur_v
        if cur is not None:
            integral += cur * (self.end - self.cur_ts)
            integral_sq += cur * cur * (self.end - self.cur_ts)
            weight += self.end - self.cur_ts
        return (
            self.point_key, self.start, self.count, self.num_count,
            self.sum if self.num_count else None,
            self.min, self.min_ts if self.min is not None else None,
            self.max, self.max_ts if self.max is not None else None,
            self.first, self.first_ts, self.last, self.last_ts,
            self.changes, integral, integral_sq, weight, self.cur_v,
        )  # fmt: skip


def window_start(ts: int, width: int) -> int:
    return ts - ts % width


def _insert_sql(tier: Resolution) -> str:
    return (
        f"INSERT OR REPLACE INTO {rollup_table(tier)} ({ROLLUP_COLUMNS}) "
        f"VALUES ({', '.join('?' * 18)})"
    )


def write_rows(conn: sqlite3.Connection, tier: Resolution, rows: Sequence[RollupRow]) -> None:
    if rows:
        conn.executemany(_insert_sql(tier), rows)


def _numeric_state_before(conn: sqlite3.Connection, point_key: int, ts: int) -> float | None:
    row = conn.execute(
        "SELECT value FROM sample WHERE point_key = ? AND ts_ms < ? "
        "AND typeof(value) IN ('integer', 'real') ORDER BY ts_ms DESC LIMIT 1",
        (point_key, ts),
    ).fetchone()
    return None if row is None else float(row[0])


def compute_window(
    conn: sqlite3.Connection, point_key: int, start: int, width: int, stop: int | None = None
) -> Accumulator:
    """A window's accumulator recomputed from the raw samples (may be empty).

    With ``stop``, only samples before it are added: a coarse window that is
    still open holds just the finer windows already closed (the open finer
    window is folded in when it closes, and must not be counted twice).
    """
    acc = Accumulator(point_key, start, width, _numeric_state_before(conn, point_key, start))
    upper = start + width if stop is None else min(start + width, stop)
    for ts, value in conn.execute(
        "SELECT ts_ms, value FROM sample WHERE point_key = ? AND ts_ms >= ? AND ts_ms < ? "
        "ORDER BY ts_ms",
        (point_key, start, upper),
    ):
        acc.add(ts, value)
    return acc


def recompute_windows(
    conn: sqlite3.Connection,
    point_key: int,
    tier: Resolution,
    starts: Iterable[int],
    open_start: int | None,
    open_stop: int | None = None,
) -> Accumulator | None:
    """Rewrite the closed windows ``starts`` of a tier from raw samples.

    Also rewrites the stored windows after each whose carried-in state may
    have changed (up to the first with a numeric sample of its own). A window
    at ``open_start`` is not written: its fresh accumulator is returned
    instead, for the caller to keep open.
    """
    width = TIER_WIDTH_MS[tier]
    table = rollup_table(tier)
    todo: set[int] = set()
    for start in starts:
        todo.add(start)
        # Later windows carry the numeric state in: up to and including the
        # first one with a numeric sample of its own, they may have changed.
        for nxt, num_count in conn.execute(
            f"SELECT start_ms, num_count FROM {table} WHERE point_key = ? AND start_ms > ? "
            "ORDER BY start_ms",
            (point_key, start),
        ):
            todo.add(nxt)
            if num_count:
                break
    reopened = None
    rows = []
    for start in sorted(todo):
        if start == open_start:
            acc = compute_window(conn, point_key, start, width, open_stop)
            reopened = acc
            conn.execute(
                f"DELETE FROM {table} WHERE point_key = ? AND start_ms = ?", (point_key, start)
            )
            continue
        acc = compute_window(conn, point_key, start, width)
        if acc.count:
            rows.append(acc.row())
        else:
            conn.execute(
                f"DELETE FROM {table} WHERE point_key = ? AND start_ms = ?", (point_key, start)
            )
    write_rows(conn, tier, rows)
    return reopened


def rolled_until(conn: sqlite3.Connection, point_key: int, tier: Resolution) -> int | None:
    """Where this tier's rows stop being complete for a point (the open window's start).

    Computed from the same read snapshot as the rows themselves, so a reader
    never mistakes a window being written for an empty one.
    """
    width = TIER_WIDTH_MS[tier]
    newest = conn.execute(
        "SELECT max(ts_ms) FROM sample WHERE point_key = ?", (point_key,)
    ).fetchone()[0]
    last_row = conn.execute(
        f"SELECT max(start_ms) FROM {rollup_table(tier)} WHERE point_key = ?", (point_key,)
    ).fetchone()[0]
    candidates = []
    if newest is not None:
        candidates.append(window_start(newest, width))
    if last_row is not None:
        candidates.append(last_row + width)
    return max(candidates) if candidates else None


def backfill(
    conn: sqlite3.Connection, point_key: int, tiers: Sequence[Resolution]
) -> dict[Resolution, Accumulator]:
    """Write every window missed since the last stored row; return the open accumulators.

    Runs at start for each point: windows whose samples arrived while rollups
    were not being kept (the process was down, or crashed with the window
    open) are computed from raw samples, and the newest window is reopened.
    """
    opened: dict[Resolution, Accumulator] = {}
    newest = conn.execute(
        "SELECT max(ts_ms) FROM sample WHERE point_key = ?", (point_key,)
    ).fetchone()[0]
    if newest is None:
        return opened
    finest_open = window_start(newest, TIER_WIDTH_MS[tiers[0]]) if tiers else None
    for level, tier in enumerate(tiers):
        width = TIER_WIDTH_MS[tier]
        table = rollup_table(tier)
        last_row = conn.execute(
            f"SELECT max(start_ms) FROM {table} WHERE point_key = ?", (point_key,)
        ).fetchone()[0]
        open_start = window_start(newest, width)
        since = 0 if last_row is None else last_row + width
        starts = [
            window_start(ts, width)
            for (ts,) in conn.execute(
                f"SELECT DISTINCT ts_ms - ts_ms % {width} FROM sample "
                "WHERE point_key = ? AND ts_ms >= ? AND ts_ms < ?",
                (point_key, since, open_start),
            )
        ]
        rows = [compute_window(conn, point_key, s, width).row() for s in starts]
        write_rows(conn, tier, rows)
        if open_start >= since:
            stop = None if level == 0 else finest_open
            opened[tier] = compute_window(conn, point_key, open_start, width, stop)
    return opened


class RollupMaintainer:
    """Open accumulators of every point and tier, and the rows they close.

    Lives in the history actor and is only touched from its writer thread.
    ``tiers`` must be ordered by width, each width a multiple of the previous.
    """

    def __init__(self, tiers: Sequence[Resolution]) -> None:
        self.tiers = tuple(sorted(tiers, key=lambda t: TIER_WIDTH_MS[t]))
        self.widths = tuple(TIER_WIDTH_MS[t] for t in self.tiers)
        for finer, coarser in zip(self.widths, self.widths[1:], strict=False):
            if coarser % finer:
                raise ValueError(f"rollup width {coarser} ms is not a multiple of {finer} ms")
        #: Open accumulators per point, finest tier first (read by the store's hot path).
        self.open_by_point: dict[int, list[Accumulator | None]] = {}
        self._pending: list[list[RollupRow]] = [[] for _ in self.tiers]

    def load(self, conn: sqlite3.Connection, point_key: int) -> None:
        """Back-fill a point's missed windows and reopen its newest ones (at start)."""
        if not self.tiers:
            return
        opened = backfill(conn, point_key, self.tiers)
        self.open_by_point[point_key] = [opened.get(t) for t in self.tiers]

    def add(self, conn: sqlite3.Connection, point_key: int, ts: int, value: PointValue) -> None:
        """Add a sample newer than every stored sample of the point (the fast path)."""
        if not self.tiers:
            return
        accs = self.open_by_point.get(point_key)
        if accs is None:
            accs = self.open_by_point[point_key] = [None] * len(self.tiers)
        acc = accs[0]
        if acc is None or ts >= acc.end:
            width = self.widths[0]
            if acc is None:
                carry = _numeric_state_before(conn, point_key, ts)
            else:
                carry = acc.cur_v
                self._close(conn, accs, 0)
            # Coarser windows this sample has moved past are complete too.
            for level in range(1, len(accs)):
                coarse = accs[level]
                if coarse is not None and ts >= coarse.end:
                    self._close(conn, accs, level)
            acc = accs[0] = Accumulator(point_key, ts - ts % width, width, carry)
        acc.add(ts, value)

    def _close(self, conn: sqlite3.Connection, accs: list[Accumulator | None], level: int) -> None:
        acc = accs[level]
        assert acc is not None
        row = acc.row()
        accs[level] = None
        if acc.count:
            self._pending[level].append(row)
        if level + 1 == len(self.tiers):
            return
        coarse = accs[level + 1]
        start = acc.start
        if coarse is None or start >= coarse.end:
            width = self.widths[level + 1]
            if coarse is None:
                # This is the first window with samples in the coarse one (an
                # earlier one would have opened it), so nothing changed the
                # state between the coarse start and ours. (Not a query: this
                # batch's rows are not inserted yet.)
                carry = acc.carry
            else:
                carry = coarse.cur_v
                self._close(conn, accs, level + 1)
            coarse = accs[level + 1] = Accumulator(
                acc.point_key, start - start % width, width, carry
            )
        if acc.count:
            coarse.merge(row, self.widths[level])

    def recompute(self, conn: sqlite3.Connection, point_key: int, ts_list: Iterable[int]) -> None:
        """Recompute the windows holding ``ts_list`` (after out-of-order writes or removal)."""
        if not self.tiers:
            return
        accs = self.open_by_point.setdefault(point_key, [None] * len(self.tiers))
        self.write_pending(conn)
        finest = accs[0]
        finest_open = None if finest is None else finest.start
        for level, tier in enumerate(self.tiers):
            width = self.widths[level]
            acc = accs[level]
            open_start = None if acc is None else acc.start
            if level and finest_open is not None:
                # The coarse window around the open finest one is open, even if
                # nothing has been folded into it yet.
                open_start = window_start(finest_open, width)
            starts = {window_start(ts, width) for ts in ts_list}
            if open_start is not None and any(s < open_start for s in starts):
                starts.add(open_start)  # its carried-in state may have changed
            stop = None if level == 0 else finest_open
            reopened = recompute_windows(conn, point_key, tier, starts, open_start, stop)
            if reopened is not None:
                accs[level] = reopened

    def flush_before(
        self, conn: sqlite3.Connection, cutoff_ms: int, point_key: int | None = None
    ) -> int:
        """Close every open window (of one point, or all) ending by ``cutoff_ms``; return how many.

        Used before raw samples older than ``cutoff_ms`` are purged, so a
        point that went quiet keeps its last windows.
        """
        closed = 0
        if point_key is None:
            points = list(self.open_by_point.values())
        else:
            points = [self.open_by_point[point_key]] if point_key in self.open_by_point else []
        for accs in points:
            for level in range(len(self.tiers)):
                acc = accs[level]
                if acc is not None and acc.end <= cutoff_ms:
                    self._close(conn, accs, level)
                    closed += 1
        self.write_pending(conn)
        return closed

    def write_pending(self, conn: sqlite3.Connection) -> None:
        """Write the rows closed since the last call (in the caller's transaction)."""
        for tier, rows in zip(self.tiers, self._pending, strict=True):
            if rows:
                write_rows(conn, tier, rows)
                rows.clear()

    def discard_pending(self) -> None:
        """Forget closed rows whose transaction rolled back (recomputed by the next backfill)."""
        for rows in self._pending:
            rows.clear()

    def forget(self, point_key: int) -> None:
        self.open_by_point.pop(point_key, None)

    @property
    def open_windows(self) -> int:
        return sum(acc is not None for accs in self.open_by_point.values() for acc in accs)
