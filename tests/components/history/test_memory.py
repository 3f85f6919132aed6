"""The memory service: bounded per point, upsert, and the query primitives of the contract."""

from __future__ import annotations

import pytest

from opencrate.components.history.memory import MemoryService, weighted_series
from opencrate.components.history.service import PersistenceService, RiemannType, Sample
from opencrate.errors import InvalidInput


def s(ts: int, value: object, point: str = "p") -> Sample:
    return Sample(point_id=point, ts_ms=ts, value=value)  # type: ignore[arg-type]


async def test_is_a_persistence_service_bounded_per_point() -> None:
    mem = MemoryService(max_entries=3)
    assert isinstance(mem, PersistenceService)
    await mem.store([s(t, float(t)) for t in (5, 1, 4, 2)] + [s(1, 9.0, "q")])
    # Oldest dropped: 1 went when the fourth sample came in.
    assert [x.ts_ms for x in await mem.samples("p", 0, 100)] == [2, 4, 5]
    assert [x.value for x in await mem.samples("q", 0, 100)] == [9.0]
    await mem.store([s(4, 40.0)])  # upsert in place, no drop
    assert [x.value for x in await mem.samples("p", 0, 100)] == [2.0, 40.0, 5.0]
    stats = mem.statistics()
    assert (stats.points, stats.samples, stats.dropped) == (2, 4, 1)


async def test_bad_batch_stores_nothing() -> None:
    mem = MemoryService()
    await mem.store([s(1, 1.0)])
    for bad in (s(2, float("nan")), s(2, [1]), Sample(point_id="", ts_ms=2, value=1.0)):
        with pytest.raises(InvalidInput):
            await mem.store([s(3, 3.0), bad])
    assert await mem.samples("p", 0, 10) == [s(1, 1.0)]


async def test_query_pages_and_remove() -> None:
    mem = MemoryService()
    await mem.store([s(t, t) for t in range(10)])
    page = await mem.query("p", 0, 9, limit=4)
    assert [x.ts_ms for x in page.samples] == [0, 1, 2, 3]
    assert page.next_ms == 4
    desc = await mem.query("p", 0, 9, limit=4, descending=True)
    assert [x.ts_ms for x in desc.samples] == [9, 8, 7, 6]
    assert desc.next_ms == 5
    assert (await mem.query("p", 8, 9, limit=4)).next_ms is None
    with pytest.raises(InvalidInput):
        await mem.query("p", 9, 0)
    assert await mem.remove("p", 2, 7) == 6
    assert [x.ts_ms for x in await mem.samples("p", 0, 9)] == [0, 1, 8, 9]
    assert await mem.remove("p", 0, 9) == 4
    assert await mem.last_states() == {}


async def test_lookup_primitives() -> None:
    mem = MemoryService()
    await mem.store([s(10, 1.0), s(20, 1.0), s(30, 2.0), s(40, 2.0), s(5, "x", "t")])
    assert await mem.state_at("p", 25) == s(20, 1.0)
    assert await mem.state_at("p", 9) is None
    assert await mem.next_sample("p", 21) == s(30, 2.0)
    assert await mem.last_differing("p", 40, 2.0) == s(20, 1.0)
    assert await mem.first_differing("p", 0, 1.0) == s(30, 2.0)
    assert await mem.last_states(["p", "t", "nobody"]) == {"p": s(40, 2.0), "t": s(5, "x", "t")}


async def test_window_stats_and_median() -> None:
    mem = MemoryService()
    await mem.store([s(1, 3.0), s(2, "off"), s(3, 1.0), s(4, 1.0), s(5, True), s(6, 7.0)])
    stats = await mem.window_stats("p", 1, 6)
    assert stats.count == 6
    assert stats.numeric_count == 5
    assert stats.sum == 13.0
    assert stats.min == s(3, 1.0)  # the oldest holder of the minimum
    assert stats.max == s(6, 7.0)
    assert (stats.first, stats.last) == (s(1, 3.0), s(6, 7.0))
    assert stats.changes == 3  # 3->off, off->1, 1==1, 1==True, True->7
    assert await mem.median("p", 1, 6) == 1.0
    assert await mem.median("p", 1, 3) == 2.0
    empty = await mem.window_stats("p", 100, 200)
    assert (empty.count, empty.sum, empty.first) == (0, 0.0, None)


async def test_weighted_stats_follow_the_augmented_series() -> None:
    mem = MemoryService()
    # 10 holds from t=0, 20 from t=100; text is ignored.
    await mem.store([s(0, 10.0), s(50, "text"), s(100, 20.0)])
    left = await mem.weighted_stats("p", 50, 150)
    assert left is not None
    # augmented: (50,10) (100,20) (150,20): 10*50 + 20*50
    assert (left.duration_ms, left.integral, left.mean) == (100, 1500.0, 15.0)
    assert left.variance == pytest.approx(25.0)
    right = await mem.weighted_stats("p", 50, 150, RiemannType.RIGHT)
    assert right is not None
    assert right.integral == 2000.0
    trap = await mem.weighted_stats("p", 50, 150, RiemannType.TRAPEZOIDAL)
    assert trap is not None
    assert trap.integral == 1750.0
    # Nothing before begin: the leading gap is trimmed.
    trimmed = await mem.weighted_stats("p", -100, 100)
    assert trimmed is not None
    assert (trimmed.duration_ms, trimmed.mean) == (100, 10.0)
    assert await mem.weighted_stats("p", -100, -50) is None
    assert weighted_series([(0, 1.0)], RiemannType.LEFT) is None
