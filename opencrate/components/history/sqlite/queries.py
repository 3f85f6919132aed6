"""SQL behind the SQLite history's query primitives (runs in the actor's threads).

Everything is computed inside SQLite; Python only combines a handful of
partial results. Long windows are split by :func:`plan` into raw pieces at the
ragged ends and rollup pieces in the aligned middle, the coarsest tier first
(a 7-day window at 1-minute data reads about 170 hourly rows plus two short raw
ranges instead of 10,080 samples). Only statistics a rollup row can give
*exactly* are read from rollups: count, sum, min, max, first, last, state
changes and the LEFT (step-hold) integral. Everything else (other Riemann
types, variance, median) is one SQL statement over the raw samples.

Values come back as SQLite stores them (``float``/``int``/``str``); the store
turns integers of boolean points back into ``bool``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from attrs import define

from opencrate.components.history.service import TIER_WIDTH_MS, Resolution, RiemannType
from opencrate.components.history.sqlite.rollups import rolled_until, rollup_table

__all__ = [
    "Partial",
    "median",
    "newest_at",
    "newest_differing",
    "oldest_differing",
    "oldest_from",
    "plan",
    "weighted_left",
    "weighted_raw",
    "window_extreme",
    "window_partial",
]

NUMERIC = "typeof(value) IN ('integer', 'real')"

#: A piece of a window: ``(tier or None for raw, lo_ms, hi_ms)``, both ends inclusive.
Piece = tuple[Resolution | None, int, int]
#: ``(ts_ms, value)`` as read from SQLite.
Row = tuple[int, Any]


def newest_at(conn: sqlite3.Connection, key: int, ts: int | None) -> Row | None:
    """The newest sample at or before ``ts`` (the newest of all when ``None``)."""
    upper = (1 << 63) - 1 if ts is None else ts
    return conn.execute(  # type: ignore[no-any-return]
        "SELECT ts_ms, value FROM sample WHERE point_key = ? AND ts_ms <= ? "
        "ORDER BY ts_ms DESC LIMIT 1",
        (key, upper),
    ).fetchone()


#: The newest sample of each point by index probes: two per point, never a scan
#: of ``sample``. CROSS JOIN fixes the loop order (SQLite otherwise chose to
#: scan every sample and test it, which grows with the archive).
_NEWEST_OF_EACH = (
    "SELECT p.key, s.ts_ms, s.value FROM {source} CROSS JOIN sample AS s "
    "ON s.point_key = p.key AND s.ts_ms = (SELECT max(ts_ms) FROM sample WHERE point_key = p.key)"
)
_ALL_POINTS = _NEWEST_OF_EACH.format(source="point AS p")
_SOME_POINTS = _NEWEST_OF_EACH.format(
    source="json_each(?) AS j CROSS JOIN point AS p ON p.key = j.value"
)


def newest_of_each(
    conn: sqlite3.Connection, keys: Sequence[int] | None
) -> list[tuple[int, int, Any]]:
    """``(key, ts_ms, value)`` of the newest sample of every point (or of ``keys``): one query."""
    if keys is None:
        return conn.execute(_ALL_POINTS).fetchall()
    return conn.execute(_SOME_POINTS, (json.dumps(keys),)).fetchall()


def oldest_from(conn: sqlite3.Connection, key: int, ts: int) -> Row | None:
    return conn.execute(  # type: ignore[no-any-return]
        "SELECT ts_ms, value FROM sample WHERE point_key = ? AND ts_ms >= ? ORDER BY ts_ms LIMIT 1",
        (key, ts),
    ).fetchone()


def newest_differing(conn: sqlite3.Connection, key: int, ts: int, value: Any) -> Row | None:
    # ``IS NOT`` compares like Python's == here: 1 = 1.0 (True is stored as 1), '1' <> 1.
    return conn.execute(  # type: ignore[no-any-return]
        "SELECT ts_ms, value FROM sample WHERE point_key = ? AND ts_ms <= ? "
        "AND value IS NOT ? ORDER BY ts_ms DESC LIMIT 1",
        (key, ts, value),
    ).fetchone()


def oldest_differing(conn: sqlite3.Connection, key: int, ts: int, value: Any) -> Row | None:
    return conn.execute(  # type: ignore[no-any-return]
        "SELECT ts_ms, value FROM sample WHERE point_key = ? AND ts_ms >= ? "
        "AND value IS NOT ? ORDER BY ts_ms LIMIT 1",
        (key, ts, value),
    ).fetchone()


def median(conn: sqlite3.Connection, key: int, begin: int, end: int) -> float | None:
    """Plain median of the numeric samples in ``[begin, end]``; SQLite's sorter finds the
    middle one or two values."""
    args = {"k": key, "b": begin, "e": end}
    where = f"point_key = :k AND ts_ms BETWEEN :b AND :e AND {NUMERIC}"
    (n,) = conn.execute(f"SELECT count(*) FROM sample WHERE {where}", args).fetchone()
    if n == 0:
        return None
    middle = [
        float(v)
        for (v,) in conn.execute(
            f"SELECT value FROM sample WHERE {where} ORDER BY value LIMIT :m OFFSET :o",
            {**args, "m": 2 - n % 2, "o": (n - 1) // 2},
        )
    ]
    return sum(middle) / len(middle)


def plan(
    conn: sqlite3.Connection, key: int, begin: int, end: int, tiers: Sequence[Resolution]
) -> list[Piece]:
    """Split ``[begin, end]`` into raw and rollup pieces, in time order.

    ``tiers`` coarsest first. A tier covers the aligned windows that lie wholly
    inside the range and before its :func:`rolled_until` (the open window is
    never read from a table).
    """
    if not tiers:
        return [(None, begin, end)]
    tier, finer = tiers[0], tiers[1:]
    width = TIER_WIDTH_MS[tier]
    until = rolled_until(conn, key, tier)
    lo = -(-begin // width) * width
    # Windows end where the next begins: a body ending at ``hi`` integrates up to
    # ``hi``, so it must not pass ``end`` (the raw tail then runs from ``hi`` to ``end``).
    hi = (end // width) * width
    if until is not None:
        hi = min(hi, until)
    if until is None or lo >= hi:
        return plan(conn, key, begin, end, finer)
    pieces: list[Piece] = []
    if begin < lo:
        pieces += plan(conn, key, begin, lo - 1, finer)
    pieces.append((tier, lo, hi - 1))
    if hi <= end:
        pieces += plan(conn, key, hi, end, finer)
    return pieces


@define
class Partial:
    """Unweighted statistics of consecutive pieces; :meth:`extend` appends a later piece."""

    count: int = 0
    num_count: int = 0
    sum: float = 0.0
    min: Row | None = None
    max: Row | None = None
    first: Row | None = None
    last: Row | None = None
    changes: int = 0

    def extend(self, later: Partial) -> None:
        if later.count == 0:
            return
        if self.last is not None and later.first is not None and self.last[1] != later.first[1]:
            self.changes += 1
        self.changes += later.changes
        self.count += later.count
        self.num_count += later.num_count
        self.sum += later.sum
        if later.min is not None and (self.min is None or later.min[1] < self.min[1]):
            self.min = later.min
        if later.max is not None and (self.max is None or later.max[1] > self.max[1]):
            self.max = later.max
        if self.first is None:
            self.first = later.first
        self.last = later.last


def _raw_partial(conn: sqlite3.Connection, key: int, lo: int, hi: int) -> Partial:
    args = (key, lo, hi)
    where = "point_key = ? AND ts_ms BETWEEN ? AND ?"
    count, num_count, total, changes = conn.execute(
        f"SELECT count(*), count(CASE WHEN {NUMERIC} THEN 1 END), "
        f"total(CASE WHEN {NUMERIC} THEN value END), "
        "total(prev IS NOT NULL AND value IS NOT prev) "
        "FROM (SELECT value, lag(value) OVER (ORDER BY ts_ms) AS prev "
        f"FROM sample WHERE {where})",
        args,
    ).fetchone()
    if count == 0:
        return Partial()

    ends = _ends(
        conn,
        args,
        f"SELECT ts_ms, value FROM sample WHERE {where} AND {NUMERIC} ORDER BY value, ts_ms",
        f"SELECT ts_ms, value FROM sample WHERE {where} AND {NUMERIC} ORDER BY value DESC, ts_ms",
        f"SELECT ts_ms, value FROM sample WHERE {where} ORDER BY ts_ms",
        f"SELECT ts_ms, value FROM sample WHERE {where} ORDER BY ts_ms DESC",
    )
    return Partial(
        count=count, num_count=num_count, sum=total,
        min=ends[0], max=ends[1], first=ends[2], last=ends[3], changes=int(changes),
    )  # fmt: skip


def _ends(conn: sqlite3.Connection, args: tuple[int, int, int], *queries: str) -> list[Row | None]:
    """The first row of each query (``(ts, value)`` or None), in one statement.

    One round trip instead of one per query: a window's statistics are read
    from up to five pieces, and each statement costs more in Python than the
    index probe it runs.
    """
    union = " UNION ALL ".join(
        f"SELECT {i}, * FROM ({sql} LIMIT 1)" for i, sql in enumerate(queries)
    )
    found: list[Row | None] = [None] * len(queries)
    for i, ts, value in conn.execute(union, args * len(queries)):
        found[i] = (ts, value)
    return found


def _rollup_partial(
    conn: sqlite3.Connection, key: int, tier: Resolution, lo: int, hi: int
) -> Partial:
    table = rollup_table(tier)
    args = (key, lo, hi)
    where = "point_key = ? AND start_ms BETWEEN ? AND ?"
    count, num_count, total, changes = conn.execute(
        f"SELECT total(count), total(num_count), total(sum), "
        f"total(changes + (prev_last IS NOT NULL AND first IS NOT prev_last)) FROM "
        f"(SELECT *, lag(last) OVER (ORDER BY start_ms) AS prev_last FROM {table} WHERE {where})",
        args,
    ).fetchone()
    if not count:
        return Partial()

    ends = _ends(
        conn,
        args,
        f"SELECT min_ts, min FROM {table} WHERE {where} AND min IS NOT NULL ORDER BY min, min_ts",
        f"SELECT max_ts, max FROM {table} WHERE {where} AND max IS NOT NULL "
        "ORDER BY max DESC, max_ts",
        f"SELECT first_ts, first FROM {table} WHERE {where} ORDER BY start_ms",
        f"SELECT last_ts, last FROM {table} WHERE {where} ORDER BY start_ms DESC",
    )
    return Partial(
        count=int(count), num_count=int(num_count), sum=total,
        min=ends[0], max=ends[1], first=ends[2], last=ends[3], changes=int(changes),
    )  # fmt: skip


def window_partial(
    conn: sqlite3.Connection, key: int, begin: int, end: int, tiers: Sequence[Resolution]
) -> Partial:
    """Unweighted statistics of the samples in ``[begin, end]`` (rollups where exact)."""
    result = Partial()
    for tier, lo, hi in plan(conn, key, begin, end, tiers):
        piece = (
            _raw_partial(conn, key, lo, hi)
            if tier is None
            else _rollup_partial(conn, key, tier, lo, hi)
        )
        result.extend(piece)
    return result


def window_extreme(
    conn: sqlite3.Connection,
    key: int,
    begin: int,
    end: int,
    tiers: Sequence[Resolution],
    *,
    high: bool,
) -> tuple[Row | None, Row | None]:
    """``(best, at_begin)``: the oldest sample holding the window's highest (or lowest)
    numeric value, raw or from rollups where exact, and the newest sample at or before
    ``begin``.

    One statement: maximum/minimum need only one index probe per piece and the
    state at ``begin``, not the counts, sums and changes of :func:`window_partial`.
    """
    order = "DESC" if high else "ASC"
    column = "max" if high else "min"
    queries = [
        "SELECT ts_ms, value FROM sample WHERE point_key = ? AND ts_ms <= ? ORDER BY ts_ms DESC"
    ]
    args: list[int] = [key, begin]
    for tier, lo, hi in plan(conn, key, begin, end, tiers):
        if tier is None:
            queries.append(
                "SELECT ts_ms, value FROM sample WHERE point_key = ? AND ts_ms BETWEEN ? AND ? "
                f"AND {NUMERIC} ORDER BY value {order}, ts_ms"
            )
        else:
            queries.append(
                f"SELECT {column}_ts, {column} FROM {rollup_table(tier)} "
                f"WHERE point_key = ? AND start_ms BETWEEN ? AND ? AND {column} IS NOT NULL "
                f"ORDER BY {column} {order}, {column}_ts"
            )
        args += (key, lo, hi)
    union = " UNION ALL ".join(
        f"SELECT {i}, * FROM ({sql} LIMIT 1)" for i, sql in enumerate(queries)
    )
    found: list[Row | None] = [None] * len(queries)
    for i, ts, value in conn.execute(union, args):
        found[i] = (ts, value)
    best: Row | None = None
    for row in found[1:]:  # pieces in time order: a later one wins only when strictly better
        if row is not None and (best is None or (row[1] > best[1] if high else row[1] < best[1])):
            best = row
    return best, found[0]


def _series_sql(riemann: RiemannType) -> str:
    # The augmented series of the service contract: the state in force at
    # begin moved to begin, the numeric samples in (begin, end], and the state
    # in force at end moved to end when the last sample is before end.
    weight = {
        RiemannType.LEFT: "coalesce(nts, ts) - ts",
        RiemannType.RIGHT: "ts - coalesce(pts, ts)",
        RiemannType.TRAPEZOIDAL: "(coalesce(nts, ts) - coalesce(pts, ts)) / 2.0",
        RiemannType.MIDPOINT: "(coalesce(nts, ts) - coalesce(pts, ts)) / 2.0",
    }[riemann]
    return f"""
WITH pts(ts, v) AS (
    SELECT :b, value FROM (SELECT value FROM sample WHERE point_key = :k AND ts_ms <= :b
                           AND {NUMERIC} ORDER BY ts_ms DESC LIMIT 1)
    UNION ALL
    SELECT ts_ms, value FROM sample WHERE point_key = :k AND ts_ms > :b AND ts_ms <= :e
                                       AND {NUMERIC}
    UNION ALL
    SELECT :e, value FROM (SELECT ts_ms, value FROM sample WHERE point_key = :k
                           AND ts_ms <= :e AND {NUMERIC} ORDER BY ts_ms DESC LIMIT 1)
    WHERE ts_ms < :e
),
seq AS (
    SELECT ts, v, lag(ts) OVER w AS pts, lead(ts) OVER w AS nts FROM pts WINDOW w AS (ORDER BY ts)
),
weighted AS (SELECT v, {weight} AS w FROM seq),
agg AS (SELECT total(w) AS dur, total(w * v) AS integral, total(w * v * v) AS sq FROM weighted)
"""


def weighted_raw(
    conn: sqlite3.Connection, key: int, begin: int, end: int, riemann: RiemannType
) -> tuple[float, float, float] | None:
    """``(duration_ms, integral, variance)`` of the augmented series from raw samples."""
    row = conn.execute(
        _series_sql(riemann)
        + "SELECT dur, integral, (SELECT total(w * (v - integral / dur) * (v - integral / dur)) "
        "FROM weighted) FROM agg WHERE dur > 0",
        {"k": key, "b": begin, "e": end},
    ).fetchone()
    if row is None:
        return None
    duration, integral, spread = row
    return duration, integral, spread / duration


Moments = tuple[float, float, float]  # (duration_ms, integral of v, integral of v^2)


def _left_raw(conn: sqlite3.Connection, key: int, lo: int, hi: int) -> Moments:
    row = conn.execute(
        _series_sql(RiemannType.LEFT) + "SELECT dur, integral, sq FROM agg",
        {"k": key, "b": lo, "e": hi},
    ).fetchone()
    return (row[0], row[1], row[2]) if row is not None else (0.0, 0.0, 0.0)


def _left_rollup(conn: sqlite3.Connection, key: int, tier: Resolution, lo: int, hi: int) -> Moments:
    width = TIER_WIDTH_MS[tier]
    table = rollup_table(tier)
    # The state carried into the piece: rows first (they survive raw retention).
    carried = conn.execute(
        f"SELECT close FROM {table} WHERE point_key = ? AND start_ms < ? "
        "ORDER BY start_ms DESC LIMIT 1",
        (key, lo),
    ).fetchone()
    carry = None if carried is None else carried[0]
    if carry is None:
        raw = conn.execute(
            f"SELECT value FROM sample WHERE point_key = ? AND ts_ms < ? AND {NUMERIC} "
            "ORDER BY ts_ms DESC LIMIT 1",
            (key, lo),
        ).fetchone()
        carry = None if raw is None else raw[0]
    # Rows hold [start, start + width); the gaps between them held the previous close.
    row = conn.execute(
        f"""
SELECT total(weight_ms) + total(gap_w), total(integral) + total(gap_w * close),
       total(integral_sq) + total(gap_w * close * close), min(start_ms)
FROM (SELECT start_ms, weight_ms, integral, integral_sq, close,
             CASE WHEN close IS NULL THEN 0
                  ELSE coalesce(lead(start_ms) OVER w, :hi + 1) - start_ms - :width END AS gap_w
      FROM {table} WHERE point_key = :k AND start_ms BETWEEN :lo AND :hi
      WINDOW w AS (ORDER BY start_ms))
""",
        {"k": key, "lo": lo, "hi": hi, "width": width},
    ).fetchone()
    weight, integral, integral_sq, first_start = row
    if first_start is None:
        first_start = hi + 1
    if carry is not None:
        weight += first_start - lo
        integral += carry * (first_start - lo)
        integral_sq += carry * carry * (first_start - lo)
    return weight, integral, integral_sq


def weighted_left(
    conn: sqlite3.Connection, key: int, begin: int, end: int, tiers: Sequence[Resolution]
) -> Moments:
    """Moments of the LEFT (step-hold) series, from rollups where possible."""
    weight = integral = integral_sq = 0.0
    pieces = plan(conn, key, begin, end, tiers)
    for i, (tier, lo, hi) in enumerate(pieces):
        if tier is None:
            # A raw piece closes at the start of the next piece (LEFT gives the
            # closing point no weight, so the sample there is not counted twice).
            close_at = pieces[i + 1][1] if i + 1 < len(pieces) else hi
            w, s, sq = _left_raw(conn, key, lo, close_at)
        else:
            w, s, sq = _left_rollup(conn, key, tier, lo, hi)
        weight += w
        integral += s
        integral_sq += sq
    return weight, integral, integral_sq
