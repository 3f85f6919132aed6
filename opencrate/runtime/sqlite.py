"""Opening SQLite files the OpenCrate way: pragmas, migrations, quarantine.

Pure functions over ``sqlite3`` that run inside a store's worker thread; the
actor (:mod:`opencrate.runtime.actor`) decides when.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeAlias

from attrs import frozen

from opencrate.errors import StoreError

__all__ = [
    "Migration",
    "QuarantineRecord",
    "connect",
    "iter_statements",
    "migrate",
    "probe",
    "probe_writable",
    "quarantine",
]

log = logging.getLogger(__name__)

#: One numbered schema step: a SQL script, or a function of the connection.
Migration: TypeAlias = str | Callable[[sqlite3.Connection], None]

BUSY_TIMEOUT_MS = 5000


@frozen(kw_only=True)
class QuarantineRecord:
    """A database file that was not usable and was moved aside."""

    store: str
    path: str
    moved_to: str
    reason: str
    at_ms: int


def connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """Open ``path`` in autocommit mode (transactions are explicit) with our pragmas."""
    if read_only:
        conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, check_same_thread=False, isolation_level=None
        )
        conn.execute("PRAGMA query_only=ON")
    else:
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return conn


def probe(conn: sqlite3.Connection) -> None:
    """Touch the file's header and schema; raises ``sqlite3.DatabaseError`` if it is not a DB."""
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    conn.execute("PRAGMA user_version").fetchone()


def probe_writable(conn: sqlite3.Connection) -> None:
    """Try a write and roll it back; raises ``sqlite3.OperationalError`` if the file is read-only.

    SQLite opens a file it may only read in read-only mode without a word,
    and says "attempt to write a readonly database" only at the first write.
    Setting ``user_version`` to itself dirties the header page, which is
    enough to be refused; the rollback leaves the file as it was.
    """
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(f"PRAGMA user_version={int(version)}")
    finally:
        conn.execute("ROLLBACK")


def is_corruption(exc: BaseException) -> bool:
    """Whether ``exc`` means "this file is not a usable database" (not a lock or a permission)."""
    return isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError)


def quarantine(store: str, path: Path, reason: str, now_ms: int) -> QuarantineRecord:
    """Rename ``path`` (and its -wal/-shm files) aside with a timestamp; return the record."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now_ms / 1000))
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    os.replace(path, target)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.replace(side, target.with_name(target.name + suffix))
    log.error(
        "store %s: %s is not a usable database (%s); moved to %s", store, path, reason, target
    )
    return QuarantineRecord(
        store=store, path=str(path), moved_to=str(target), reason=reason, at_ms=now_ms
    )


def iter_statements(script: str) -> Iterator[str]:
    """Split a SQL script into complete statements (trigger bodies stay whole)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statement = pending.strip()
            if statement.strip(";").strip():
                yield statement
            pending = ""
    if pending.strip():
        raise StoreError(f"incomplete SQL statement in migration: {pending.strip()[:80]!r}")


def migrate(conn: sqlite3.Connection, store: str, migrations: Sequence[Migration]) -> int:
    """Bring the schema to ``len(migrations)``; each step in its own transaction.

    Step *n* (1-based) runs only when ``PRAGMA user_version`` is below *n*, and
    sets it to *n* in the same transaction, so a crash leaves the file at the
    last complete step. A file from newer code (version above ours) is refused.
    Returns the version reached.
    """
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    if current > len(migrations):
        raise StoreError(
            f"store {store}: database schema version {current} is newer than this "
            f"OpenCrate knows ({len(migrations)}); refusing to open it",
            store=store,
        )
    for version in range(current + 1, len(migrations) + 1):
        step = migrations[version - 1]
        conn.execute("BEGIN IMMEDIATE")
        try:
            if isinstance(step, str):
                for statement in iter_statements(step):
                    conn.execute(statement)
            else:
                step(conn)
            conn.execute(f"PRAGMA user_version={version}")
        except BaseException as exc:
            conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StoreError(
                    f"store {store}: migration to version {version} failed: {exc}", store=store
                ) from exc
            raise
        conn.execute("COMMIT")
        log.info("store %s: migrated to schema version %d", store, version)
    return len(migrations)
