"""SQL of the ``postgresql`` service: schema, monthly partitions, upsert and the query primitives.

Every function takes an open ``psycopg.Connection`` and runs in the service's
worker thread (never on the trio loop). Table and schema names are quoted
with :class:`psycopg.sql.Identifier`; values always travel as parameters.

Layout (one table for every OpenCrate node that shares the server)::

    <schema>.<table>(point_id text, ts_ms bigint, num double precision, txt text,
                     kind "char",  -- f float, i int, b bool, s text
                     PRIMARY KEY (point_id, ts_ms)) PARTITION BY RANGE (ts_ms)
    <schema>.<table>_pYYYYMM   one partition per calendar month (UTC), created on demand

The primitives follow :mod:`opencrate.components.history.service` exactly as the
SQLite service does; they are computed in SQL (window functions for the
time-weighted series, ``percentile_cont`` for the median), not by loading rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from opencrate.components.history.service import (
    RiemannType,
    Sample,
    SampleRow,
    WeightedStats,
    WindowStats,
)
from opencrate.model.values import PointValue

__all__ = [
    "Names",
    "decode",
    "encode",
    "ensure_partitions",
    "ensure_schema",
    "month_bounds",
    "upsert",
]

_COLS = sql.SQL("ts_ms, num, txt, kind")


class Names:
    """The quoted identifiers of one service's table."""

    def __init__(self, schema: str, table: str) -> None:
        self.schema_name = schema
        self.table_name = table
        self.schema = sql.Identifier(schema)
        self.table = sql.Identifier(schema, table)

    def partition(self, month: str) -> sql.Composable:
        return sql.Identifier(self.schema_name, f"{self.table_name}_p{month}")


def encode(value: PointValue) -> tuple[float | None, str | None, str]:
    """``(num, txt, kind)`` columns for a value."""
    if isinstance(value, bool):
        return (1.0 if value else 0.0), None, "b"
    if isinstance(value, int):
        return float(value), None, "i"
    if isinstance(value, float):
        return value, None, "f"
    return None, value, "s"


def decode(num: float | None, txt: str | None, kind: str) -> PointValue:
    if kind == "s":
        return txt or ""
    assert num is not None
    if kind == "b":
        return num != 0
    if kind == "i":
        return int(num)
    return float(num)


def _sample(point_id: str, row: Sequence[Any] | None) -> Sample | None:
    if row is None:
        return None
    return Sample(point_id=point_id, ts_ms=row[0], value=decode(row[1], row[2], row[3]))


def month_bounds(ts_ms: int) -> tuple[str, int, int]:
    """``("YYYYMM", start_ms, end_ms)`` of the UTC month holding ``ts_ms``."""
    moment = datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
    start = datetime(moment.year, moment.month, 1, tzinfo=UTC)
    end = datetime(moment.year + moment.month // 12, moment.month % 12 + 1, 1, tzinfo=UTC)
    return (
        f"{moment.year:04d}{moment.month:02d}",
        int(start.timestamp() * 1000),
        int(end.timestamp() * 1000),
    )


def ensure_schema(conn: psycopg.Connection[Any], names: Names) -> None:
    with conn.transaction():
        # Several OpenCrate nodes may start at once against one server.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (names.table_name,))
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(names.schema))
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (point_id text NOT NULL, ts_ms bigint NOT NULL, "
                'num double precision, txt text, kind "char" NOT NULL, '
                "PRIMARY KEY (point_id, ts_ms)) PARTITION BY RANGE (ts_ms)"
            ).format(names.table)
        )


def ensure_partitions(
    conn: psycopg.Connection[Any], names: Names, ts_values: Iterable[int], known: set[str]
) -> None:
    """Create the monthly partitions the timestamps need (inside the caller's transaction)."""
    needed = {month_bounds(ts) for ts in ts_values}
    missing = sorted(m for m in needed if m[0] not in known)
    if not missing:
        return
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (names.table_name,))
    for month, start, end in missing:
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})"
            ).format(names.partition(month), names.table, sql.Literal(start), sql.Literal(end))
        )
    known.update(m for m, _s, _e in missing)


def upsert(conn: psycopg.Connection[Any], names: Names, samples: Sequence[SampleRow]) -> None:
    """Insert or replace ``samples`` (inside the caller's transaction)."""
    query = sql.SQL(
        "INSERT INTO {} (point_id, ts_ms, num, txt, kind) VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT (point_id, ts_ms) DO UPDATE "
        "SET num = EXCLUDED.num, txt = EXCLUDED.txt, kind = EXCLUDED.kind"
    ).format(names.table)
    # Later samples of the same (point, ts) win, as they would one by one.
    latest = {(p, t): v for p, t, v in samples}
    with conn.cursor() as cur:
        cur.executemany(query, [(p, t, *encode(v)) for (p, t), v in latest.items()])


def page(
    conn: psycopg.Connection[Any],
    names: Names,
    point_id: str,
    begin: int,
    end: int,
    descending: bool,
    limit: int,
) -> tuple[list[Sample], int | None]:
    order = sql.SQL("DESC" if descending else "ASC")
    rows = conn.execute(
        sql.SQL(
            "SELECT {} FROM {} WHERE point_id = %s AND ts_ms BETWEEN %s AND %s "
            "ORDER BY ts_ms {} LIMIT %s"
        ).format(_COLS, names.table, order),
        (point_id, begin, end, limit + 1),
    ).fetchall()
    samples = [s for row in rows[:limit] if (s := _sample(point_id, row)) is not None]
    return samples, (rows[limit][0] if len(rows) > limit else None)


def remove(conn: psycopg.Connection[Any], names: Names, point_id: str, begin: int, end: int) -> int:
    cur = conn.execute(
        sql.SQL("DELETE FROM {} WHERE point_id = %s AND ts_ms BETWEEN %s AND %s").format(
            names.table
        ),
        (point_id, begin, end),
    )
    return cur.rowcount


def last_states(
    conn: psycopg.Connection[Any], names: Names, point_ids: list[str] | None
) -> dict[str, Sample]:
    where = sql.SQL("WHERE point_id = ANY(%s)") if point_ids is not None else sql.SQL("")
    rows = conn.execute(
        sql.SQL(
            "SELECT DISTINCT ON (point_id) point_id, {} FROM {} {} ORDER BY point_id, ts_ms DESC"
        ).format(_COLS, names.table, where),
        (point_ids,) if point_ids is not None else (),
    ).fetchall()
    return {row[0]: Sample(point_id=row[0], ts_ms=row[1], value=decode(*row[2:])) for row in rows}


def one(
    conn: psycopg.Connection[Any],
    names: Names,
    point_id: str,
    ts: int,
    *,
    before: bool,
    differing: PointValue | None = None,
) -> Sample | None:
    """Newest sample at or before ``ts`` (``before``) or oldest at or after it.

    With ``differing``, only samples whose value is not equal to it (``==``
    semantics: numbers and booleans numerically, text by text).
    """
    cond: sql.Composable = sql.SQL("ts_ms <= %s") if before else sql.SQL("ts_ms >= %s")
    params: list[Any] = [point_id, ts]
    if differing is not None:
        num, txt, kind = encode(differing)
        if kind == "s":
            cond = sql.SQL("{} AND (kind <> 's' OR txt <> %s)").format(cond)
            params.append(txt)
        else:
            cond = sql.SQL("{} AND (kind = 's' OR num <> %s)").format(cond)
            params.append(num)
    order = sql.SQL("DESC" if before else "ASC")
    row = conn.execute(
        sql.SQL("SELECT {} FROM {} WHERE point_id = %s AND {} ORDER BY ts_ms {} LIMIT 1").format(
            _COLS, names.table, cond, order
        ),
        params,
    ).fetchone()
    return _sample(point_id, row)


def window_stats(
    conn: psycopg.Connection[Any], names: Names, point_id: str, begin: int, end: int
) -> WindowStats:
    t = names.table
    args = (point_id, begin, end)
    inside = sql.SQL("point_id = %s AND ts_ms BETWEEN %s AND %s")
    count, numeric, total, changes = conn.execute(
        sql.SQL(
            "SELECT count(*), count(*) FILTER (WHERE kind <> 's'), "
            "coalesce(sum(num) FILTER (WHERE kind <> 's'), 0), "
            "coalesce(sum(CASE WHEN prev IS NOT NULL AND prev <> cur THEN 1 ELSE 0 END), 0) "
            "FROM (SELECT num, kind, "
            "CASE WHEN kind = 's' THEN 's:' || txt ELSE 'n:' || num::text END AS cur, "
            "lag(CASE WHEN kind = 's' THEN 's:' || txt ELSE 'n:' || num::text END) "
            "OVER (ORDER BY ts_ms) AS prev FROM {} WHERE {}) w"
        ).format(t, inside),
        args,
    ).fetchone() or (0, 0, 0.0, 0)

    def pick(order: str, numeric_only: bool) -> Sample | None:
        cond = sql.SQL(" AND kind <> 's'") if numeric_only else sql.SQL("")
        row = conn.execute(
            sql.SQL("SELECT {} FROM {} WHERE {}{} ORDER BY {} LIMIT 1").format(
                _COLS, t, inside, cond, sql.SQL(order)
            ),
            args,
        ).fetchone()
        return _sample(point_id, row)

    return WindowStats(
        count=count,
        numeric_count=numeric,
        sum=float(total),
        min=pick("num ASC, ts_ms ASC", True),
        max=pick("num DESC, ts_ms ASC", True),
        first=pick("ts_ms ASC", False),
        last=pick("ts_ms DESC", False),
        changes=int(changes),
    )


_WEIGHT = {
    RiemannType.LEFT: "coalesce(nts, ts) - ts",
    RiemannType.RIGHT: "ts - coalesce(pts, ts)",
    RiemannType.TRAPEZOIDAL: "(coalesce(nts, ts) - coalesce(pts, ts)) / 2.0",
    RiemannType.MIDPOINT: "(coalesce(nts, ts) - coalesce(pts, ts)) / 2.0",
}


def weighted_stats(
    conn: psycopg.Connection[Any],
    names: Names,
    point_id: str,
    begin: int,
    end: int,
    riemann: RiemannType,
) -> WeightedStats | None:
    """The augmented numeric series of the contract, integrated in SQL."""
    t = names.table
    row = conn.execute(
        sql.SQL(
            """
WITH pts(ts, v) AS (
    (SELECT %(b)s::bigint, num FROM {t} WHERE point_id = %(p)s AND ts_ms <= %(b)s
       AND kind <> 's' ORDER BY ts_ms DESC LIMIT 1)
    UNION ALL
    SELECT ts_ms, num FROM {t} WHERE point_id = %(p)s AND ts_ms > %(b)s AND ts_ms <= %(e)s
       AND kind <> 's'
    UNION ALL
    SELECT %(e)s::bigint, num FROM
       (SELECT ts_ms, num FROM {t} WHERE point_id = %(p)s AND ts_ms <= %(e)s AND kind <> 's'
        ORDER BY ts_ms DESC LIMIT 1) newest
    WHERE newest.ts_ms < %(e)s
),
seq AS (SELECT ts, v, lag(ts) OVER w AS pts, lead(ts) OVER w AS nts
        FROM pts WINDOW w AS (ORDER BY ts)),
weighted AS (SELECT v, ({weight})::double precision AS w FROM seq),
agg AS (SELECT sum(w) AS dur, sum(w * v) AS integral FROM weighted)
SELECT (SELECT max(ts) - min(ts) FROM pts), dur, integral,
       (SELECT sum(w * (v - integral / dur) ^ 2) FROM weighted) / dur
FROM agg WHERE dur > 0
"""
        ).format(t=t, weight=sql.SQL(_WEIGHT[riemann])),
        {"p": point_id, "b": begin, "e": end},
    ).fetchone()
    if row is None:
        return None
    span, duration, integral, variance = row
    return WeightedStats(
        duration_ms=int(span),
        integral=float(integral),
        mean=float(integral) / float(duration),
        variance=float(variance),
    )


def median(
    conn: psycopg.Connection[Any], names: Names, point_id: str, begin: int, end: int
) -> float | None:
    row = conn.execute(
        sql.SQL(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY num) FROM {} "
            "WHERE point_id = %s AND ts_ms BETWEEN %s AND %s AND kind <> 's'"
        ).format(names.table),
        (point_id, begin, end),
    ).fetchone()
    return None if row is None or row[0] is None else float(row[0])
