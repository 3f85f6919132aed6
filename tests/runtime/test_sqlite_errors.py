"""The sqlite3 boundary of the store actor: no sqlite3 exception reaches a caller bare.

As httpx tests its httpcore mapping: every exception type the ``sqlite3``
module defines is covered by the actor's mapping, and each is provoked (for
real where SQLite can be made to raise it) through a store's ``write`` and
``read`` and comes out as an OpenCrate error naming the store, with the
sqlite3 exception as its cause.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from opencrate.errors import Conflict, OpenCrateError, StoreError
from opencrate.runtime.actor import SQLITE_EXCEPTIONS
from tests.runtime.test_actor import Counter

SQLITE3_EXCEPTION_TYPES = sorted(
    (v for v in vars(sqlite3).values() if isinstance(v, type) and issubclass(v, BaseException)),
    key=lambda t: t.__name__,
)


@pytest.mark.parametrize("exc_type", SQLITE3_EXCEPTION_TYPES, ids=lambda t: t.__name__)
def test_every_sqlite3_exception_type_is_mapped(exc_type: type[BaseException]) -> None:
    assert any(issubclass(exc_type, source) for source in SQLITE_EXCEPTIONS), exc_type


def _junk(tmp_path: Path) -> str:
    path = tmp_path / "junk.db"
    path.write_bytes(b"not a database " * 500)
    return str(path)


def _duplicate(conn: sqlite3.Connection) -> None:
    # A temporary table, and query_only lifted for it on the read connection:
    # the only way a reader meets an IntegrityError.
    query_only = conn.execute("PRAGMA query_only").fetchone()[0]
    conn.execute("PRAGMA query_only=OFF")
    try:
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS once (x UNIQUE)")
        conn.execute("INSERT INTO temp.once VALUES (1), (1)")
    finally:
        conn.execute(f"PRAGMA query_only={query_only}")


def _too_big(conn: sqlite3.Connection) -> None:
    old = conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 1000)
    try:
        conn.execute("SELECT ?", ("x" * 10_000,))
    finally:
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, old)


def _attached_junk(path: str) -> Callable[[sqlite3.Connection], Any]:
    def fn(conn: sqlite3.Connection) -> Any:
        conn.execute("ATTACH ? AS junk", (path,))
        try:
            return conn.execute("SELECT * FROM junk.sqlite_master").fetchall()
        finally:
            conn.execute("DETACH junk")

    return fn


def _raise(exc: BaseException) -> Callable[[sqlite3.Connection], Any]:
    def fn(conn: sqlite3.Connection) -> Any:
        raise exc

    return fn


# (what is raised, how it is provoked); ``None`` for the types SQLite cannot be
# made to raise from here (internal faults, missing features): a command raises
# them itself, as sqlite3 would.
PROVOKED: list[tuple[type[BaseException], str]] = [
    (sqlite3.IntegrityError, "unique"),
    (sqlite3.OperationalError, "no such table"),
    (sqlite3.ProgrammingError, "bind a dict"),
    (sqlite3.ProgrammingError, "two statements"),
    (sqlite3.DataError, "string too big"),
    (sqlite3.DatabaseError, "attach a junk file"),
    (OverflowError, "int beyond 64 bits"),
    (sqlite3.InterfaceError, "raised"),
    (sqlite3.InternalError, "raised"),
    (sqlite3.NotSupportedError, "raised"),
    (sqlite3.Warning, "raised"),
    (sqlite3.Error, "raised"),
]


def _provocation(
    exc_type: type[BaseException], how: str, tmp_path: Path
) -> Callable[[sqlite3.Connection], Any]:
    return {
        "unique": _duplicate,
        "no such table": lambda c: c.execute("SELECT * FROM nowhere"),
        "bind a dict": lambda c: c.execute("SELECT ?", ({},)),
        "two statements": lambda c: c.execute("SELECT 1; SELECT 2"),
        "string too big": _too_big,
        "attach a junk file": _attached_junk(_junk(tmp_path)),
        "int beyond 64 bits": lambda c: c.execute("SELECT ?", (2**70,)),
        "raised": _raise(exc_type("raised by a command")),
    }[how]


@pytest.mark.parametrize("path", ["write", "read"])
@pytest.mark.parametrize(
    ("exc_type", "how"), PROVOKED, ids=[f"{t.__name__}-{h}" for t, h in PROVOKED]
)
async def test_each_sqlite3_exception_leaves_the_actor_as_an_opencrate_error(
    tmp_path: Path, exc_type: type[BaseException], how: str, path: str
) -> None:
    fn = _provocation(exc_type, how, tmp_path)
    async with Counter(tmp_path / "c.db").running() as store:
        call = store.write if path == "write" else store.read
        with pytest.raises(OpenCrateError) as info:
            await call(fn)
        assert await store.add("still serving") > 0
    err = info.value
    assert type(err.__cause__) is exc_type
    assert isinstance(err, Conflict if exc_type is sqlite3.IntegrityError else StoreError)
    assert str(err).startswith("counter: ")
    assert err.detail == {"store": "counter"}


async def test_a_write_on_the_read_connection_is_a_store_error(tmp_path: Path) -> None:
    async with Counter(tmp_path / "c.db").running() as store:
        with pytest.raises(StoreError, match="readonly") as info:
            await store.read(lambda c: c.execute("INSERT INTO item (name) VALUES ('x')"))
    assert isinstance(info.value.__cause__, sqlite3.OperationalError)
