"""OverrideStore: operator overrides of point values, with optional expiry (``overrides.db``).

An override pins a point to a value an operator chose ("hold this damper at
30 % until 18:00") whatever the field reports meanwhile.

How it stays on top
    The :class:`~opencrate.components.points.store.PointStore` has an override layer:
    while a point is overridden, source writes (pollers, programs, restore)
    land in the point's *source layer* and are not visible or published. So
    bridges need not know about overrides, and cannot clobber one.

What a release returns to
    The point returns to **the last value its source reported while the
    override was in force, else the value it had before the override** (with
    that reading's status). That is the value the field would show now; going
    back to a pre-override value the field has since contradicted would
    publish a stale reading as current. The returned value is stamped with the
    release time. A point that had no value and got none meanwhile goes back
    to no value with status ``unknown``.

Re-overriding
    Setting an override on an overridden point replaces value, user, reason
    and expiry, and keeps the *original* previous state; the replaced
    override goes to the history with end reason ``replaced``.

Expiry
    :meth:`OverrideStore.run_expiry` is a task the application runs beside the
    store: it sleeps until the next expiry (woken early when a sooner one is
    set), ends what is due (end reason ``expired``, ended by ``system``) and
    goes back to sleep. Timestamps come from the store's :class:`Clock`, sleeps
    from trio, so ``autojump_clock`` tests with :class:`TrioClock` see expiry
    happen on virtual time. Without that task overrides do not expire.

Restart
    Active overrides are kept in the database and re-applied to the
    PointStore when the store opens (level 10, before bridges start): the
    stored previous state is restored into the point first (without
    publishing), then the override is applied. Overrides that expired while
    the process was down are ended at open, recorded as ``expired``, and
    their previous value is restored (if the point has none yet).

Events
    Through the PointStore: ``ValueChanged`` and ``StatusChanged`` (to and
    from ``overridden``). The store itself publishes
    ``EntityUpdated(entity_id=node_id, changed_fields=("override",))`` when an
    override is set, replaced, released or expires, so clients can refresh
    the override's user, reason and expiry, which no value event carries.

Schema (version 1)::

    override(node_id PRIMARY KEY, value JSON, user, reason, set_ms, expires_ms,
             previous_value JSON, previous_status, previous_ts_ms)
    override_history(id INTEGER PRIMARY KEY, node_id, value JSON, user, reason,
                     set_ms, expires_ms, ended_ms, ended_by, end_reason)

Cancellation: set/release/expiry run under one lock, and their database
write is shielded, so the database, the cache and the PointStore always
change together: a caller cancelled mid-way may miss the reply, never the
change.
"""

from __future__ import annotations

import enum
import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import trio
from attrs import frozen

from opencrate.clock import Clock
from opencrate.components.points.store import PointState, PointStore
from opencrate.errors import InvalidInput, NotFound
from opencrate.model.values import PointStatus, PointValue, ValueKind, ValueRange, coerce_value
from opencrate.runtime.actor import StoreActor, StoreStatistics
from opencrate.runtime.bus import EventBus
from opencrate.runtime.events import EntityUpdated
from opencrate.runtime.paging import read_newest_first
from opencrate.runtime.records import (
    JSON_TEXT,
    Codec,
    column,
    columns,
    enum_codec,
    from_row,
    named_rows,
)
from opencrate.validation import INT64_MAX

__all__ = ["EndReason", "EndedOverride", "Override", "OverrideStore", "OverrideStoreStatistics"]

_SCHEMA_V1 = """
CREATE TABLE override (
    node_id         TEXT PRIMARY KEY CHECK (node_id <> ''),
    value           TEXT NOT NULL CHECK (json_valid(value)),
    user            TEXT NOT NULL CHECK (user <> ''),
    reason          TEXT NOT NULL DEFAULT '',
    set_ms          INTEGER NOT NULL,
    expires_ms      INTEGER,
    previous_value  TEXT CHECK (previous_value IS NULL OR json_valid(previous_value)),
    previous_status TEXT,
    previous_ts_ms  INTEGER
);
CREATE INDEX override_expires ON override (expires_ms) WHERE expires_ms IS NOT NULL;
CREATE TABLE override_history (
    id          INTEGER PRIMARY KEY,
    node_id     TEXT NOT NULL,
    value       TEXT NOT NULL,
    user        TEXT NOT NULL,
    reason      TEXT NOT NULL,
    set_ms      INTEGER NOT NULL,
    expires_ms  INTEGER,
    ended_ms    INTEGER NOT NULL,
    ended_by    TEXT NOT NULL,
    end_reason  TEXT NOT NULL CHECK (end_reason IN ('released', 'expired', 'replaced'))
);
CREATE INDEX override_history_node ON override_history (node_id, id);
"""

SYSTEM_USER = "system"
#: The latest expiry a row can hold: SQLite INTEGER is signed 64-bit.
_MAX_EXPIRY_MS = INT64_MAX


class EndReason(enum.StrEnum):
    RELEASED = "released"  # an operator released it
    EXPIRED = "expired"  # its expiry time passed
    REPLACED = "replaced"  # a new override on the same point took its place


def _previous_json(previous: PointState) -> dict[str, Any]:
    return {"value": previous.value, "status": previous.status.value, "ts_ms": previous.ts_ms}


#: ``previous`` is kept in three columns (``previous_value``, ``_status``, ``_ts_ms``).
_PREVIOUS = Codec(
    to_json=_previous_json,
    schema={
        "type": ["object", "null"],
        "properties": {
            "value": {},
            "status": {"type": "string", "enum": [s.value for s in PointStatus]},
            "ts_ms": {"type": "integer"},
        },
    },
)
_END_REASON = enum_codec(EndReason)


@frozen(kw_only=True)
class Override:
    """An active override. ``previous`` is the point's visible state before it (or None)."""

    node_id: str = column(sql_type="TEXT")
    value: PointValue = column(sql_type="TEXT", codec=JSON_TEXT)
    user: str = column(sql_type="TEXT")
    reason: str = column(sql_type="TEXT")
    set_ms: int = column(sql_type="INTEGER")
    expires_ms: int | None = column(sql_type="INTEGER")
    previous: PointState | None = column(sql=None, codec=_PREVIOUS)


@frozen(kw_only=True)
class EndedOverride:
    """One row of the override history."""

    id: int = column(sql_type="INTEGER")
    node_id: str = column(sql_type="TEXT")
    value: PointValue = column(sql_type="TEXT", codec=JSON_TEXT)
    user: str = column(sql_type="TEXT")
    reason: str = column(sql_type="TEXT")
    set_ms: int = column(sql_type="INTEGER")
    expires_ms: int | None = column(sql_type="INTEGER")
    ended_ms: int = column(sql_type="INTEGER")
    ended_by: str = column(sql_type="TEXT")
    end_reason: EndReason = column(sql_type="TEXT", codec=_END_REASON)


#: The columns of ``override``: the record's, then the three of ``previous``.
_COLUMNS = f"{columns(Override)}, previous_value, previous_status, previous_ts_ms"


#: The columns an ended override keeps in ``override_history``.
_KEPT_IN_HISTORY = ("node_id", "value", "user", "reason", "set_ms", "expires_ms")


def _row_to_override(row: sqlite3.Row) -> Override:
    previous = None
    if row["previous_status"] is not None:
        raw = row["previous_value"]
        previous = PointState(
            node_id=row["node_id"],
            value=None if raw is None else json.loads(raw),
            status=PointStatus(row["previous_status"]),
            ts_ms=row["previous_ts_ms"],
        )
    return from_row(Override, row, previous=previous)


def _end_in_db(
    conn: sqlite3.Connection, node_id: str, *, ended_ms: int, ended_by: str, reason: EndReason
) -> Override | None:
    """Move the active row of ``node_id`` to the history; returns it, or None if there was none."""
    row = named_rows(
        conn, f"DELETE FROM override WHERE node_id = ? RETURNING {_COLUMNS}", (node_id,)
    ).fetchone()
    if row is None:
        return None
    conn.execute(
        "INSERT INTO override_history (node_id, value, user, reason, set_ms, expires_ms, "
        "ended_ms, ended_by, end_reason) VALUES (:node_id, :value, :user, :reason, :set_ms, "
        ":expires_ms, :ended_ms, :ended_by, :end_reason)",
        {
            **{name: row[name] for name in _KEPT_IN_HISTORY},
            "ended_ms": ended_ms,
            "ended_by": ended_by,
            "end_reason": reason.value,
        },
    )
    return _row_to_override(row)


@frozen(kw_only=True)
class OverrideStoreStatistics:
    active: int  # overrides in force


class OverrideStore(StoreActor):
    """Active overrides (cached in memory) and their history. See the module docstring."""

    name = "overrides"
    migrations = (_SCHEMA_V1,)

    def __init__(
        self,
        path: Path | str,
        *,
        points: PointStore,
        bus: EventBus,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(path, clock=clock)
        self._points = points
        self._bus = bus
        self._active: dict[str, Override] = {}
        self._lock = trio.Lock()
        self._wakeup = trio.Event()

    # -- commands ----------------------------------------------------------------
    async def set(
        self,
        node_id: str,
        value: object,
        *,
        user: str,
        reason: str = "",
        expires_ms: int | None = None,
        kind: ValueKind | str | None = None,
        value_range: ValueRange | None = None,
    ) -> Override:
        """Override ``node_id`` with ``value`` until released or until ``expires_ms`` (epoch ms).

        ``kind`` (``number``, ``bool``, ``enum``, ``str``) coerces text or JSON
        input, e.g. ``"72"`` to ``72.0``; without it the value must already be
        a finite number, a boolean or a string. ``value_range`` is the point's
        ``minVal`` / ``maxVal`` (see
        :func:`~opencrate.components.nodes.well_known.value_range`): a number
        outside it is refused.

        Raises :class:`InvalidInput` for an empty node id or user, an unknown
        kind, a value that is not of the kind, not finite or outside
        ``value_range`` (naming the point, the value and the range), or an
        expiry not in the future (or past SQLite's 64-bit integer range);
        nothing is stored and an existing override stays as it was.
        """
        node_id, user = self._check_names(node_id, user)
        if not isinstance(reason, str):
            raise InvalidInput("override reason must be a string", field="reason")
        point_value = self._check_value(node_id, value, kind)
        if value_range is not None:
            value_range.check(point_value, point=node_id, what="override value")
        now = self.clock.now_ms()
        if expires_ms is not None:
            if isinstance(expires_ms, bool) or not isinstance(expires_ms, int):
                raise InvalidInput("override expiry must be epoch milliseconds", field="expires_ms")
            if expires_ms <= now:
                raise InvalidInput(
                    f"override expiry {expires_ms} is not in the future (now is {now})",
                    field="expires_ms",
                    node_id=node_id,
                )
            if expires_ms > _MAX_EXPIRY_MS:
                # sqlite3 cannot bind it: it would fail as a bare OverflowError.
                raise InvalidInput(
                    f"override expiry {expires_ms} is out of range (at most {_MAX_EXPIRY_MS})",
                    field="expires_ms",
                    node_id=node_id,
                )
        value_json = json.dumps(point_value)
        async with self._lock:
            existing = self._active.get(node_id)
            previous = existing.previous if existing is not None else self._points.get(node_id)

            def upsert(conn: sqlite3.Connection) -> Override:
                conn.execute(
                    "INSERT INTO override_history (node_id, value, user, reason, set_ms, "
                    "expires_ms, ended_ms, ended_by, end_reason) "
                    "SELECT node_id, value, user, reason, set_ms, expires_ms, ?, ?, ? "
                    "FROM override WHERE node_id = ?",
                    (now, user, EndReason.REPLACED.value, node_id),
                )
                # On conflict the previous_* columns are left alone: a re-override
                # keeps the state from before the first one.
                row = named_rows(
                    conn,
                    f"INSERT INTO override ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (node_id) DO UPDATE SET value = excluded.value, "
                    "user = excluded.user, reason = excluded.reason, "
                    "set_ms = excluded.set_ms, expires_ms = excluded.expires_ms "
                    f"RETURNING {_COLUMNS}",
                    (
                        node_id,
                        value_json,
                        user,
                        reason,
                        now,
                        expires_ms,
                        None
                        if previous is None or previous.value is None
                        else json.dumps(previous.value),
                        None if previous is None else previous.status.value,
                        None if previous is None else previous.ts_ms,
                    ),
                ).fetchone()
                return _row_to_override(row)

            # Shielded: once written, the cache and the point must follow even if
            # our caller is cancelled meanwhile (the actor runs the command anyway).
            with trio.CancelScope(shield=True):
                override = await self.write(upsert)
            self._active[node_id] = override
            self._points.override(node_id, override.value, ts_ms=now)
            self._announce(node_id, now)
            if expires_ms is not None:
                self._wakeup.set()
        return override

    async def release(self, node_id: str, *, user: str) -> Override:
        """End the override of ``node_id`` now; the point returns to its source value.

        Returns the override that ended. Raises :class:`NotFound` when the
        point is not overridden and :class:`InvalidInput` for an empty user.
        """
        node_id, user = self._check_names(node_id, user)
        async with self._lock:
            if node_id not in self._active:
                raise NotFound(f"point {node_id} is not overridden", node_id=node_id)
            ended = await self._end(node_id, user=user, reason=EndReason.RELEASED)
        assert ended is not None
        return ended

    async def run_expiry(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Forever: sleep until the next expiry, then end the overrides that are due.

        Wakes early when an override with an expiry is set. Store errors
        propagate (the supervisor restarts the task). Cancel it to stop.
        """
        task_status.started()
        while True:
            # A fresh event before looking: a set() from now on wakes the sleep below.
            self._wakeup = trio.Event()
            now = self.clock.now_ms()
            for node_id in [o.node_id for o in self._active.values() if _due(o, now)]:
                async with self._lock:
                    current = self._active.get(node_id)
                    # Released or replaced while we waited for the lock: decide again.
                    if current is not None and _due(current, self.clock.now_ms()):
                        await self._end(node_id, user=SYSTEM_USER, reason=EndReason.EXPIRED)
            next_ms = min(
                (o.expires_ms for o in self._active.values() if o.expires_ms is not None),
                default=None,
            )
            delay = math.inf
            if next_ms is not None:
                delay = max(next_ms - self.clock.now_ms(), 0) / 1000
            # No periodic wake-up: under autojump_clock, time jumps to the next
            # deadline whenever tasks wait on a worker thread, so a timer that fires
            # every minute would let virtual time run away during every write.
            with trio.move_on_after(delay):
                await self._wakeup.wait()

    def statistics(self) -> StoreStatistics[OverrideStoreStatistics]:
        """The actor's figures; ``detail`` counts the active overrides."""
        return self._statistics_with(OverrideStoreStatistics(active=len(self._active)))

    # -- queries -----------------------------------------------------------------
    def active(self) -> list[Override]:
        """Every active override, by node id (from the in-memory cache; no I/O)."""
        return [self._active[k] for k in sorted(self._active)]

    def get(self, node_id: str) -> Override | None:
        """The active override of ``node_id``, or None (cache; no I/O)."""
        return self._active.get(node_id)

    async def history(
        self, node_id: str | None = None, *, limit: int = 50, before_id: int | None = None
    ) -> list[EndedOverride]:
        """Ended overrides, newest first; keyset paging with ``before_id``.

        Raises :class:`InvalidInput` for a limit outside 1..1000.
        """
        return await read_newest_first(
            self,
            EndedOverride,
            "override_history",
            equal={"node_id": node_id},
            before_id=before_id,
            limit=limit,
        )

    # -- opening (worker thread) -------------------------------------------------
    def on_open(self, conn: sqlite3.Connection) -> None:
        """End overrides that expired while we were down; re-apply the others."""
        now = self.clock.now_ms()
        conn.execute("BEGIN IMMEDIATE")
        try:
            rows = named_rows(conn, f"SELECT {_COLUMNS} FROM override ORDER BY node_id")
            active = [_row_to_override(r) for r in rows.fetchall()]
            expired: list[Override] = []
            for override in active:
                if _due(override, now):
                    _end_in_db(
                        conn,
                        override.node_id,
                        ended_ms=now,
                        ended_by=SYSTEM_USER,
                        reason=EndReason.EXPIRED,
                    )
                    expired.append(override)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        # The PointStore belongs to the trio thread; this runs in the actor's
        # worker thread (started by trio.to_thread), which may call back into it.
        ended = {o.node_id for o in expired}
        trio.from_thread.run_sync(
            self._reapply, [o for o in active if o.node_id not in ended], expired
        )

    def _reapply(self, active: list[Override], expired: list[Override]) -> None:
        for override in expired:
            self._restore_previous(override)
        for override in active:
            self._restore_previous(override)
            self._active[override.node_id] = override
            self._points.override(override.node_id, override.value, ts_ms=override.set_ms)

    def _restore_previous(self, override: Override) -> None:
        prev = override.previous
        if prev is not None and prev.value is not None:
            self._points.restore(prev.node_id, prev.value, ts_ms=prev.ts_ms, status=prev.status)

    # -- helpers -----------------------------------------------------------------
    async def _end(self, node_id: str, *, user: str, reason: EndReason) -> Override | None:
        """With the lock held: end the override in the db, cache and PointStore."""
        now = self.clock.now_ms()
        with trio.CancelScope(shield=True):  # as in set(): db, cache and point move together
            ended = await self.write(
                lambda conn: _end_in_db(conn, node_id, ended_ms=now, ended_by=user, reason=reason)
            )
        self._active.pop(node_id, None)
        self._points.release_override(node_id, ts_ms=now)
        self._announce(node_id, now)
        return ended

    def _announce(self, node_id: str, ts_ms: int) -> None:
        self._bus.publish(
            EntityUpdated(ts_ms=ts_ms, entity_id=node_id, changed_fields=("override",))
        )

    @staticmethod
    def _check_names(node_id: object, user: object) -> tuple[str, str]:
        if not isinstance(node_id, str) or not node_id.strip():
            raise InvalidInput("override needs a node id", field="node_id")
        if not isinstance(user, str) or not user.strip():
            raise InvalidInput(f"override of {node_id} needs a user", field="user", node_id=node_id)
        return node_id, user

    @staticmethod
    def _check_value(node_id: str, value: object, kind: ValueKind | str | None) -> PointValue:
        value_kind = None
        if kind is not None:
            try:
                value_kind = ValueKind(kind)
            except ValueError:
                raise InvalidInput(
                    f"unknown value kind {kind!r} (one of {', '.join(k.value for k in ValueKind)})",
                    field="kind",
                    node_id=node_id,
                ) from None
        return coerce_value(value, value_kind, what=f"override value for {node_id}")


def _due(override: Override, now_ms: int) -> bool:
    return override.expires_ms is not None and override.expires_ms <= now_ms
