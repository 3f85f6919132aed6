"""Rollup pages: ORDER BY and LIMIT in SQL, the open window only when the page reaches it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from opencrate.components.history.service import HistoryPage, Resolution, RollupBucket, Sample
from opencrate.components.history.sqlite.store import HistoryStore

BASE = 1_699_999_200_000  # on an hour boundary
MIN = 60_000
POINT = "1001/ai-1"
FIVE = Resolution.FIVE_MIN


@pytest.fixture
async def history(tmp_path: Path) -> AsyncIterator[HistoryStore]:
    async with HistoryStore(tmp_path / "history.db").running() as store:
        # 2 h 3 min of one-a-minute samples: 24 closed 5-minute windows and an open one.
        await store.store(
            [Sample(point_id=POINT, ts_ms=BASE + i * MIN, value=float(i)) for i in range(123)]
        )
        yield store


async def walk(store: HistoryStore, begin: int, end: int, *, desc: bool, limit: int) -> list[int]:
    """Every window start, page by page through the cursor."""
    starts: list[int] = []
    while True:
        page = await store.query(POINT, begin, end, resolution=FIVE, descending=desc, limit=limit)
        assert len(page.buckets) <= limit
        starts += [b.start_ms for b in page.buckets]
        if page.next_ms is None:
            return starts
        if desc:
            end = page.next_ms
        else:
            begin = page.next_ms


@pytest.mark.parametrize("limit", [1, 3, 24, 25, 26, 100])
@pytest.mark.parametrize("desc", [False, True])
async def test_pages_walk_every_window_once_in_order(
    history: HistoryStore, limit: int, desc: bool
) -> None:
    everything = [BASE + w * 5 * MIN for w in range(25)]  # the open one last
    got = await walk(history, BASE, BASE + 200 * MIN, desc=desc, limit=limit)
    assert got == (everything[::-1] if desc else everything)


async def test_a_page_equals_the_same_slice_of_the_unlimited_page(history: HistoryStore) -> None:
    full = await history.query(POINT, BASE, BASE + 200 * MIN, resolution=FIVE, limit=-1)
    assert len(full.buckets) == 25
    assert full.next_ms is None
    page = await history.query(POINT, BASE, BASE + 200 * MIN, resolution=FIVE, limit=10)
    assert page.buckets == full.buckets[:10]
    assert page.next_ms == full.buckets[10].start_ms
    back = await history.query(
        POINT, BASE, BASE + 200 * MIN, resolution=FIVE, descending=True, limit=2
    )
    # Descending: the open window (computed from raw) comes first, then stored ones;
    # its mean is time-weighted to the window end (122 held for 3 of 5 minutes).
    assert back.buckets == (full.buckets[24], full.buckets[23])
    assert back.buckets[0] == RollupBucket(
        point_id=POINT, start_ms=BASE + 120 * MIN, width_ms=5 * MIN, count=3,
        mean=pytest.approx(121.4), min=120.0, max=122.0, sum=363.0, first=120.0, last=122.0,
    )  # fmt: skip
    assert back.next_ms == full.buckets[23].start_ms - 1


async def test_a_page_that_ends_before_the_open_window(history: HistoryStore) -> None:
    page: HistoryPage = await history.query(
        POINT, BASE + 7 * MIN, BASE + 17 * MIN, resolution=FIVE, limit=100
    )
    # Windows starting in [the window of begin, end]: 5, 10 and 15 minutes.
    assert [b.start_ms for b in page.buckets] == [BASE + m * MIN for m in (5, 10, 15)]
    assert [s.value for s in page.samples] == [b.mean for b in page.buckets]


async def test_only_the_open_window(history: HistoryStore) -> None:
    page = await history.query(POINT, BASE + 121 * MIN, BASE + 200 * MIN, resolution=FIVE)
    assert [(b.start_ms, b.count) for b in page.buckets] == [(BASE + 120 * MIN, 3)]
