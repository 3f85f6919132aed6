"""AlarmStore: active alarms and alarm history (``alarms.db``, seed 000).

Lifecycle of one alarm (one open alarm per ``(node_id, alarm_type)``)::

                 raise                       clear
      (none) ----------> ACTIVE, unacked ----------> CLEARED, unacked
                           |        ^  raise again     |
                      ack  |        +------------------+ (count + 1)
                           v                           | ack
                         ACTIVE, acked --- clear ----> CLOSED -> moved to history

* :meth:`AlarmStore.raise_alarm` inserts a new alarm, or, when the pair
  already has an open one, updates its severity, message and ``updated_ms``
  and adds one to ``count`` (a cleared-but-unacknowledged alarm becomes active
  again; an acknowledgement already given stays).
* An alarm is *closed* when it is both cleared and acknowledged, in either
  order; at that moment it moves from the ``alarm`` table to
  ``alarm_history`` keeping its id (ids are never reused).
* Shelving (:meth:`shelve`) hides an alarm from the default listing and
  suppresses the ``AlarmRaised`` of repeat raises until a time; clearing and
  acknowledging still work and still publish.
* The stale check (:mod:`opencrate.components.alarms.flags`) marks an alarm whose
  point went stale (:meth:`mark_stale`) or clears it.

Events are published on the bus only after the change committed:
``AlarmRaised`` (new alarm, or a repeat raise while not shelved),
``AlarmCleared``, ``AlarmAcknowledged``.

Schema (version 1)::

    alarm(id INTEGER PRIMARY KEY AUTOINCREMENT, node_id, alarm_type, severity, message,
          raised_ms, updated_ms, count, cleared_ms, acked_ms, acked_by, ack_comment,
          shelved_until_ms, shelved_by, stale_ms, UNIQUE (node_id, alarm_type))
    alarm_history(the same columns, closed_ms)

The open alarms are cached in memory (loaded at open), so :meth:`active` and
:meth:`open_alarm` cost no I/O. Every change runs under one lock with its
write shielded from cancellation, so the database, the cache and the events
always move together: a cancelled caller may miss the reply, never the event.

Errors: InvalidInput for bad arguments (nothing stored), NotFound for an
unknown or already closed alarm where an open one is needed, Conflict for
acknowledging twice, StoreClosed when the store is not running.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import attrs
import trio

from opencrate.clock import Clock
from opencrate.components.alarms.records import (
    MAX_TEXT,
    Alarm,
    AlarmState,
    AlarmStatistics,
    Severity,
)
from opencrate.errors import Conflict, InvalidInput, NotFound
from opencrate.model.ids import validate_node_id
from opencrate.runtime.actor import StoreActor, StoreStatistics
from opencrate.runtime.bus import EventBus
from opencrate.runtime.events import AlarmAcknowledged, AlarmCleared, AlarmRaised
from opencrate.runtime.paging import MAX_PAGE, read_newest_first
from opencrate.runtime.records import columns, fetch_all, fetch_one
from opencrate.validation import INT64_MAX, check_text, is_int

__all__ = ["MAX_PAGE", "Alarm", "AlarmState", "AlarmStatistics", "AlarmStore", "Severity"]

#: SQLite's largest INTEGER: binding a larger int raises a bare OverflowError.

#: The columns of ``alarm``; ``alarm_history`` adds ``closed_ms``.
_COLUMNS = columns(Alarm, exclude=("closed_ms",))

_SCHEMA_V1 = """
CREATE TABLE alarm (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    node_id          TEXT NOT NULL CHECK (node_id <> ''),
    alarm_type       TEXT NOT NULL CHECK (alarm_type <> ''),
    severity         TEXT NOT NULL,
    message          TEXT NOT NULL,
    raised_ms        INTEGER NOT NULL,
    updated_ms       INTEGER NOT NULL,
    count            INTEGER NOT NULL DEFAULT 1,
    cleared_ms       INTEGER,
    acked_ms         INTEGER,
    acked_by         TEXT,
    ack_comment      TEXT NOT NULL DEFAULT '',
    shelved_until_ms INTEGER,
    shelved_by       TEXT,
    stale_ms         INTEGER,
    UNIQUE (node_id, alarm_type)
);
CREATE TABLE alarm_history (
    id               INTEGER PRIMARY KEY,
    node_id          TEXT NOT NULL,
    alarm_type       TEXT NOT NULL,
    severity         TEXT NOT NULL,
    message          TEXT NOT NULL,
    raised_ms        INTEGER NOT NULL,
    updated_ms       INTEGER NOT NULL,
    count            INTEGER NOT NULL,
    cleared_ms       INTEGER NOT NULL,
    acked_ms         INTEGER NOT NULL,
    acked_by         TEXT NOT NULL,
    ack_comment      TEXT NOT NULL,
    shelved_until_ms INTEGER,
    shelved_by       TEXT,
    stale_ms         INTEGER,
    closed_ms        INTEGER NOT NULL
);
CREATE INDEX alarm_history_node ON alarm_history (node_id, id);
"""


def _close_in_db(conn: sqlite3.Connection, alarm_id: int, now_ms: int) -> None:
    conn.execute(
        f"INSERT INTO alarm_history ({_COLUMNS}, closed_ms) "
        f"SELECT {_COLUMNS}, ? FROM alarm WHERE id = ?",
        (now_ms, alarm_id),
    )
    conn.execute("DELETE FROM alarm WHERE id = ?", (alarm_id,))


def _check_text(value: object, field: str, *, empty_ok: bool = False) -> str:
    return check_text(value, field, max_length=MAX_TEXT, empty_ok=empty_ok)


def _check_id(alarm_id: object) -> int:
    if not is_int(alarm_id, minimum=1):
        raise InvalidInput(
            f"alarm id must be a positive 64-bit integer, got {alarm_id!r}", field="id"
        )
    return alarm_id


class AlarmStore(StoreActor):
    """Open alarms (cached) and their history; see the module docstring."""

    name = "alarms"
    migrations = (_SCHEMA_V1,)

    def __init__(self, path: Path | str, *, bus: EventBus, clock: Clock | None = None) -> None:
        super().__init__(path, clock=clock)
        self._bus = bus
        self._alarms: dict[int, Alarm] = {}
        self._by_condition: dict[tuple[str, str], int] = {}
        self._lock = trio.Lock()
        self._raised = self._suppressed = self._closed_count = 0

    def on_open(self, conn: sqlite3.Connection) -> None:
        for alarm in fetch_all(conn, Alarm, f"SELECT {_COLUMNS} FROM alarm ORDER BY id"):
            self._cache(alarm)

    # -- changes -----------------------------------------------------------------
    async def raise_alarm(
        self, node_id: str, alarm_type: str, severity: Severity | str, message: str
    ) -> Alarm:
        """Raise (or repeat) the alarm ``alarm_type`` on ``node_id``; returns it as stored.

        A repeat raise of an open alarm updates severity, message and
        ``updated_ms``, adds one to ``count`` and makes a cleared alarm active
        again. Publishes ``AlarmRaised`` unless the alarm is shelved. Raises
        InvalidInput for a bad node id, empty type or message, or an unknown
        severity (nothing stored).
        """
        validate_node_id(node_id)
        _check_text(alarm_type, "alarm type")
        _check_text(message, "message", empty_ok=True)
        level = Severity.parse(severity)
        async with self._lock:
            now = self.clock.now_ms()

            def upsert(conn: sqlite3.Connection) -> Alarm:
                alarm = fetch_one(
                    conn,
                    Alarm,
                    "INSERT INTO alarm (node_id, alarm_type, severity, message, raised_ms, "
                    "updated_ms) VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (node_id, alarm_type) DO UPDATE SET "
                    "severity = excluded.severity, message = excluded.message, "
                    "updated_ms = excluded.updated_ms, count = count + 1, cleared_ms = NULL "
                    f"RETURNING {_COLUMNS}",
                    (node_id, alarm_type, level.value, message, now, now),
                )
                assert alarm is not None  # RETURNING always yields the row
                return alarm

            with trio.CancelScope(shield=True):
                alarm = await self.write(upsert)
            self._cache(alarm)
            if alarm.shelved(now):
                self._suppressed += 1
            else:
                self._raised += 1
                self._bus.publish(
                    AlarmRaised(
                        ts_ms=now,
                        alarm_id=alarm.id,
                        node_id=node_id,
                        severity=level.value,
                        message=message,
                    )
                )
        return alarm

    async def clear(self, alarm_id: int) -> Alarm:
        """Clear an open alarm (its condition went away); returns it.

        Closes it (moves it to the history) when it was acknowledged. Clearing
        an alarm that is already cleared changes nothing and publishes nothing.
        Raises NotFound when no open alarm has this id.
        """
        alarm_id = _check_id(alarm_id)
        async with self._lock:
            alarm = self._get_open(alarm_id)
            if not alarm.active:
                return alarm
            return await self._clear_locked(alarm)

    async def clear_condition(self, node_id: str, alarm_type: str) -> Alarm | None:
        """Clear the open alarm of ``(node_id, alarm_type)`` if it is active; else None."""
        async with self._lock:
            alarm_id = self._by_condition.get((node_id, alarm_type))
            if alarm_id is None or not self._alarms[alarm_id].active:
                return None
            return await self._clear_locked(self._alarms[alarm_id])

    async def acknowledge(self, alarm_id: int, *, user: str, comment: str = "") -> Alarm:
        """Acknowledge an open alarm as ``user``; returns it.

        Closes it (moves it to the history) when it was cleared. Raises
        NotFound when no open alarm has this id, Conflict when it is already
        acknowledged, InvalidInput for an empty user.
        """
        alarm_id = _check_id(alarm_id)
        _check_text(user, "user")
        _check_text(comment, "comment", empty_ok=True)
        async with self._lock:
            alarm = self._get_open(alarm_id)
            if alarm.acked:
                raise Conflict(
                    f"alarm {alarm_id} was already acknowledged by {alarm.acked_by}",
                    alarm_id=alarm_id,
                )
            now = self.clock.now_ms()
            closes = not alarm.active

            def ack(conn: sqlite3.Connection) -> None:
                conn.execute(
                    "UPDATE alarm SET acked_ms = ?, acked_by = ?, ack_comment = ? WHERE id = ?",
                    (now, user, comment, alarm_id),
                )
                if closes:
                    _close_in_db(conn, alarm_id, now)

            with trio.CancelScope(shield=True):
                await self.write(ack)
            updated = attrs.evolve(alarm, acked_ms=now, acked_by=user, ack_comment=comment)
            if closes:
                updated = self._uncache_closed(updated, now)
            else:
                self._cache(updated)
            self._bus.publish(AlarmAcknowledged(ts_ms=now, alarm_id=alarm_id, user=user))
        return updated

    async def shelve(self, alarm_id: int, *, until_ms: int | None, user: str) -> Alarm:
        """Shelve an open alarm until ``until_ms`` (epoch ms); ``None`` unshelves it.

        Raises NotFound for no open alarm with this id, InvalidInput for an
        empty user or a time not in the future.
        """
        alarm_id = _check_id(alarm_id)
        _check_text(user, "user")
        async with self._lock:
            alarm = self._get_open(alarm_id)
            now = self.clock.now_ms()
            if until_ms is not None:
                if isinstance(until_ms, bool) or not isinstance(until_ms, int):
                    raise InvalidInput("shelve until must be epoch milliseconds", field="until")
                if until_ms > INT64_MAX:  # sqlite3 would raise a bare OverflowError
                    raise InvalidInput(
                        f"shelve until {until_ms} is beyond any representable time",
                        field="until",
                    )
                if until_ms <= now:
                    raise InvalidInput(
                        f"shelve until {until_ms} is not in the future (now is {now})",
                        field="until",
                    )
            by = None if until_ms is None else user
            await self._update_locked(
                alarm_id, "shelved_until_ms = ?, shelved_by = ?", until_ms, by
            )
            updated = attrs.evolve(alarm, shelved_until_ms=until_ms, shelved_by=by)
            self._cache(updated)
        return updated

    async def mark_stale(self, alarm_id: int, *, stale: bool) -> Alarm:
        """Mark an open alarm's point as stale (now) or fresh again; no event.

        Raises NotFound for no open alarm with this id.
        """
        alarm_id = _check_id(alarm_id)
        async with self._lock:
            alarm = self._get_open(alarm_id)
            if (alarm.stale_ms is not None) == stale:
                return alarm
            stale_ms = self.clock.now_ms() if stale else None
            await self._update_locked(alarm_id, "stale_ms = ?", stale_ms)
            updated = attrs.evolve(alarm, stale_ms=stale_ms)
            self._cache(updated)
        return updated

    # -- queries -----------------------------------------------------------------
    def active(
        self,
        *,
        node_id: str | None = None,
        min_severity: Severity | None = None,
        state: AlarmState | None = None,
        include_shelved: bool = False,
    ) -> list[Alarm]:
        """Open alarms (cache, no I/O), most severe first, then newest first.

        Shelved alarms are left out unless ``include_shelved``. ``node_id``
        keeps that node's alarms; ``min_severity`` keeps that severity and
        worse; ``state`` keeps one state.
        """
        now = self.clock.now_ms()
        found = [
            a
            for a in self._alarms.values()
            if (include_shelved or not a.shelved(now))
            and (node_id is None or a.node_id == node_id)
            and (min_severity is None or a.severity.rank <= min_severity.rank)
            and (state is None or a.state is state)
        ]
        found.sort(key=lambda a: (a.severity.rank, -a.updated_ms, -a.id))
        return found

    def open_alarm(self, node_id: str, alarm_type: str) -> Alarm | None:
        """The open alarm of ``(node_id, alarm_type)``, or None (cache, no I/O)."""
        alarm_id = self._by_condition.get((node_id, alarm_type))
        return None if alarm_id is None else self._alarms[alarm_id]

    async def get(self, alarm_id: int) -> Alarm:
        """An alarm by id, open or closed; NotFound when there is none."""
        alarm_id = _check_id(alarm_id)
        found = self._alarms.get(alarm_id)
        if found is not None:
            return found

        def select(conn: sqlite3.Connection) -> Alarm | None:
            return fetch_one(
                conn, Alarm, f"SELECT {columns(Alarm)} FROM alarm_history WHERE id = ?", (alarm_id,)
            )

        alarm = await self.read(select)
        if alarm is None:
            raise NotFound(f"no alarm with id {alarm_id}", alarm_id=alarm_id)
        return alarm

    async def history(
        self, *, node_id: str | None = None, limit: int = 50, before_id: int | None = None
    ) -> list[Alarm]:
        """Closed alarms, newest first; keyset paging with ``before_id``.

        Raises InvalidInput for a limit outside 1..1000.
        """
        return await read_newest_first(
            self,
            Alarm,
            "alarm_history",
            equal={"node_id": node_id},
            before_id=before_id,
            limit=limit,
        )

    def statistics(self) -> StoreStatistics[AlarmStatistics]:
        """The actor's figures; ``detail`` counts the alarms of this run."""
        return self._statistics_with(self._alarm_statistics())

    def _alarm_statistics(self) -> AlarmStatistics:
        return AlarmStatistics(
            open=len(self._alarms),
            active=sum(1 for a in self._alarms.values() if a.active),
            unacked=sum(1 for a in self._alarms.values() if not a.acked),
            raised_events=self._raised,
            suppressed_raises=self._suppressed,
            closed=self._closed_count,
        )

    # -- helpers (lock held) -----------------------------------------------------
    async def _clear_locked(self, alarm: Alarm) -> Alarm:
        now = self.clock.now_ms()
        closes = alarm.acked

        def clear(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE alarm SET cleared_ms = ? WHERE id = ?", (now, alarm.id))
            if closes:
                _close_in_db(conn, alarm.id, now)

        with trio.CancelScope(shield=True):
            await self.write(clear)
        updated = attrs.evolve(alarm, cleared_ms=now)
        if closes:
            updated = self._uncache_closed(updated, now)
        else:
            self._cache(updated)
        self._bus.publish(AlarmCleared(ts_ms=now, alarm_id=alarm.id, node_id=alarm.node_id))
        return updated

    async def _update_locked(self, alarm_id: int, assignments: str, *values: object) -> None:
        sql = f"UPDATE alarm SET {assignments} WHERE id = ?"

        def update(conn: sqlite3.Connection) -> None:
            conn.execute(sql, (*values, alarm_id))

        with trio.CancelScope(shield=True):
            await self.write(update)

    def _get_open(self, alarm_id: int) -> Alarm:
        alarm = self._alarms.get(alarm_id)
        if alarm is None:
            raise NotFound(f"no open alarm with id {alarm_id}", alarm_id=alarm_id)
        return alarm

    def _cache(self, alarm: Alarm) -> None:
        self._alarms[alarm.id] = alarm
        self._by_condition[(alarm.node_id, alarm.alarm_type)] = alarm.id

    def _uncache_closed(self, alarm: Alarm, now_ms: int) -> Alarm:
        self._alarms.pop(alarm.id, None)
        self._by_condition.pop((alarm.node_id, alarm.alarm_type), None)
        self._closed_count += 1
        return attrs.evolve(alarm, closed_ms=now_ms)
