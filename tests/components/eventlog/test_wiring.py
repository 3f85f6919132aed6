"""The event log inside a running OpenCrate: store, subscriber at level 30, purge at 50."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from opencrate.app import Services
from opencrate.clock import TrioClock
from opencrate.components.eventlog.engine import EventLogRecorder
from opencrate.components.eventlog.records import EventLevel, EventQuery
from opencrate.components.eventlog.store import EventLogStore
from opencrate.config import Settings
from opencrate.errors import ConfigError
from opencrate.runtime.events import DeviceDown, EntityDeleted, StatusChanged
from tests.harness import supervised

T0 = 1_700_000_000_000


async def test_running_services_record_bus_events_by_the_settings_rules(
    tmp_path: Path, clock: TrioClock
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        port=0,
        sections={"events": {"rules": {"DeviceDown": {"level": "fatal"}}}},
    )
    services = Services.create(settings, clock=clock)
    supervisor = services.build_supervisor()
    recorder = supervised(supervisor, "event-log", EventLogRecorder)
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run)
        levels = {s.name: s.level for s in supervisor.statistics().services}
        bus = services.bus
        before = recorder.processed
        bus.publish(DeviceDown(ts_ms=T0, device_key="1002", protocol="modbus", error="timeout"))
        bus.publish(
            StatusChanged(ts_ms=T0, node_id="1001/ai-1", old_status="ok", new_status="fault")
        )
        bus.publish(EntityDeleted(ts_ms=T0 + 1, entity_id="1001"))
        with trio.fail_after(10):
            await recorder.wait_processed(before + 3)
        rows = [e async for e in services.get(EventLogStore).iter_events(EventQuery())]
        tables = await services.get(EventLogStore).tables()
        supervisor.request_shutdown()

    assert levels["event-log"] == 30
    assert levels["event-purge"] == 50
    assert [(e.context, e.name, e.level) for e in rows] == [
        ("1001", "EntityDeleted", EventLevel.NOTICE),
        ("1002", "DeviceDown", EventLevel.FATAL),
    ]
    assert [t.device for t in tables if t.device] == []  # 1001's change table was dropped
    assert (tmp_path / "data" / "events.db").exists()


def test_bad_events_section_fails_start_up_naming_the_key(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, sections={"events": {"purge_batch": "lots"}})
    services = Services.create(settings)
    with pytest.raises(ConfigError, match=r"events\.purge_batch"):
        services.levels()
