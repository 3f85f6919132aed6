"""The psycopg boundary of the postgresql service: no psycopg (or spool sqlite3) exception leaks.

As httpx tests its httpcore mapping: every exception type psycopg defines is
covered by :data:`PSYCOPG_EXCEPTIONS`, and each class of server error is
provoked for real against the server (per-test schema) through the service's
read and write boundaries, coming out as a ``StoreError`` naming the service.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import psycopg.errors
import pytest

from opencrate.components.history.postgresql.service import PSYCOPG_EXCEPTIONS
from opencrate.errors import StoreError
from opencrate.runtime.actor import SQLITE_EXCEPTIONS
from tests.components.history.test_postgresql import (
    DSN,
    _admin,
    _dsn_to,
    s,
    schema,
    service,
    wait_for,
)

__all__ = ["schema"]  # the fixture, imported for the tests here

pytestmark = pytest.mark.postgres

# ``psycopg.Rollback`` is a signal, not an error: raised inside ``with
# conn.transaction()`` to roll back, and swallowed by that block's exit.
NEVER_ESCAPES = {psycopg.Rollback}

PSYCOPG_EXCEPTION_TYPES = sorted(
    {
        v
        for module in (psycopg, psycopg.errors)
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, Exception) and v.__module__.startswith("psycopg")
    }
    - NEVER_ESCAPES,
    key=lambda t: (t.__module__, t.__name__),
)


def test_psycopg_defines_the_exception_types_this_test_walks() -> None:
    assert len(PSYCOPG_EXCEPTION_TYPES) > 200  # one per SQLSTATE, and the DB-API ones
    assert psycopg.errors.UniqueViolation in PSYCOPG_EXCEPTION_TYPES


@pytest.mark.parametrize(
    "exc_type", PSYCOPG_EXCEPTION_TYPES, ids=lambda t: f"{t.__module__}.{t.__name__}"
)
def test_every_psycopg_exception_type_is_mapped(exc_type: type[Exception]) -> None:
    assert any(issubclass(exc_type, source) for source in PSYCOPG_EXCEPTIONS), exc_type


def _unique(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE TEMP TABLE once (x int PRIMARY KEY)")
    conn.execute("INSERT INTO once VALUES (1), (1)")


def _failed_transaction(conn: psycopg.Connection[Any]) -> None:
    try:
        conn.execute("SELECT 1/0")
    except psycopg.errors.DivisionByZero:
        pass  # the transaction is aborted now
    conn.execute("SELECT 1")


def _raise(exc: Exception) -> Callable[[psycopg.Connection[Any]], Any]:
    def fn(conn: psycopg.Connection[Any]) -> Any:
        raise exc

    return fn


# Each DB-API class, with a real server error of it where one can be provoked;
# psycopg raises Warning, InterfaceError and the bases itself, so a command
# raises those as psycopg would.
READS: list[tuple[type[Exception], Callable[[psycopg.Connection[Any]], Any]]] = [
    (psycopg.errors.UndefinedTable, lambda c: c.execute("SELECT * FROM no_such_table")),
    (psycopg.errors.SyntaxError, lambda c: c.execute("SELEKT 1")),
    (psycopg.errors.DivisionByZero, lambda c: c.execute("SELECT 1/0")),
    (psycopg.errors.UniqueViolation, _unique),
    (psycopg.errors.InFailedSqlTransaction, _failed_transaction),
    (
        psycopg.errors.FeatureNotSupported,
        lambda c: c.execute("SELECT count(*) FROM (SELECT 1 FROM pg_class LIMIT 1) v FOR UPDATE"),
    ),
    (
        psycopg.errors.QueryCanceled,
        lambda c: c.execute("SET statement_timeout = 1; SELECT pg_sleep(1)"),
    ),
    (psycopg.InterfaceError, _raise(psycopg.InterfaceError("raised"))),
    (psycopg.Warning, _raise(psycopg.Warning("raised"))),
    (psycopg.DatabaseError, _raise(psycopg.DatabaseError("raised"))),
    (psycopg.Error, _raise(psycopg.Error("raised"))),
]


@pytest.mark.parametrize(("exc_type", "fn"), READS, ids=[t.__name__ for t, _ in READS])
async def test_each_psycopg_exception_leaves_a_read_as_a_store_error(
    schema: str, tmp_path: Path, exc_type: type[Exception], fn: Callable[..., Any]
) -> None:
    async with service(DSN, schema, tmp_path) as pg:
        with pytest.raises(StoreError) as info:
            await pg._read(fn)
        assert type(info.value.__cause__) is exc_type
        assert str(info.value).startswith("postgresql:postgresql: ")
        assert info.value.detail == {"service": "postgresql"}
        # A connection problem (QueryCanceled is an OperationalError, like
        # InterfaceError) reconnects; anything else keeps the connection.
        await wait_for(lambda: pg.statistics().connected)
        await pg.store([s(1, 1.0)])
        assert [x.value for x in await pg.samples("p", 0, 10)] == [1.0]


async def test_a_write_the_server_refuses_is_a_store_error(schema: str, tmp_path: Path) -> None:
    async with service(DSN, schema, tmp_path) as pg:
        await pg.store([s(1, 1.0)])
        _admin(f"DROP TABLE {schema}.opencrate_samples CASCADE")
        with pytest.raises(StoreError, match="opencrate_samples") as info:
            await pg.store([s(2, 2.0)])
        assert isinstance(info.value.__cause__, psycopg.errors.UndefinedTable)
        assert pg.statistics().connected  # refused, not lost: nothing was spooled
        assert pg.statistics().spooled == 0


async def test_a_spool_that_cannot_grow_is_a_store_error(schema: str, tmp_path: Path) -> None:
    assert any(issubclass(sqlite3.OperationalError, k) for k in SQLITE_EXCEPTIONS)
    async with service(_dsn_to(1), schema, tmp_path) as pg:  # nothing listens on port 1
        await pg.store([s(1, 1.0)])
        assert pg.statistics().spooled == 1
        spool = pg._spool
        assert spool is not None
        pages = spool.conn.execute("PRAGMA page_count").fetchone()[0]
        spool.conn.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(StoreError, match="full") as info:
            await pg.store([s(t, "x" * 2000) for t in range(2, 200)])
        assert isinstance(info.value.__cause__, sqlite3.OperationalError)
