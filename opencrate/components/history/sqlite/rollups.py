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
* **After downtime**: every window after the last stored row is recomputed from
  the raw samples and the newest reopened.

This module holds the window arithmetic and table access; when and how windows
are opened, closed and recomputed is :mod:`~opencrate.components.history.sqlite.rollup_maintenance`.

The open window is never in the table; queries read rollups only up to
:func:`rolled_until` and raw samples after it (see :mod:`.sqlite_queries`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from opencrate.components.history.service import TIER_WIDTH_MS, Resolution
from opencrate.model.values import PointValue

__all__ = [
    "ROLLUP_COLUMNS",
    "Accumulator",
    "RollupRow",
    "compute_window",
    "numeric_state_before",
    "rolled_until",
    "rollup_table",
    "tier_ddl",
    "window_start",
    "write_rows",
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


def numeric_state_before(conn: sqlite3.Connection, point_key: int, ts: int) -> float | None:
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
    acc = Accumulator(point_key, start, width, numeric_state_before(conn, point_key, start))
    upper = start + width if stop is None else min(start + width, stop)
    for ts, value in conn.execute(
        "SELECT ts_ms, value FROM sample WHERE point_key = ? AND ts_ms >= ? AND ts_ms < ? "
        "ORDER BY ts_ms",
        (point_key, start, upper),
    ):
        acc.add(ts, value)
    return acc


def rolled_until(conn: sqlite3.Connection, point_key: int, tier: Resolution) -> int | None:
    """Where this tier's rows stop being complete for a point: readers take raw after it.

    The end of the newest stored row: after it come the open window and,
    for a point the writer has not touched since start (its windows are
    reopened lazily), any window missed while rollups were not kept. With no
    row at all, the window of the point's oldest sample (``None``: no
    samples). Both are index probes, from the same read snapshot as the rows
    themselves, so a reader never mistakes a window being written for an
    empty one.
    """
    width = TIER_WIDTH_MS[tier]
    last_row = conn.execute(
        f"SELECT max(start_ms) FROM {rollup_table(tier)} WHERE point_key = ?", (point_key,)
    ).fetchone()[0]
    if last_row is not None:
        return int(last_row) + width
    oldest = conn.execute(
        "SELECT min(ts_ms) FROM sample WHERE point_key = ?", (point_key,)
    ).fetchone()[0]
    return None if oldest is None else window_start(oldest, width)
