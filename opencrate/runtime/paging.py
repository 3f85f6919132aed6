"""Newest-first keyset pages over an append-mostly table with an integer ``id``.

The audit log, alarm history and override history are read the same way: the
newest rows first, a page of at most ``MAX_PAGE``, optional equality filters,
and ``before_id`` to continue after the last row of the previous page. Keyset
paging (``id < ?``) stays fast and stable however deep the page, unlike
OFFSET, and never holds more than one page in memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from opencrate import validation
from opencrate.runtime.records import columns, fetch_all

if TYPE_CHECKING:
    from opencrate.runtime.actor import StoreActor

T = TypeVar("T")

__all__ = ["MAX_PAGE", "check_limit", "newest_first", "read_newest_first"]

#: The most rows one page may ask for.
MAX_PAGE = 1000


def check_limit(limit: object, maximum: int = MAX_PAGE) -> int:
    """``limit`` if it is an int in 1..``maximum``; InvalidInput naming it otherwise."""
    return validation.check_limit(limit, maximum)


def newest_first(
    select: str,
    *,
    equal: Mapping[str, object | None],
    before_id: int | None,
    limit: object,
) -> tuple[str, tuple[object, ...]]:
    """SQL and parameters for one page: ``select`` filtered, ``ORDER BY id DESC LIMIT ?``.

    ``equal`` maps column names (trusted: written in code, never user input)
    to the value they must equal; ``None`` values are no filter. Raises
    InvalidInput for a bad ``limit`` before any SQL is built.
    """
    page_size = check_limit(limit)
    where = [f"{column} = ?" for column, value in equal.items() if value is not None]
    params: list[object] = [value for value in equal.values() if value is not None]
    if before_id is not None:
        where.append("id < ?")
        params.append(before_id)
    sql = select + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC LIMIT ?"
    return sql, (*params, page_size)


async def read_newest_first(
    store: StoreActor,
    record: type[T],
    table: str,
    *,
    equal: Mapping[str, Any],
    before_id: int | None,
    limit: int,
) -> list[T]:
    """One page of ``table``'s rows as ``record``s, newest first (see :func:`newest_first`).

    Raises InvalidInput for a limit outside 1..MAX_PAGE, before anything is read.
    """
    sql, params = newest_first(
        f"SELECT {columns(record)} FROM {table}", equal=equal, before_id=before_id, limit=limit
    )
    return await store.read(lambda conn: fetch_all(conn, record, sql, params))
