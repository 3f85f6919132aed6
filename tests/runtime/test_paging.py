from __future__ import annotations

import sqlite3

import pytest

from opencrate.errors import InvalidInput
from opencrate.runtime.paging import MAX_PAGE, newest_first


@pytest.fixture
def conn() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT, what TEXT)")
    conn.executemany(
        "INSERT INTO t (who, what) VALUES (?, ?)",
        [("ann" if i % 2 else "bob", "x" if i % 3 else "y") for i in range(1, 21)],
    )
    return conn


def page(
    conn: sqlite3.Connection,
    *,
    equal: dict[str, object | None] | None = None,
    before_id: int | None = None,
    limit: int = 10,
) -> list[int]:
    sql, params = newest_first(
        "SELECT id FROM t", equal=equal or {}, before_id=before_id, limit=limit
    )
    return [row[0] for row in conn.execute(sql, params)]


def test_pages_walk_newest_first_without_gaps_or_repeats(conn: sqlite3.Connection) -> None:
    seen: list[int] = []
    before = None
    while chunk := page(conn, before_id=before, limit=7):
        seen += chunk
        before = chunk[-1]
    assert seen == list(range(20, 0, -1))


def test_filters_combine_and_none_means_no_filter(conn: sqlite3.Connection) -> None:
    assert page(conn, equal={"who": "ann", "what": "y"}, before_id=None, limit=10) == [15, 9, 3]
    assert page(conn, equal={"who": None}, before_id=4, limit=10) == [3, 2, 1]


@pytest.mark.parametrize("limit", [0, MAX_PAGE + 1, True, "10", 2.5])
def test_bad_limits_are_refused_naming_the_limit(limit: object) -> None:
    with pytest.raises(InvalidInput, match="limit must be between 1 and 1000"):
        newest_first("SELECT id FROM t", equal={}, before_id=None, limit=limit)
