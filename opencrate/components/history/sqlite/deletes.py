"""The SQL of one retention batch: delete a point's oldest raw samples or rollup rows.

The history store runs these as write commands
(:meth:`~opencrate.components.history.sqlite.store.HistoryStore.purge_raw_batch`,
``purge_rollup_batch``); :mod:`~opencrate.components.history.sqlite.retention`
decides what to delete and when. They live apart from both so the dependency
goes one way: ``retention`` -> ``store`` -> ``deletes``.
"""

from __future__ import annotations

import sqlite3

from opencrate.components.history.service import TIER_WIDTH_MS, Resolution
from opencrate.components.history.sqlite.rollups import rollup_table

__all__ = ["delete_raw_batch", "delete_rollup_batch"]


def delete_raw_batch(conn: sqlite3.Connection, key: int, cutoff_ms: int, limit: int) -> int:
    """Delete up to ``limit`` of a point's oldest samples before ``cutoff_ms``.

    Keeps the newest sample before the cutoff (the state in force at it).
    """
    keep = conn.execute(
        "SELECT max(ts_ms) FROM sample WHERE point_key = ? AND ts_ms < ?", (key, cutoff_ms)
    ).fetchone()[0]
    if keep is None:
        return 0
    # The sample ``limit`` rows in bounds this batch (DELETE ... LIMIT is not
    # compiled into every SQLite build).
    row = conn.execute(
        "SELECT ts_ms FROM sample WHERE point_key = ? AND ts_ms < ? ORDER BY ts_ms "
        "LIMIT 1 OFFSET ?",
        (key, keep, limit - 1),
    ).fetchone()
    upper = keep - 1 if row is None else row[0]
    deleted: int = conn.execute(
        "DELETE FROM sample WHERE point_key = ? AND ts_ms <= ?", (key, upper)
    ).rowcount
    if deleted:
        # From now on the rollups before ``keep`` hold more than the raw samples
        # left there: a late sample or a removal must not recompute them from raw.
        conn.execute(
            "INSERT INTO raw_floor (point_key, before_ms) VALUES (?, ?) ON CONFLICT (point_key) "
            "DO UPDATE SET before_ms = max(before_ms, excluded.before_ms)",
            (key, keep),
        )
    return deleted


def delete_rollup_batch(
    conn: sqlite3.Connection, key: int, tier: Resolution, cutoff_ms: int, limit: int
) -> int:
    """Delete up to ``limit`` of a point's rows of ``tier`` whose window ended by ``cutoff_ms``."""
    table = rollup_table(tier)
    last_start = cutoff_ms - TIER_WIDTH_MS[tier]
    row = conn.execute(
        f"SELECT start_ms FROM {table} WHERE point_key = ? AND start_ms <= ? ORDER BY start_ms "
        "LIMIT 1 OFFSET ?",
        (key, last_start, limit - 1),
    ).fetchone()
    upper = last_start if row is None else row[0]
    return conn.execute(
        f"DELETE FROM {table} WHERE point_key = ? AND start_ms <= ?", (key, upper)
    ).rowcount
