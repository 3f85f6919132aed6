"""``window_extreme``: what maximum/minimum read, in one trip to the store's read thread.

The extensions built on it are checked against the reference in
``test_extensions.py``; here the primitive itself agrees with ``window_stats``
and ``state_at`` (raw and rollup pieces, ties, text samples, the edges of the
window), and the SQLite store answers maximum/minimum with one read.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from opencrate.clock import TrioClock
from opencrate.components.history.extensions import PersistenceExtensions
from opencrate.components.history.memory import MemoryService
from opencrate.components.history.service import PersistenceService, Sample
from opencrate.components.history.sqlite.store import HistoryStore

T = TypeVar("T")

BASE = 1_699_999_200_000  # on an hour boundary
MIN = 60_000
POINT = "1001/ai1"


def _value(i: int) -> float | str:
    if i == 100:
        return "fault"  # text: skipped by numeric extremes
    if i in (30, 150):
        return 50.0  # the highest value twice, in different hours: the oldest wins
    if i in (45, 170):
        return -50.0
    return float(i % 7)


#: Three hours at one sample a minute: the middle of long windows comes from rollups.
SAMPLES = [Sample(point_id=POINT, ts_ms=BASE + i * MIN, value=_value(i)) for i in range(180)]

WINDOWS = [
    (BASE, BASE + 179 * MIN),  # begins exactly on a sample
    (BASE + 17_000, BASE + 179 * MIN),  # unaligned: the state at 0 min is held in
    (BASE - 5 * MIN, BASE + 10 * MIN),  # begins before any sample
    (BASE + 31 * MIN + 1, BASE + 140 * MIN),  # after the first 50.0 and before the second
    (BASE + 100 * MIN, BASE + 100 * MIN),  # only the text sample
    (BASE + 200 * MIN, BASE + 300 * MIN),  # after the last sample: only the held state
]


class CountingStore(HistoryStore):
    """The real SQLite store, counting trips to its read thread."""

    reads = 0

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        self.reads += 1
        return await super().read(fn)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[CountingStore]:
    async with CountingStore(tmp_path / "history.db").running() as running:
        await running.store(SAMPLES)
        yield running


@pytest.mark.parametrize(("begin", "end"), WINDOWS)
@pytest.mark.parametrize("high", [True, False])
async def test_window_extreme_agrees_with_window_stats_and_state_at(
    store: CountingStore, begin: int, end: int, high: bool
) -> None:
    memory = MemoryService(max_entries=10_000)
    await memory.store(SAMPLES)
    service: PersistenceService
    for service in (store, memory):
        stats = await service.window_stats(POINT, begin, end)
        found = await service.window_extreme(POINT, begin, end, high=high)
        assert found.best == (stats.max if high else stats.min)
        assert found.at_begin == await service.state_at(POINT, begin)


async def test_a_window_of_an_unknown_point_has_no_extreme(store: CountingStore) -> None:
    found = await store.window_extreme("nope/x", BASE, BASE + MIN, high=True)
    assert (found.best, found.at_begin) == (None, None)


async def test_maximum_and_minimum_take_one_read(store: CountingStore) -> None:
    ext = PersistenceExtensions(store, clock=TrioClock(start_ms=BASE + 179 * MIN))
    before = store.reads
    highest = await ext.maximum_since(POINT, BASE + 17_000)
    assert store.reads == before + 1
    lowest = await ext.minimum_between(POINT, BASE + 17_000, BASE + 179 * MIN)
    assert store.reads == before + 2
    assert highest == Sample(point_id=POINT, ts_ms=BASE + 30 * MIN, value=50.0)
    assert lowest == Sample(point_id=POINT, ts_ms=BASE + 45 * MIN, value=-50.0)
