"""The persistence manager: bus -> strategies/filters -> each service, cron, hot reload, lag."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio
import trio.testing

from opencrate.clock import TrioClock
from opencrate.components.history.config.model import PersistenceConfig
from opencrate.components.history.config.persist_syntax import parse_persist
from opencrate.components.history.manager import PersistenceManager
from opencrate.components.history.memory import MemoryService
from opencrate.components.history.selectors import IdHierarchy
from opencrate.components.history.service import PersistenceService, SampleRow
from opencrate.components.history.sqlite.store import HistoryStore
from opencrate.components.history.strategies import compile_plan
from opencrate.components.points.store import PointStore
from opencrate.runtime.bus import EventBus
from opencrate.runtime.events import EntityCreated, Lagged, ValueChanged
from opencrate.runtime.watch import Watch


def config(**persist: str) -> PersistenceConfig:
    return PersistenceConfig(
        services=tuple(
            parse_persist(text, service=name, kind="memory") for name, text in persist.items()
        )
    )


@asynccontextmanager
async def running(
    bus: EventBus,
    clock: TrioClock,
    services: list[PersistenceService],
    cfg: PersistenceConfig,
    **kwargs: int,
) -> AsyncIterator[tuple[PersistenceManager, PointStore, Watch[PersistenceConfig]]]:
    points = PointStore(bus, clock)
    watch = Watch(cfg)
    manager = PersistenceManager(
        bus=bus,
        points=points,
        services={s.service_id: s for s in services},
        config=watch,
        hierarchy=IdHierarchy(),
        clock=clock,
        **kwargs,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(manager.run)
        yield manager, points, watch
        nursery.cancel_scope.cancel()


async def stored(service: MemoryService, point: str) -> list[tuple[int, object]]:
    await trio.testing.wait_all_tasks_blocked()
    return [(s.ts_ms, s.value) for s in await service.samples(point, 0, 2**62)]


async def test_change_update_and_once_per_service(bus: EventBus, clock: TrioClock) -> None:
    a, b = MemoryService("a"), MemoryService("b")
    cfg = config(
        # Two lines select 1/x, and everyUpdate + everyChange both trigger on a change:
        # still one sample per update.
        a="Items { * : strategy = everyChange, everyUpdate\n 1/x : strategy = everyChange }",
        b="Items { * : strategy = everyChange }",
    )
    async with running(bus, clock, [a, b], cfg) as (manager, points, _):
        for ts, value in [(1, 1.0), (2, 1.0), (3, 2.0), (4, 2.0)]:
            points.set("1/x", value, ts_ms=ts)
        assert await stored(a, "1/x") == [(1, 1.0), (2, 1.0), (3, 2.0), (4, 2.0)]
        assert await stored(b, "1/x") == [(1, 1.0), (3, 2.0)]
        stats = {r.service_id: r for r in manager.statistics().runners}
        assert stats["a"].stored == 4
        assert stats["b"].stored == 2
        assert stats["a"].updates_seen == 4


async def test_filters_selectors_and_aliases(bus: EventBus, clock: TrioClock) -> None:
    mem = MemoryService()
    cfg = config(
        memory="""
        Filters { half : > 0.5 }
        Items {
            1*, !1/noise -> "one" : strategy = everyUpdate filter = half
            2/y : strategy = everyChange
        }
        Aliases { 2/y -> "why" }
        """
    )
    async with running(bus, clock, [mem], cfg) as (manager, points, _):
        for ts, value in [(1, 20.0), (2, 20.4), (3, 20.6), (4, 21.0), (5, 21.2)]:
            points.set("1/a", value, ts_ms=ts)
        points.set("1/noise", 5.0, ts_ms=6)
        points.set("2/y", True, ts_ms=7)
        points.set("3/z", 1.0, ts_ms=8)
        # Threshold measured from the last stored value: 20 -> 20.6 -> 21.2.
        assert await stored(mem, "one") == [(1, 20.0), (3, 20.6), (5, 21.2)]
        assert await stored(mem, "why") == [(7, True)]
        assert await stored(mem, "1/noise") == []
        assert await stored(mem, "3/z") == []
        assert manager.storage_id("memory", "2/y") == "why"
        assert manager.storage_id("memory", "1/a") == "one"
        runner = manager.statistics().runners[0]
        assert runner.filtered == 2


async def test_restored_value_is_the_baseline_for_every_change(
    bus: EventBus, clock: TrioClock
) -> None:
    mem = MemoryService()
    points = PointStore(bus, clock)
    points.restore("1/x", 5.0, ts_ms=1)
    watch = Watch(config(memory="Items { * : strategy = everyChange }"))
    manager = PersistenceManager(
        bus=bus,
        points=points,
        services={"memory": mem},
        config=watch,
        hierarchy=IdHierarchy(),
        clock=clock,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(manager.run)
        points.set("1/x", 5.0, ts_ms=2)  # same as the restored value: not a change
        points.set("1/x", 6.0, ts_ms=3)
        assert await stored(mem, "1/x") == [(3, 6.0)]
        nursery.cancel_scope.cancel()


async def test_cron_strategy_snapshots_current_values(
    bus: EventBus, clock: TrioClock, autojump_clock: trio.abc.Clock
) -> None:
    mem = MemoryService()
    cfg = config(
        memory="""
        Strategies { every10s : "*/10 * * * * ?" }
        Filters { changedEnough : > 1 }
        Items {
            1* : strategy = every10s
            2/a : strategy = every10s filter = changedEnough
        }
        """
    )
    async with running(bus, clock, [mem], cfg) as (manager, points, _):
        points.set("1/a", 1.0)
        points.set("2/a", 10.0)
        points.set("3/a", 3.0)
        await trio.sleep(15)  # fires at 10 s (the clock starts on a 10 s boundary)
        points.set("1/a", 2.0)
        points.set("2/a", 10.5)
        await trio.sleep(10)
        one = await stored(mem, "1/a")
        assert [v for _, v in one] == [1.0, 2.0]
        assert all(ts % 10_000 == 0 for ts, _ in one)
        assert one[1][0] - one[0][0] == 10_000
        assert [v for _, v in await stored(mem, "2/a")] == [10.0]  # 10.5 filtered
        assert await stored(mem, "3/a") == []
        assert manager.statistics().runners[0].cron_runs == 2


class SlewedClock(TrioClock):
    """Wall time running 0.1 % slower than trio's clock (as NTP slewing it back)."""

    def __init__(self, start_ms: int) -> None:
        super().__init__(start_ms)
        self.start = start_ms

    def now_ms(self) -> int:
        return self.start + (super().now_ms() - self.start) * 999 // 1000


async def test_cron_fires_each_time_once_when_the_wall_clock_lags(
    bus: EventBus, autojump_clock: trio.abc.Clock
) -> None:
    # Woken by trio at fire_ms, the slower clock said a little before it, whose
    # next fire time is fire_ms again: every fire was stored again and again.
    clock = SlewedClock(1_700_000_000_000)
    mem = MemoryService()
    cfg = config(
        memory='Strategies { every10s : "*/10 * * * * ?" } Items { 1/a : strategy = every10s }'
    )
    async with running(bus, clock, [mem], cfg) as (manager, points, _):
        points.set("1/a", 1.0)
        await trio.sleep(25)
        assert manager.statistics().runners[0].cron_runs == 2
        assert [ts % 10_000 for ts, _ in await stored(mem, "1/a")] == [0, 0]


async def test_hot_reload_through_the_watch(bus: EventBus, clock: TrioClock) -> None:
    mem = MemoryService()
    async with running(
        bus, clock, [mem], config(memory="Items { 1/a : strategy = everyUpdate }")
    ) as (
        manager,
        points,
        watch,
    ):
        points.set("1/a", 1.0, ts_ms=1)
        points.set("1/b", 1.0, ts_ms=1)
        await trio.testing.wait_all_tasks_blocked()
        watch.set(config(memory="Items { 1/b : strategy = everyUpdate }"))
        await trio.testing.wait_all_tasks_blocked()
        points.set("1/a", 2.0, ts_ms=2)
        points.set("1/b", 2.0, ts_ms=2)
        assert await stored(mem, "1/a") == [(1, 1.0)]
        assert await stored(mem, "1/b") == [(2, 2.0)]
        assert manager.statistics().runners[0].config_version == 1


async def test_node_changes_drop_cached_plans(bus: EventBus, clock: TrioClock) -> None:
    mem = MemoryService()
    async with running(
        bus, clock, [mem], config(memory="Items { 1* : strategy = everyUpdate }")
    ) as (
        manager,
        points,
        _,
    ):
        points.set("1/a", 1.0, ts_ms=1)
        await trio.testing.wait_all_tasks_blocked()
        assert manager.statistics().runners[0].cached_plans == 1
        bus.publish(EntityCreated(ts_ms=2, entity_id="1/b", entity_type="point"))
        await trio.testing.wait_all_tasks_blocked()
        assert manager.statistics().runners[0].cached_plans == 0


async def test_lag_is_counted_and_the_rest_is_stored(bus: EventBus, clock: TrioClock) -> None:
    mem = MemoryService()
    cfg = config(memory="Items { * : strategy = everyUpdate }")
    async with running(bus, clock, [mem], cfg, capacity=8) as (manager, points, _):
        for ts in range(20):  # no checkpoint in between: the runner cannot keep up
            points.set("1/a", float(ts), ts_ms=ts)
        await trio.testing.wait_all_tasks_blocked()
        points.set("1/a", 100.0, ts_ms=100)  # the next delivery carries the Lagged marker
        samples = await stored(mem, "1/a")
        runner = manager.statistics().runners[0]
        assert runner.lagged == 21 - len(samples)
        assert runner.lagged > 0
        assert samples[-1] == (100, 100.0)
        assert samples[0] == (0, 0.0)


async def test_a_failing_service_does_not_stop_the_others(
    bus: EventBus, clock: TrioClock, tmp_path: Path
) -> None:
    broken = HistoryStore(tmp_path / "history.db", clock=clock)
    await broken.aclose()  # closed: every store raises StoreClosed
    mem = MemoryService()
    cfg = PersistenceConfig(
        services=(
            parse_persist("Items { * : strategy = everyUpdate }", service="sqlite"),
            parse_persist("Items { * : strategy = everyUpdate }", service="memory"),
        )
    )
    async with running(bus, clock, [broken, mem], cfg) as (manager, points, _):
        points.set("1/a", 1.0, ts_ms=1)
        points.set("1/a", 2.0, ts_ms=2)
        assert await stored(mem, "1/a") == [(1, 1.0), (2, 2.0)]
        stats = {r.service_id: r for r in manager.statistics().runners}
        assert stats["sqlite"].errors >= 1
        assert "StoreClosed" in (stats["sqlite"].last_error or "")


async def test_cancelling_stores_what_is_still_queued(bus: EventBus, clock: TrioClock) -> None:
    mem = MemoryService()
    cfg = config(memory="Items { * : strategy = everyUpdate }")
    async with running(bus, clock, [mem], cfg) as (_, points, _):
        for ts in range(10):  # queued, not yet seen by the runner ...
            points.set("1/a", float(ts), ts_ms=ts)
        # ... when the context cancels the manager
    assert len(await mem.samples("1/a", 0, 100)) == 10


def test_plans_say_which_triggered_lines_have_filters() -> None:
    cfg = parse_persist(
        "Filters { big : > 1 }\n"
        "Items {\n  1/a : strategy = everyUpdate\n  1/b : strategy = everyUpdate\n"
        "  1/b : strategy = everyChange filter = big\n}",
        service="m",
        kind="memory",
    )
    plain = compile_plan(cfg, "1/a", frozenset())
    assert (plain.update_filtered, plain.change_filtered) == (False, False)
    mixed = compile_plan(cfg, "1/b", frozenset())
    assert (mixed.update_filtered, mixed.change_filtered) == (False, True)
    assert mixed.lines_for_update(True) == mixed.on_update + mixed.on_change
    assert mixed.lines_for_update(False) == mixed.on_update


async def test_no_filter_work_without_filters(bus: EventBus, clock: TrioClock) -> None:
    a = MemoryService("a")
    cfg = config(a="Filters { big : > 1 }\nItems { 1/x : strategy = everyUpdate\n"
                 "1/y : strategy = everyChange filter = big }")  # fmt: skip
    async with running(bus, clock, [a], cfg) as (manager, points, _):
        for ts, y in enumerate([5.0, 5.5, 7.0, 7.2, 9.0], start=1):
            points.set("1/x", float(ts), ts_ms=ts)
            points.set("1/y", y, ts_ms=ts)
        assert await stored(a, "1/x") == [(ts, float(ts)) for ts in range(1, 6)]
        assert await stored(a, "1/y") == [(1, 5.0), (3, 7.0), (5, 9.0)]  # moved more than 1
        (runner,) = manager._runners.values()
        # Only 1/y's filter remembered anything: 1/x never touched the filter state.
        assert len(runner.filters) == 1


async def test_the_inlined_batch_decision_equals_one_decision_per_update(
    bus: EventBus, clock: TrioClock
) -> None:
    cfg = config(
        m="Filters { big : > 1 }\nItems {\n  1/a : strategy = everyUpdate\n"
        "  1/b : strategy = everyChange filter = big\n  1/c : strategy = everyChange\n}"
    )
    updates = [
        (point, ts, value)
        for ts in range(1, 40)
        for point, value in (("1/a", 1.0), ("1/b", float(ts * 7 % 5)), ("1/c", ts // 3 % 2 == 0))
    ]
    async with running(bus, clock, [MemoryService("m")], cfg) as (manager, _, _):
        (live,) = manager._runners.values()
        batched: list[SampleRow] = []
        events = [ValueChanged(ts_ms=ts, node_id=p, value=v) for p, ts, v in updates]
        assert live.decide([*events, Lagged(3)], batched) == len(events)
        one_by_one: dict[tuple[str, int], SampleRow] = {}
        past = manager.past_decider("m")._runner
        for point, ts, value in updates:
            past.decide_update(point, value, ts, one_by_one)
    assert batched == list(one_by_one.values())
    assert len(batched) < len(updates)  # the filter and everyChange refused some
    assert live.statistics().updates_seen == past.statistics().updates_seen == len(updates)
    assert live.statistics().lagged == 3
