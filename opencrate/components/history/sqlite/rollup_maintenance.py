"""When rollup windows open, close and are recomputed (the history actor's writer thread).

:class:`RollupMaintainer` keeps every point's open windows in memory and
writes closed ones in the caller's transaction; see
:mod:`~opencrate.components.history.sqlite.rollups` for what a window holds and why both
paths (incremental and recomputed from raw) agree.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from opencrate.components.history.service import TIER_WIDTH_MS, Resolution
from opencrate.components.history.sqlite.rollups import (
    Accumulator,
    RollupRow,
    compute_window,
    numeric_state_before,
    rollup_table,
    window_start,
    write_rows,
)
from opencrate.model.values import PointValue

__all__ = ["RollupMaintainer", "backfill", "raw_floor", "recompute_windows"]


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
    instead, for the caller to keep open. Closed windows starting before the
    point's raw floor (where retention purged raw samples) are left as they
    are: their rows are the only record of the purged samples.
    """
    width = TIER_WIDTH_MS[tier]
    table = rollup_table(tier)
    floor = raw_floor(conn, point_key)
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
        if floor is not None and start < floor and start != open_start:
            continue
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


def raw_floor(conn: sqlite3.Connection, point_key: int) -> int | None:
    """Before this time retention may have deleted the point's raw samples (or None)."""
    row = conn.execute(
        "SELECT before_ms FROM raw_floor WHERE point_key = ?", (point_key,)
    ).fetchone()
    return None if row is None else int(row[0])


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
        #: Points created in the current command: nothing stored before their first sample.
        self._new_points: set[int] = set()

    def load(self, conn: sqlite3.Connection, point_key: int) -> None:
        """Back-fill a point's missed windows and reopen its newest ones (at start)."""
        if not self.tiers:
            return
        opened = backfill(conn, point_key, self.tiers)
        self.open_by_point[point_key] = [opened.get(t) for t in self.tiers]

    def new_point(self, point_key: int) -> None:
        """``point_key`` was just created: its first window carries no state in, and
        looking for one (a query per point: 50,000 at a large building's first start)
        is skipped."""
        self._new_points.add(point_key)

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
                if point_key in self._new_points:
                    self._new_points.discard(point_key)
                    carry = None
                else:
                    carry = numeric_state_before(conn, point_key, ts)
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

    def flush_before(self, conn: sqlite3.Connection, cutoff_ms: int, point_key: int) -> None:
        """Close the point's open windows ending by ``cutoff_ms`` and write them.

        Used before raw samples older than ``cutoff_ms`` are purged, so a
        point that went quiet keeps its last windows.
        """
        accs = self.open_by_point.get(point_key)
        if accs is not None:
            for level in range(len(self.tiers)):
                acc = accs[level]
                if acc is not None and acc.end <= cutoff_ms:
                    self._close(conn, accs, level)
        self.write_pending(conn)

    def oldest_open_start(self, point_key: int) -> int | None:
        """Where the point's oldest open window begins (None: nothing open)."""
        starts = [acc.start for acc in self.open_by_point.get(point_key, ()) if acc is not None]
        return min(starts, default=None)

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
        self._new_points.clear()

    @property
    def open_windows(self) -> int:
        # Read from the trio thread (statistics) while the writer thread adds
        # points: list() copies in one C call under the GIL, a generator over the
        # live dict raised "dictionary changed size during iteration".
        return sum(acc is not None for accs in list(self.open_by_point.values()) for acc in accs)
