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
    """A page of ``tier`` windows starting in ``[begin's window, end]``, at most ``limit``.

    Costs what the page holds, not what the range holds: the stored windows
    are read with ORDER BY and LIMIT in SQL (one more than ``limit``, for the
    cursor), and windows not stored yet (at or after :func:`rolled_until`,
    normally just the open one) are computed from raw samples only when the
    page reaches them: always first when descending, after the stored ones
    when ascending and the page is not full.
    """
    width = TIER_WIDTH_MS[tier]
    first = begin - begin % width
    fetch = limit + 1 if limit >= 0 else -1
    until = rolled_until(conn, key, tier)
    stored_end = end if until is None else min(end, until - 1)
    computed: list[tuple[Any, ...]] = []
    if descending:
        if until is not None and until <= end:
            computed = _unstored(conn, key, width, max(until, first), end)
            computed.reverse()
        rows = computed + _stored(conn, key, tier, first, stored_end, "DESC", fetch, len(computed))
    else:
        rows = _stored(conn, key, tier, first, stored_end, "ASC", fetch, 0)
        if until is not None and until <= end and (fetch < 0 or len(rows) < fetch):
            rows += _unstored(conn, key, width, max(until, first), end)
    next_ms = None
    if 0 <= limit < len(rows):
        nxt = rows[limit][0]
        next_ms = nxt + width - 1 if descending else nxt
        rows = rows[:limit]
    buckets = tuple(
        RollupBucket(
            point_id=point_id, start_ms=s, width_ms=width, count=n,
            mean=(integral / weight) if nn and weight else None,
            min=mn, max=mx, sum=total, first=decode(f), last=decode(la),
        )
        for s, n, nn, total, mn, mx, f, la, integral, weight in rows
    )  # fmt: skip
    samples = tuple(
        Sample(point_id=point_id, ts_ms=b.start_ms, value=b.last if b.mean is None else b.mean)
        for b in buckets
    )
    return HistoryPage(
        point_id=point_id, resolution=tier, samples=samples, buckets=buckets, next_ms=next_ms
    )


_BUCKET_COLUMNS = "start_ms, count, num_count, sum, min, max, first, last, integral, weight_ms"


def _stored(
    conn: sqlite3.Connection, key: int, tier: Resolution, lo: int, hi: int, order: str,
    fetch: int, have: int,
) -> list[tuple[Any, ...]]:  # fmt: skip
    """Stored windows starting in ``[lo, hi]`` in ``order``: ``fetch`` rows less ``have``."""
    want = -1 if fetch < 0 else fetch - have
    if want == 0 or hi < lo:
        return []
    return conn.execute(
        f"SELECT {_BUCKET_COLUMNS} FROM {rollup_table(tier)} "
        f"WHERE point_key = ? AND start_ms BETWEEN ? AND ? ORDER BY start_ms {order} LIMIT ?",
        (key, lo, hi, want),
    ).fetchall()


def _unstored(
    conn: sqlite3.Connection, key: int, width: int, lo: int, hi: int
) -> list[tuple[Any, ...]]:
    """Windows with samples in ``[lo, hi]`` that are not in the table, from raw, oldest first."""
    starts = [
        s
        for (s,) in conn.execute(
            f"SELECT DISTINCT ts_ms - ts_ms % {width} FROM sample "
            "WHERE point_key = ? AND ts_ms >= ? AND ts_ms <= ? ORDER BY 1",
            (key, lo, hi),
        )
    ]
    out = []
    for start in starts:
        r = compute_window(conn, key, start, width).row()
        out.append((r[1], r[2], r[3], r[4], r[5], r[7], r[9], r[11], r[14], r[16]))
    return out
