"""Keyset paging over (created_ms, id) across tables: stable, complete, capped."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opencrate.components.eventlog.records import (
    MAX_PAGE,
    EventCursor,
    EventQuery,
    NewEvent,
    Order,
)
from opencrate.components.eventlog.store import EventLogStore
from opencrate.components.eventlog.tables import TableKind
from opencrate.errors import InvalidInput

T0 = 1_700_000_000_000
KINDS = [TableKind.GENERAL, TableKind.INFO, TableKind.ALERT, TableKind.CHANGE]


def _spread(n: int, seed: int = 7) -> list[tuple[NewEvent, TableKind]]:
    """n events over every kind of table and 5 devices, many sharing a timestamp."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kind = rng.choice(KINDS)
        at = T0 + rng.randrange(40)  # heavy ties on created_ms: the id must break them
        out.append(
            (
                NewEvent(
                    context=f"d{rng.randrange(5)}/p{rng.randrange(3)}",
                    name="StatusChanged" if kind is TableKind.CHANGE else "AlarmRaised",
                    created_ms=at,
                    expires_ms=at + 10_000,
                    level=rng.choice(["info", "warning", "error"]),
                    data={"i": i},
                ),
                kind,
            )
        )
    return out


async def _all_pages(
    store: EventLogStore, query: EventQuery, limit: int
) -> list[list[tuple[int, int]]]:
    pages = []
    cursor: EventCursor | None = None
    while True:
        page = await store.query(query, limit=limit, cursor=cursor)
        pages.append([(e.created_ms, e.id) for e in page.events])
        if page.next_cursor is None:
            return pages
        cursor = EventCursor.parse(str(page.next_cursor))  # round trip through text


@pytest.mark.parametrize("order", [Order.NEWEST_FIRST, Order.OLDEST_FIRST])
async def test_pages_span_tables_without_duplicates_or_misses(tmp_path: Path, order: Order) -> None:
    async with EventLogStore(tmp_path / "events.db").running() as store:
        results = await store.record_many(_spread(400))
        tables = await store.tables()
        pages = await _all_pages(store, EventQuery(order=order), limit=17)
        one_page = await store.query(EventQuery(order=order), limit=MAX_PAGE)

    assert len(tables) == 3 + 5  # the fixed tables and one change table per device
    keys = [k for page in pages for k in page]
    assert len(keys) == len(set(keys)) == 400
    assert {k[1] for k in keys} == {r.id for r in results}
    assert keys == sorted(keys, reverse=order is Order.NEWEST_FIRST)
    assert all(len(p) == 17 for p in pages[:-1])
    assert keys == [(e.created_ms, e.id) for e in one_page.events]  # paging = one big read
    assert one_page.next_cursor is None


async def test_filters_combine_across_tables(tmp_path: Path) -> None:
    async with EventLogStore(tmp_path / "events.db").running() as store:
        await store.record_many(_spread(300, seed=3))
        everything = [e async for e in store.iter_events(EventQuery(), page_size=50)]
        query = EventQuery(context="d2/p1", min_level="warning", since_ms=T0 + 10, until_ms=T0 + 30)
        filtered = [e async for e in store.iter_events(query, page_size=7)]
        by_name = [e async for e in store.iter_events(EventQuery(name="StatusChanged"))]

    expected = [
        e
        for e in everything
        if e.context == "d2/p1" and e.level >= 3 and T0 + 10 <= e.created_ms < T0 + 30
    ]
    assert filtered == expected
    assert filtered  # the seed gives a non-empty selection
    assert {e.table for e in filtered} > {"change"}  # it really spans tables
    assert by_name == [e for e in everything if e.name == "StatusChanged"]
    assert {e.table for e in by_name} == {"change"}


async def test_page_size_is_capped_server_side_and_bad_limits_refused(tmp_path: Path) -> None:
    async with EventLogStore(tmp_path / "events.db").running() as store:
        events = [
            (
                NewEvent(
                    context="site",
                    name="EntityCreated",
                    created_ms=T0 + i,
                    expires_ms=T0 + 10**9,
                    level="info",
                    data={"i": i},
                ),
                TableKind.INFO,
            )
            for i in range(MAX_PAGE + 5)
        ]
        await store.record_many(events)
        page = await store.query(EventQuery(), limit=10**9)
        rest = await store.query(EventQuery(), limit=10**9, cursor=page.next_cursor)
        for bad in (0, -1, True):
            with pytest.raises(InvalidInput, match="limit"):
                await store.query(EventQuery(), limit=bad)

    assert len(page.events) == MAX_PAGE
    assert page.next_cursor is not None
    assert len(rest.events) == 5
    assert rest.next_cursor is None


async def test_under_selects_a_context_and_those_beneath_it_only(tmp_path: Path) -> None:
    contexts = ["1001", "1001/ai-1", "1001/ai-1/x", "10011/ai-1", "1001-b", "1002/ai-1", "100"]
    async with EventLogStore(tmp_path / "events.db").running() as store:
        await store.record_many(
            [
                (
                    NewEvent(
                        context=c,
                        name="StatusChanged",
                        created_ms=T0 + i,
                        expires_ms=T0 + 10**6,
                        level="info",
                    ),
                    kind,
                )
                for i, c in enumerate(contexts)
                for kind in (TableKind.CHANGE, TableKind.ALERT)
            ]
        )
        device = [e async for e in store.iter_events(EventQuery(under="1001"))]
        point = [e async for e in store.iter_events(EventQuery(under="1001/ai-1"))]
    assert sorted({e.context for e in device}) == ["1001", "1001/ai-1", "1001/ai-1/x"]
    assert len(device) == 6
    assert {e.table for e in device} == {TableKind.CHANGE, TableKind.ALERT}
    assert sorted({e.context for e in point}) == ["1001/ai-1", "1001/ai-1/x"]


@pytest.mark.parametrize(
    "text", ["", "12", "a.b", "1.-2", "1.2.3", "1;DROP", "1.\u00b2", f"1.{1 << 63}", f"{1 << 63}.1"]
)
def test_bad_cursor_text_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="cursor"):
        EventCursor.parse(text)


def test_query_validation() -> None:
    with pytest.raises(InvalidInput, match="since must be before until"):
        EventQuery(since_ms=5, until_ms=5)
    with pytest.raises(InvalidInput, match="unknown event level"):
        EventQuery(min_level="severe")
    with pytest.raises(InvalidInput, match="since"):  # beyond SQLite's integers
        EventQuery(since_ms=1 << 63)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.sampled_from(KINDS), st.integers(0, 4)),
        min_size=0,
        max_size=60,
    ),
    st.integers(1, 9),
    st.sampled_from([Order.NEWEST_FIRST, Order.OLDEST_FIRST]),
)
async def test_paging_equals_one_sorted_read_for_any_spread(
    spec: list[tuple[int, TableKind, int]], page_size: int, order: Order
) -> None:
    # (time offset, table kind, device) per event; few distinct times force ties.
    with tempfile.TemporaryDirectory() as tmp:
        async with EventLogStore(Path(tmp) / "events.db").running() as store:
            results = await store.record_many(
                [
                    (
                        NewEvent(
                            context=f"dev{device}/p",
                            name="X",
                            created_ms=T0 + offset,
                            expires_ms=T0 + 10**6,
                            level="info",
                            data={"i": i},
                        ),
                        kind,
                    )
                    for i, (offset, kind, device) in enumerate(spec)
                ]
            )
            pages = await _all_pages(store, EventQuery(order=order), limit=page_size)
    keys = [k for page in pages for k in page]
    expected = sorted(
        ((T0 + offset, r.id) for (offset, _, _), r in zip(spec, results, strict=True)),
        reverse=order is Order.NEWEST_FIRST,
    )
    assert keys == expected
    assert all(0 < len(p) <= page_size for p in pages[:-1])
