"""restoreOnStartup: last persisted value and timestamp, aliases, newest wins, nothing published."""

from __future__ import annotations

from pathlib import Path

from opencrate.clock import TrioClock
from opencrate.components.history.config.model import PersistenceConfig
from opencrate.components.history.config.persist_syntax import parse_persist
from opencrate.components.history.memory import MemoryService
from opencrate.components.history.restore import restore_on_startup
from opencrate.components.history.selectors import IdHierarchy
from opencrate.components.history.service import Sample
from opencrate.components.history.sqlite.store import HistoryStore
from opencrate.components.points.store import PointStore
from opencrate.runtime.bus import EventBus
from opencrate.runtime.events import ValueChanged


def s(point: str, ts: int, value: object) -> Sample:
    return Sample(point_id=point, ts_ms=ts, value=value)  # type: ignore[arg-type]


async def test_restores_configured_points_from_sqlite(
    bus: EventBus, clock: TrioClock, tmp_path: Path
) -> None:
    cfg = PersistenceConfig(
        services=(
            parse_persist(
                """Items {
                    sp*, !sp/locked : strategy = everyChange, restoreOnStartup
                    sensor/t : strategy = everyChange
                }
                Aliases { sp/b -> "bee" }""",
                service="sqlite",
            ),
        )
    )
    points = PointStore(bus, clock)
    points.set("sp/c", 99.0, ts_ms=5)  # already has a value: left alone
    async with HistoryStore(tmp_path / "history.db", clock=clock).running() as history:
        await history.store(
            [
                s("sp/a", 10, 21.5),
                s("sp/a", 20, 22.5),
                s("bee", 30, True),
                s("sp/c", 40, 1.0),
                s("sp/locked", 50, 3.0),
                s("sensor/t", 60, 18.0),
            ]
        )
        with bus.subscribe(ValueChanged) as sub:
            report = await restore_on_startup(
                config=cfg,
                services={"sqlite": history},
                points=points,
                hierarchy=IdHierarchy(),
                known_points=["sp/a", "sp/b", "sp/c", "sp/d", "sp/locked", "sensor/t"],
            )
            assert sub.statistics().depth == 0  # a restore is not a reading
    a, b, c = points.get("sp/a"), points.get("sp/b"), points.get("sp/c")
    assert a is not None
    assert (a.value, a.ts_ms) == (22.5, 20)  # the newest value, with its timestamp
    assert b is not None
    assert (b.value, b.ts_ms) == (True, 30)  # found under its alias
    assert c is not None
    assert c.value == 99.0
    assert points.get("sp/locked") is None  # excluded from the restoring line
    assert points.get("sensor/t") is None  # no restoreOnStartup
    assert points.get("sp/d") is None  # nothing persisted
    assert (report.candidates, report.restored, report.missing) == (3, 2, 1)


async def test_newest_sample_across_services_wins_and_failures_are_reported(
    bus: EventBus, clock: TrioClock, tmp_path: Path
) -> None:
    older, newer = MemoryService("older"), MemoryService("newer")
    await older.store([s("p", 10, 1.0), s("q", 30, "from older")])
    await newer.store([s("p", 20, 2.0), s("q", 5, "from newer")])
    broken = HistoryStore(tmp_path / "h.db", clock=clock)
    await broken.aclose()
    line = "Items { * : strategy = restoreOnStartup }"
    cfg = PersistenceConfig(
        services=(
            parse_persist(line, service="older", kind="memory"),
            parse_persist(line, service="newer", kind="memory"),
            parse_persist(line, service="sqlite"),
        )
    )
    points = PointStore(bus, clock)
    report = await restore_on_startup(
        config=cfg,
        services={"older": older, "newer": newer, "sqlite": broken},
        points=points,
        hierarchy=IdHierarchy(),
    )
    p, q = points.get("p"), points.get("q")
    assert p is not None
    assert q is not None
    assert (p.value, q.value) == (2.0, "from older")
    assert report.failed_services == ("sqlite",)
    assert report.restored == 2


async def test_line_alias_is_restored_under_its_storage_name(
    bus: EventBus, clock: TrioClock
) -> None:
    mem = MemoryService()
    await mem.store([s("mode", 7, 2)])
    cfg = PersistenceConfig(
        services=(
            parse_persist(
                'Items { 1001/mode -> "mode" : strategy = restoreOnStartup }', service="memory"
            ),
        )
    )
    points = PointStore(bus, clock)
    report = await restore_on_startup(
        config=cfg,
        services={"memory": mem},
        points=points,
        hierarchy=IdHierarchy(),
        known_points=["1001/mode", "1001/other"],
    )
    state = points.get("1001/mode")
    assert state is not None
    assert (state.value, state.ts_ms) == (2, 7)
    assert (report.candidates, report.restored) == (1, 1)
