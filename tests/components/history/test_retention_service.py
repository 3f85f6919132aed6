"""Retention wired in: the level-50 service deletes old data for real and follows config changes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import trio
import trio.testing
from attrs import evolve

from opencrate.app import Services
from opencrate.clock import TrioClock
from opencrate.components.history.config.model import RetentionConfig
from opencrate.components.history.config.toml import parse_config_text, service_from_mapping
from opencrate.components.history.service import Sample
from opencrate.components.history.setup import Persistence
from opencrate.components.history.sqlite.retention import DAY_MS
from opencrate.components.history.sqlite.retention_service import HistoryRetention
from opencrate.components.history.sqlite.store import HistoryStore
from opencrate.config import Settings
from opencrate.errors import ConfigError
from opencrate.runtime.watch import Watch

NOW = 1_760_000_400_000
HOUR = 3_600_000


def hourly(point: str, start: int, n: int) -> list[Sample]:
    return [Sample(point_id=point, ts_ms=start + i * HOUR, value=float(i)) for i in range(n)]


async def counts(store: HistoryStore) -> dict[str, int]:
    def fn(conn: sqlite3.Connection) -> dict[str, int]:
        rows = conn.execute(
            "SELECT p.point_id, count(*) FROM sample s JOIN point p ON p.key = s.point_key "
            "GROUP BY p.point_id"
        )
        return {point: n for point, n in rows}

    return await store.read(fn)


async def seed(path: Path) -> None:
    """60-day-old samples of ``old``, the last day of ``recent``, both hourly."""
    async with HistoryStore(path).running() as history:
        await history.store(hourly("old", NOW - 60 * DAY_MS, 48))
        await history.store(hourly("recent", NOW - DAY_MS, 24))


SECTION = {
    "services": {
        "sqlite": {
            "items": [{"points": ["*"], "strategies": ["everyChange"]}],
            "retention": {"raw": "30d", "rollups": "forever"},
        }
    }
}


async def test_the_app_runs_retention_at_level_50_and_it_deletes_old_data(tmp_path: Path) -> None:
    # Real time (the passes are awaited, never slept for): under autojump the
    # whole app's timers would jump while stores wait on their threads.
    await seed(tmp_path / "history.db")
    svc = Services.create(
        Settings(data_dir=tmp_path, port=0, sections={"persistence": SECTION}),
        clock=TrioClock(start_ms=NOW),
    )
    supervisor = svc.build_supervisor()
    (engines,) = [lv for lv in svc.levels() if lv.number == 50]
    assert "history-retention" in [s.name for s in engines.services]
    supervisor.levels = [lv for lv in supervisor.levels if lv.number != 60]
    retention = svc.get(Persistence).retention
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(supervisor.run)
            await retention.wait_passes("sqlite", 1)
            (history,) = svc.get(Persistence).history
            # All but the state in force at the cutoff went; the last day stayed.
            assert await counts(history) == {"old": 1, "recent": 24}
            health = svc.get(Persistence).health()["services"]["sqlite"]["retention"]
            assert health["active"] is True
            assert health["samples_deleted"] == 47

            # Replaced through the API: saved, and the running loop takes it at once.
            current = svc.get(Persistence).config.value.get("sqlite")
            assert current is not None
            passes = retention.statistics().services[0].passes
            await svc.get(Persistence).replace_config(
                evolve(current, retention=RetentionConfig(keep={"raw": 12 * HOUR}))
            )
            await retention.wait_passes("sqlite", passes + 1)
            # The 11 samples newer than the cutoff (NOW - 11 h ... NOW - 1 h; time has
            # moved on a little past NOW) and the state in force at it.
            assert (await counts(history))["recent"] == 12
            saved = json.loads((tmp_path / "persistence" / "sqlite.json").read_text())
            assert saved["retention"]["raw"] == "12h"
            supervisor.request_shutdown()
    # The deletions were committed: a fresh open sees them.
    async with HistoryStore(tmp_path / "history.db").running() as history:
        assert (await counts(history))["old"] == 1


async def test_a_bad_retention_is_a_config_error_and_nothing_is_deleted(tmp_path: Path) -> None:
    await seed(tmp_path / "history.db")
    bad = {"services": {"sqlite": {"retention": {"raw": "30 days"}}}}
    with pytest.raises(ConfigError, match=r"retention: raw: not a keep time: '30 days'"):
        Services.create(Settings(data_dir=tmp_path, sections={"persistence": bad}))
    async with HistoryStore(tmp_path / "history.db").running() as history:
        assert await counts(history) == {"old": 48, "recent": 24}


async def test_the_loop_follows_retention_changes_and_stops_when_removed(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    clock = TrioClock(start_ms=NOW)
    base = '[[services.sqlite.items]]\npoints = ["*"]\nstrategies = ["everyChange"]\n'
    config = Watch(parse_config_text(base))
    async with HistoryStore(tmp_path / "history.db", clock=clock).running() as history:
        await history.store(hourly("old", NOW - 60 * DAY_MS, 48))
        await history.store(hourly("week", NOW - 10 * DAY_MS, 24))
        retention = HistoryRetention(config=config, stores={"sqlite": history}, clock=clock)

        def stats() -> tuple[bool, int]:
            (s,) = retention.statistics().services
            return s.active, s.passes

        async with trio.open_nursery() as nursery:
            await nursery.start(retention.run)
            # No retention table: nothing runs, everything is kept.
            await trio.sleep(3 * HOUR / 1000)
            assert stats() == (False, 0)
            assert await counts(history) == {"old": 48, "week": 24}

            config.set(parse_config_text(base + '[services.sqlite.retention]\nraw = "30d"\n'))
            await retention.wait_passes("sqlite", 1)
            assert await counts(history) == {"old": 1, "week": 24}

            # A bad replacement is refused before it reaches the Watch: nothing changes.
            (current,) = config.value.services
            with pytest.raises(ConfigError, match=r"retention\.rules\[0\]: selector '!week'"):
                service_from_mapping(
                    "sqlite",
                    {"retention": {"raw": "1d", "rules": [{"points": ["!week"], "raw": "1h"}]}},
                    file="request body",
                )
            assert await counts(history) == {"old": 1, "week": 24}

            passes = stats()[1]
            config.set(
                config.value.replace(
                    evolve(current, retention=RetentionConfig(keep={"raw": 7 * DAY_MS}))
                )
            )
            await retention.wait_passes("sqlite", passes + 1)
            assert await counts(history) == {"old": 1, "week": 1}

            # Removed: the loop stops and later old data stays.
            config.set(config.value.replace(evolve(current, retention=None)))
            while stats()[0]:  # noqa: ASYNC110  (stops between batches, on its own time)
                await trio.sleep(1)
            await history.store(hourly("later", NOW - 90 * DAY_MS, 5))
            await trio.sleep(5 * HOUR / 1000)
            assert (await counts(history))["later"] == 5
            nursery.cancel_scope.cancel()
