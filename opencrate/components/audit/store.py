"""AuditStore: the append-only record of who changed what (seed 000), in ``audit.db``.

Every write through the API lands here: user, action, target, when, and a
JSON detail. The log is append-only *in the database itself*: ``BEFORE
UPDATE`` and ``BEFORE DELETE`` triggers abort with ``audit log is
append-only``, so not even a bug in OpenCrate or a hand-run ``sqlite3``
session can rewrite history without first dropping the triggers. When such a
statement is attempted through the store's connection it surfaces as
:class:`~opencrate.errors.Conflict` (the trigger raises a constraint error,
which the actor translates).

Schema (version 1)::

    audit_entry(id INTEGER PRIMARY KEY, ts_ms INTEGER, user TEXT, action TEXT,
                target TEXT, detail TEXT JSON)
    audit_entry_user_id (user, id), audit_entry_action_id (action, id)

Reading is newest first with keyset paging: pass the smallest ``id`` of the
page you have as ``before_id`` to get the next one. That costs the same on
page 1 and page 10 000, unlike ``OFFSET``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

from attrs import frozen

from opencrate.errors import InvalidInput
from opencrate.runtime.actor import StoreActor
from opencrate.runtime.paging import read_newest_first
from opencrate.runtime.records import JSON_TEXT, column

__all__ = ["AuditEntry", "AuditStore"]

_SCHEMA_V1 = """
CREATE TABLE audit_entry (
    id      INTEGER PRIMARY KEY,
    ts_ms   INTEGER NOT NULL,
    user    TEXT NOT NULL CHECK (user <> ''),
    action  TEXT NOT NULL CHECK (action <> ''),
    target  TEXT NOT NULL,
    detail  TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(detail))
);
CREATE INDEX audit_entry_user_id ON audit_entry (user, id);
CREATE INDEX audit_entry_action_id ON audit_entry (action, id);
CREATE TRIGGER audit_entry_no_update BEFORE UPDATE ON audit_entry
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only');
END;
CREATE TRIGGER audit_entry_no_delete BEFORE DELETE ON audit_entry
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only');
END;
"""


@frozen(kw_only=True)
class AuditEntry:
    """One entry; its JSON shape (:func:`~opencrate.runtime.records.to_json`) is the API's."""

    id: int = column(sql_type="INTEGER")
    ts_ms: int = column(sql_type="INTEGER")
    user: str = column(sql_type="TEXT")
    action: str = column(sql_type="TEXT")
    target: str = column(sql_type="TEXT")
    detail: Mapping[str, Any] = column(sql_type="TEXT", codec=JSON_TEXT, schema={"type": "object"})


class AuditStore(StoreActor):
    """Append-only audit log. Construct with the path of ``audit.db``; run as any store actor."""

    name = "audit"
    migrations = (_SCHEMA_V1,)

    async def record(
        self,
        *,
        user: str,
        action: str,
        target: str,
        detail: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        """Append one entry stamped with the store's clock; returns it with its id.

        Raises :class:`InvalidInput` for an empty user or action, or a detail
        that is not a JSON object (nothing is written).
        Cancellation: once queued the entry is written even if the caller is
        cancelled while waiting.
        """
        if not isinstance(user, str) or not user.strip():
            raise InvalidInput("audit entry needs a user", field="user")
        if not isinstance(action, str) or not action.strip():
            raise InvalidInput("audit entry needs an action", field="action")
        if not isinstance(target, str):
            raise InvalidInput("audit target must be a string", field="target")
        if detail is not None and not isinstance(detail, Mapping):
            raise InvalidInput("audit detail must be a JSON object", field="detail")
        try:
            detail_json = json.dumps(dict(detail or {}), allow_nan=False, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"audit detail is not JSON: {exc}", field="detail") from None
        ts_ms = self.clock.now_ms()

        def insert(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "INSERT INTO audit_entry (ts_ms, user, action, target, detail) "
                "VALUES (?, ?, ?, ?, ?)",
                (ts_ms, user, action, target, detail_json),
            )
            assert cur.lastrowid is not None
            return cur.lastrowid

        entry_id = await self.write(insert)
        return AuditEntry(
            id=entry_id,
            ts_ms=ts_ms,
            user=user,
            action=action,
            target=target,
            detail=json.loads(detail_json),
        )

    async def tail(
        self,
        limit: int = 50,
        *,
        before_id: int | None = None,
        user: str | None = None,
        action: str | None = None,
    ) -> list[AuditEntry]:
        """The newest entries first, at most ``limit`` (1..1000), optionally filtered.

        ``before_id`` continues from a previous page (entries with a smaller
        id). Raises :class:`InvalidInput` for a limit outside 1..1000.
        """
        return await read_newest_first(
            self,
            AuditEntry,
            "audit_entry",
            equal={"user": user, "action": action},
            before_id=before_id,
            limit=limit,
        )

    async def count(self) -> int:
        """How many entries the log holds."""

        def select(conn: sqlite3.Connection) -> int:
            return int(conn.execute("SELECT count(*) FROM audit_entry").fetchone()[0])

        return await self.read(select)
