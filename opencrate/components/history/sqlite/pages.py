"""Pages of history from the SQLite store: raw samples, or rollup windows.

Run in the history actor's read thread. A tier page reads the stored windows
and computes the ones not stored yet (the open window, past
:func:`~opencrate.components.history.sqlite.rollups.rolled_until`) from raw samples, so the
newest window is never missing from a chart.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from opencrate.components.history.service import (
    TIER_WIDTH_MS,
    HistoryPage,
    Resolution,
    RollupBucket,
    Sample,
)
from opencrate.components.history.sqlite.rollups import compute_window, rolled_until, rollup_table
from opencrate.model.values import PointValue

__all__ = ["raw_page", "tier_page"]

#: Turns a stored value back into the point's value type (booleans).
Decode = Callable[[Any], PointValue]


def raw_page(
conn: sqlite3.Connection, point_id: str, key: int, begin: int, end: int,
    descending: bool, limit: int, decode: Decode,
) -> HistoryPage:  # fmt: skip
    order = "DESC" if descending else "ASC"
    fetch = limit + 1 if limit >= 0 else -1
    rows = conn.execute(
        f"SELECT ts_ms, value FROM sample WHERE point_key = ? AND ts_ms BETWEEN ? AND ? "
        f"ORDER BY ts_ms {order} LIMIT ?",
        (key, begin, end, fetch),
    ).fetchall()
    next_ms = None
    if 0 <= limit < len(rows):
        next_ms = rows[limit][0]
        rows = rows[:limit]
    samples = tuple(Sample(point_id=point_id, ts_ms=ts, value=decode(v)) for ts, v in rows)
    return HistoryPage(
        point_id=point_id, resolution=Resolution.RAW, samples=samples, next_ms=next_ms
    )


def tier_page(
conn: sqlite3.Connection, point_id: str, key: int, tier: Resolution,
    begin: int, end: int, descending: bool, limit: int, decode: Decode,
) -> HistoryPage:  # fmt: skip
    width = TIER_WIDTH_MS[tier]
    first = begin - begin % width
    rows = conn.execute(
        f"SELECT start_ms, count, num_count, sum, min, max, first, last, integral, weight_ms "
        f"FROM {rollup_table(tier)} WHERE point_key = ? AND start_ms BETWEEN ? AND ? "
        "ORDER BY start_ms",
        (key, first, end),
    ).fetchall()
    until = rolled_until(conn, key, tier)
    if until is not None and until <= end:
        starts = [
            s
            for (s,) in conn.execute(
                f"SELECT DISTINCT ts_ms - ts_ms % {width} FROM sample "
                "WHERE point_key = ? AND ts_ms >= ? AND ts_ms <= ?",
                (key, max(until, first), end),
            )
        ]
        for start in starts:
            r = compute_window(conn, key, start, width).row()
            rows.append((r[1], r[2], r[3], r[4], r[5], r[7], r[9], r[11], r[14], r[16]))
    buckets = [
        RollupBucket(
            point_id=point_id, start_ms=s, width_ms=width, count=n,
            mean=(integral / weight) if nn and weight else None,
            min=mn, max=mx, sum=total, first=decode(f), last=decode(la),
        )
        for s, n, nn, total, mn, mx, f, la, integral, weight in rows
    ]  # fmt: skip
    if descending:
        buckets.reverse()
    next_ms = None
    if 0 <= limit < len(buckets):
        nxt = buckets[limit].start_ms
        next_ms = nxt + width - 1 if descending else nxt
        buckets = buckets[:limit]
    samples = tuple(
        Sample(point_id=point_id, ts_ms=b.start_ms, value=b.last if b.mean is None else b.mean)
        for b in buckets
    )
    return HistoryPage(
        point_id=point_id, resolution=tier, samples=samples, buckets=tuple(buckets),
        next_ms=next_ms,
    )  # fmt: skip
