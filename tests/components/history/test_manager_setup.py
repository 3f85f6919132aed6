"""Building persistence from settings, API-saved overrides, and the level-30 start in the app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio

from opencrate.app import Services
from opencrate.clock import TrioClock
from opencrate.components.history.config.persist_syntax import parse_persist
from opencrate.components.history.memory import MemoryService
from opencrate.components.history.postgresql.service import PostgresService
from opencrate.components.history.service import Sample
from opencrate.components.history.setup import Persistence, load_persistence_config
from opencrate.components.history.sqlite.store import HistoryStore
from opencrate.components.nodes.store import NodeStore
from opencrate.components.points.store import PointStore
from opencrate.config import Settings
from opencrate.errors import ConfigError, Conflict
from opencrate.runtime.bus import EventBus
from opencrate.runtime.supervisor import Level, Service


def test_default_file_and_managed_sources(tmp_path: Path) -> None:
    default = load_persistence_config(None)
    (sqlite,) = default.services
    assert sqlite.items[0].strategies == ("everyChange", "restoreOnStartup")

    persist = tmp_path / "sqlite.persist"
    persist.write_text("Items { * : strategy = everyUpdate }")
    from_file = load_persistence_config({"file": str(persist)})
    assert from_file.services[0].items[0].strategies == ("everyUpdate",)
    with pytest.raises(ConfigError, match="put everything in that file"):
        load_persistence_config({"file": str(persist), "default": "sqlite"})

    managed = tmp_path / "managed"
    managed.mkdir()
    (managed / "sqlite.json").write_text(
        json.dumps({"items": [{"points": ["a"], "strategies": ["everyChange"]}]})
    )
    overlaid = load_persistence_config({"file": str(persist)}, managed)
    assert [str(s) for s in overlaid.services[0].items[0].selectors] == ["a"]
    assert overlaid.services[0].source == str(managed / "sqlite.json")
    (managed / "sqlite.json").write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read saved configuration"):
        load_persistence_config(None, managed)


async def test_build_makes_one_instance_per_kind(tmp_path: Path, clock: TrioClock) -> None:
    section = {
        "default": "sqlite",
        "services": {
            "sqlite": {"items": [{"points": ["*"], "strategies": ["everyChange"]}]},
            "forecast": {"kind": "memory", "max_entries": 7},
            "archive": {"kind": "postgresql", "dsn": "postgresql://nobody@127.0.0.1:1/x"},
        },
    }
    settings = Settings(data_dir=tmp_path, sections={"persistence": section})
    bus = EventBus()
    persistence = Persistence.build(
        settings,
        bus=bus,
        points=PointStore(bus, clock),
        nodes=NodeStore(tmp_path / "nodes.db", bus=bus, clock=clock),
        clock=clock,
    )
    assert isinstance(persistence.services["sqlite"], HistoryStore)
    forecast = persistence.services["forecast"]
    assert isinstance(forecast, MemoryService)
    assert forecast.max_entries == 7
    archive = persistence.services["archive"]
    assert isinstance(archive, PostgresService)
    assert archive.spool_path == tmp_path / "pg-spool-archive.db"
    assert persistence.service(None)[0] == "sqlite"

    # Kind and options of a running service cannot change through the API.
    with pytest.raises(Conflict):
        await persistence.replace_config(
            parse_persist("Items { * : strategy = everyChange }", service="forecast", kind="sqlite")
        )
    saved = await persistence.replace_config(
        parse_persist("Items { x : strategy = everyUpdate }", service="forecast", kind="memory")
    )
    assert saved.options == {"max_entries": 7}
    assert json.loads((tmp_path / "persistence" / "forecast.json").read_text())["items"] == [
        {"points": ["x"], "strategies": ["everyUpdate"]}
    ]
    assert persistence.config.version == 1


async def test_level_30_restores_then_the_manager_records(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # A previous run left a setpoint in history.db.
    async with HistoryStore(data / "history.db").running() as history:
        await history.store([Sample(point_id="1001/sp", ts_ms=1_000, value=21.5)])

    svc = Services.create(Settings(data_dir=data, port=0))
    supervisor = svc.build_supervisor()
    seen_at_40: list[object] = []

    async def bridge(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        # What a bridge starting at level 40 sees.
        state = svc.get(PointStore).get("1001/sp")
        seen_at_40.append(None if state is None else (state.value, state.ts_ms))
        task_status.started()

    levels = svc.levels()
    levels = [
        Level(
            number=lv.number, name=lv.name, steps=lv.steps, services=[Service(name="b", run=bridge)]
        )
        if lv.number == 40
        else lv
        for lv in levels
        if lv.number != 60
    ]
    supervisor.levels = levels
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run)
        assert seen_at_40 == [(21.5, 1_000)]
        report = svc.get(Persistence).last_restore
        assert report is not None
        assert report.restored == 1
        manager = svc.get(Persistence).manager
        before = manager.processed
        svc.get(PointStore).set("1001/sp", 22.0, ts_ms=2_000)
        with trio.fail_after(5):
            await manager.wait_processed(before + 1)
        (history_store,) = svc.get(Persistence).history
        assert len(await history_store.samples("1001/sp", 0, 10_000)) == 2
        supervisor.request_shutdown()
    # Everything handed over was committed before the store closed.
    async with HistoryStore(data / "history.db").running() as history:
        assert [s.value for s in await history.samples("1001/sp", 0, 10_000)] == [21.5, 22.0]
