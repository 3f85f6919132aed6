"""``GET /api/health``: every store read the same way, with its own figures in ``detail``."""

from __future__ import annotations

from pathlib import Path

import attrs
from quart.typing import TestClientProtocol as Client

from opencrate.app import Services
from opencrate.components.alarms.store import AlarmStore
from opencrate.components.eventlog.store import EventLogStore
from opencrate.components.nodes.store import NodeStore
from opencrate.runtime.bus import EventBus
from tests.harness import build_tree


async def test_health_has_each_stores_figures_and_its_detail(
    client: Client, services: Services
) -> None:
    await build_tree(services)
    await services.get(AlarmStore).raise_alarm("2001/zat", "high", "major", "Zone too warm")
    body = await (await client.get("/api/health")).get_json()

    stores = body["stores"]
    assert set(stores) == {s.name for s in services.stores()}
    for store in services.stores():
        entry = stores[store.name]
        assert {"schema_version", "queue_depth", "commands_served", "closed"} <= set(entry)
        detail = store.statistics().detail
        if detail is None:
            assert "detail" not in entry
        else:
            assert set(entry["detail"]) == set(attrs.asdict(detail))
    assert stores["alarms"]["detail"]["open"] == 1
    assert stores["alarms"]["detail"]["raised_events"] == 1
    assert {"cached", "dirty", "flushes"} <= set(stores["properties"]["detail"])
    assert {"points", "samples_written"} <= set(stores["history"]["detail"])
    assert stores["nodes"]["detail"]["nodes"] == len(services.get(NodeStore).all())
    assert stores["overrides"]["detail"] == {"active": 0}
    assert {"tables", "last_seq"} == set(stores["events"]["detail"])


async def test_every_store_has_one_statistics_with_a_typed_detail(services: Services) -> None:
    for store in services.stores():
        stats = store.statistics()
        assert stats.name == store.name
        assert stats.detail is None or attrs.has(type(stats.detail))
        for old in ("alarm_statistics", "property_statistics", "history_statistics"):
            assert not hasattr(store, old)


def test_statistics_of_stores_not_yet_open(tmp_path: Path, bus: EventBus) -> None:
    # The health route may run while level 10 is still opening the stores.
    assert NodeStore(tmp_path / "nodes.db", bus=bus).statistics().detail.nodes == 0
    stats = EventLogStore(tmp_path / "events.db").statistics()
    assert (stats.schema_version, stats.detail.tables, stats.detail.last_seq) == (0, 0, 0)
