from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio

from opencrate.components.entities.store import Entity, EntityStore, ImportOutcome, entity_to_node
from opencrate.components.nodes.store import NodeStore
from opencrate.errors import Conflict, InvalidInput, NotFound
from opencrate.model.binding import ProtocolBinding
from opencrate.model.node import NodeCapabilities, NodeType
from opencrate.runtime.bus import EventBus
from opencrate.runtime.events import EntityCreated, EntityDeleted, EntityUpdated, Event, Lagged


@pytest.fixture
async def stores(tmp_path: Path, bus: EventBus) -> AsyncIterator[tuple[EntityStore, NodeStore]]:
    async with (
        EntityStore(tmp_path / "entities.db", bus=bus).running() as entities,
        NodeStore(tmp_path / "nodes.db", bus=bus).running() as nodes,
    ):
        yield entities, nodes


def drain(sub: Any) -> list[Event | Lagged]:
    items: list[Event | Lagged] = []
    while True:
        try:
            items.append(sub.receive_nowait())
        except trio.WouldBlock:
            return items


LEGACY: list[tuple[str, str, dict[str, Any]]] = [
    ("hq", "Site", {"name": "Main Office", "tags": ["site"], "geoCity": "Oslo"}),
    ("floor-1", "Floor", {"name": "Floor 1", "parent": "hq", "siteRef": "hq"}),
    (
        "1001",
        "Equipment",
        {
            "name": "AHU-1",
            "parent": "floor-1",
            "tags": {"ahu": "m:", "equip": "m:"},
            "siteRef": "hq",
        },
    ),
    (
        "1001/analog-input-1",
        "Point",
        {
            "id": "1001/analog-input-1",
            "dis": "Supply Air Temp",
            "parent_id": "1001",
            "tags": ["air", "temp", "sensor"],
            "equipRef": "1001",
            "binding": {
                "Bacnet": {
                    "device_instance": 1001,
                    "object_type": "analog-input",
                    "object_instance": 1,
                }
            },
            "unit": "°C",
            "kind": "number",
            "capabilities": {"readable": True, "historizable": True},
            "value": 12.5,
            "cov_increment": 0.2,
        },
    ),
    (
        "meter-1/kw",
        "point",
        {
            "name": "Demand",
            "parent": "1001",
            "binding": {
                "Modbus": {
                    "device_id": "meter-1",
                    "register_type": "holding",
                    "address": 100,
                    "data_type": "float32",
                }
            },
        },
    ),
    ("avg-temp", "VirtualPoint", {"name": "Avg Temp", "parent": "floor-1", "binding": "Virtual"}),
]


async def load_legacy(
    entities: EntityStore, records: list[tuple[str, str, dict[str, Any]]] = LEGACY
) -> None:
    for entity_id, entity_type, data in records:
        await entities.create(entity_id, entity_type, data)


# -- records ------------------------------------------------------------------------------
async def test_crud_publishes_events_after_commit(
    stores: tuple[EntityStore, NodeStore], bus: EventBus
) -> None:
    entities, _ = stores
    with bus.subscribe(name="t") as sub:
        created = await entities.create("e1", "Point", {"name": "SAT", "tags": ["air"]})
        assert await entities.get("e1") == created
        updated = await entities.update("e1", data={"name": "DAT", "tags": ["air"], "unit": "°C"})
        same = await entities.update("e1", data={"name": "DAT", "tags": ["air"], "unit": "°C"})
        retyped = await entities.update("e1", entity_type="VirtualPoint")
        await entities.delete("e1")
        events = drain(sub)
    assert updated.data == {"name": "DAT", "tags": ["air"], "unit": "°C"}
    assert same == updated
    assert retyped.entity_type == "VirtualPoint"
    assert [type(e) for e in events] == [EntityCreated, EntityUpdated, EntityUpdated, EntityDeleted]
    assert events[0] == EntityCreated(ts_ms=events[0].ts_ms, entity_id="e1", entity_type="Point")  # type: ignore[union-attr]
    assert events[1].changed_fields == ("name", "unit")  # type: ignore[union-attr]
    assert events[2].changed_fields == ("entity_type",)  # type: ignore[union-attr]
    with pytest.raises(NotFound):
        await entities.get("e1")
    with pytest.raises(NotFound):
        await entities.delete("e1")
    with pytest.raises(NotFound):
        await entities.update("e1", data={})


async def test_update_dropping_a_null_valued_key_is_a_change(
    stores: tuple[EntityStore, NodeStore], bus: EventBus
) -> None:
    # {"unit": null} and {} differ: the key is gone (a .get() comparison saw None twice).
    entities, _ = stores
    await entities.create("e1", "Point", {"name": "SAT", "unit": None})
    with bus.subscribe(EntityUpdated, name="t") as sub:
        updated = await entities.update("e1", data={"name": "SAT"})
        events = drain(sub)
    assert updated.data == {"name": "SAT"}
    assert (await entities.get("e1")).data == {"name": "SAT"}
    assert [e.changed_fields for e in events] == [("unit",)]  # type: ignore[union-attr]


async def test_list_filters_by_type_and_sorts_by_id(stores: tuple[EntityStore, NodeStore]) -> None:
    entities, _ = stores
    await load_legacy(entities)
    assert [e.id for e in await entities.list()] == sorted(r[0] for r in LEGACY)
    assert [e.id for e in await entities.list("Point")] == ["1001/analog-input-1"]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("", "Point", {}), "entity id"),
        (("a//b", "Point", {}), "entity id"),
        (("e2", "", {}), "entity_type"),
        (("e2", "Point", ["not", "an", "object"]), "data"),
        (("e2", "Point", {"x": float("nan")}), "data"),
    ],
)
async def test_bad_records_are_refused_and_nothing_is_stored(
    stores: tuple[EntityStore, NodeStore], bus: EventBus, args: tuple[Any, ...], field: str
) -> None:
    entities, _ = stores
    await entities.create("e1", "Point", {"name": "kept"})
    with bus.subscribe(name="t") as sub:
        with pytest.raises(InvalidInput) as info:
            await entities.create(*args)
        with pytest.raises(Conflict):
            await entities.create("e1", "Point", {"name": "other"})
        with pytest.raises(InvalidInput):
            await entities.update("e1", data={"x": {1, 2}})
        assert drain(sub) == []
    assert info.value.detail["field"] == field
    assert [(e.id, dict(e.data)) for e in await entities.list()] == [("e1", {"name": "kept"})]


# -- conversion ---------------------------------------------------------------------------
def test_entity_to_node_maps_legacy_fields_and_keeps_the_rest_as_properties() -> None:
    _, entity_type, data = LEGACY[3]
    entity = Entity(id=LEGACY[3][0], entity_type=entity_type, data=data, created_ms=0, updated_ms=0)
    node = entity_to_node(entity)
    assert node.node_type is NodeType.POINT
    assert node.dis == "Supply Air Temp"
    assert node.parent_id == "1001"
    assert node.protocol_binding == ProtocolBinding.bacnet(1001, "analog-input", 1)
    assert node.refs == {"equipRef": "1001"}
    assert node.capabilities == NodeCapabilities(readable=True, historizable=True)
    assert node.properties == {"cov_increment": 0.2}  # "value" is runtime state: dropped
    assert node.value is None


@pytest.mark.parametrize(
    ("entity_type", "data", "reason"),
    [
        ("Chiller-Plant", {}, "unknown entity type"),
        ("Point", {"binding": {"Bacnet": {"device_instance": 1}}}, "object_type"),
        ("Point", {"tags": "air temp"}, "tags"),
        ("Site", {"unit": "°C"}, "only allowed on points"),
        ("Point", {"id": "other"}, "different id"),
    ],
)
def test_entity_to_node_says_why_it_cannot(
    entity_type: str, data: dict[str, Any], reason: str
) -> None:
    entity = Entity(id="x", entity_type=entity_type, data=data, created_ms=0, updated_ms=0)
    with pytest.raises(InvalidInput, match=reason):
        entity_to_node(entity)


# -- the one-shot import ----------------------------------------------------------------------
async def test_import_runs_once_and_says_so_the_second_time(
    stores: tuple[EntityStore, NodeStore], bus: EventBus
) -> None:
    entities, nodes = stores
    await load_legacy(entities)
    report = await entities.import_into(nodes)
    assert report.outcome is ImportOutcome.IMPORTED
    assert sorted(report.imported) == sorted(r[0] for r in LEGACY)
    assert report.failed == ()
    assert "6 imported" in str(report)
    assert [n.id for n in await nodes.subtree("hq")] == [
        "hq",
        "floor-1",
        "1001",
        "1001/analog-input-1",
        "meter-1/kw",
        "avg-temp",
    ]
    assert nodes.get("floor-1").tags == {"floor"}
    assert nodes.get("floor-1").refs == {"siteRef": "hq"}
    assert nodes.get("hq").properties == {"geoCity": "Oslo"}
    assert nodes.get("1001").tags == {"ahu", "equip"}
    assert nodes.get("avg-temp").protocol_binding == ProtocolBinding.virtual_binding()
    binding = nodes.get("meter-1/kw").protocol_binding
    assert binding is not None
    assert binding.protocol == "modbus"
    assert binding.config["address"] == 100
    assert "byte_order" not in binding.config  # optional; the bridge defaults it

    # Legacy records added later are not imported: the import is one-shot.
    await entities.create("late", "Site", {"name": "Late"})
    with bus.subscribe(name="t") as sub:
        again = await entities.import_into(nodes)
        assert drain(sub) == []
    assert again.outcome is ImportOutcome.ALREADY_DONE
    assert "already imported; nothing done" in str(again)
    assert again.imported == report.imported
    assert again.at_ms == report.at_ms
    assert nodes.get_or_none("late") is None
    assert len(nodes) == len(LEGACY)


async def test_import_record_survives_reopen(tmp_path: Path, bus: EventBus) -> None:
    async with (
        EntityStore(tmp_path / "entities.db", bus=bus).running() as entities,
        NodeStore(tmp_path / "nodes.db", bus=bus).running() as nodes,
    ):
        await load_legacy(entities)
        first = await entities.import_into(nodes)
    async with (
        EntityStore(tmp_path / "entities.db", bus=bus).running() as entities,
        NodeStore(tmp_path / "nodes.db", bus=bus).running() as nodes,
    ):
        second = await entities.import_into(nodes)
        assert second.outcome is ImportOutcome.ALREADY_DONE
        assert second.imported == first.imported
        assert len(nodes) == len(LEGACY)


BAD: list[tuple[str, str, dict[str, Any]]] = [
    ("hq", "Site", {"name": "HQ"}),
    ("floor-1", "Floor", {"parent": "hq"}),
    ("broken", "Point", {"parent": "floor-1", "binding": {"Modbus": {"device_id": "m"}}}),
    ("weird", "Spaceship", {"parent": "hq"}),
    ("under-weird", "Point", {"parent": "weird"}),
    ("orphan", "Point", {"parent": "nowhere"}),
]


async def test_bad_records_refuse_the_import_and_nothing_is_half_imported(
    stores: tuple[EntityStore, NodeStore],
) -> None:
    entities, nodes = stores
    await load_legacy(entities, BAD)
    report = await entities.import_into(nodes)
    assert report.outcome is ImportOutcome.REFUSED
    reasons = {f.entity_id: f.reason for f in report.failed}
    assert set(reasons) == {"broken", "weird", "under-weird", "orphan"}
    assert "register_type" in reasons["broken"]
    assert "unknown entity type 'Spaceship'" in reasons["weird"]
    assert reasons["under-weird"] == "its parent 'weird' was not imported"
    assert reasons["orphan"] == "its parent 'nowhere' does not exist"
    assert len(nodes) == 0
    # Not recorded as done: fix the records and run it again.
    for entity_id in ("broken", "weird", "under-weird", "orphan"):
        await entities.delete(entity_id)
    fixed = await entities.import_into(nodes)
    assert fixed.outcome is ImportOutcome.IMPORTED
    assert sorted(fixed.imported) == ["floor-1", "hq"]


async def test_skip_invalid_imports_the_rest_and_records_the_failures(
    stores: tuple[EntityStore, NodeStore],
) -> None:
    entities, nodes = stores
    await load_legacy(entities, BAD)
    report = await entities.import_into(nodes, skip_invalid=True)
    assert report.outcome is ImportOutcome.IMPORTED
    assert sorted(report.imported) == ["floor-1", "hq"]
    assert {f.entity_id for f in report.failed} == {"broken", "weird", "under-weird", "orphan"}
    assert sorted(n.id for n in nodes.all()) == ["floor-1", "hq"]
    again = await entities.import_into(nodes, skip_invalid=True)
    assert again.outcome is ImportOutcome.ALREADY_DONE
    assert again.failed == report.failed


async def test_import_resumes_when_nodes_were_committed_but_not_recorded(
    stores: tuple[EntityStore, NodeStore],
) -> None:
    entities, nodes = stores
    await load_legacy(entities)
    # As if an earlier run created the nodes and then died before writing meta.
    await nodes.create_many(
        [entity_to_node(e) for e in await entities.list() if e.id in ("hq", "floor-1")]
    )
    report = await entities.import_into(nodes)
    assert report.outcome is ImportOutcome.IMPORTED
    assert sorted(report.already_present) == ["floor-1", "hq"]
    assert len(report.imported) == len(LEGACY) - 2
    assert len(nodes) == len(LEGACY)


async def test_a_different_existing_node_is_a_failure_not_an_overwrite(
    stores: tuple[EntityStore, NodeStore],
) -> None:
    entities, nodes = stores
    await load_legacy(entities, LEGACY[:2])
    await nodes.create(
        entity_to_node(
            Entity(id="hq", entity_type="Site", data={"name": "Other"}, created_ms=0, updated_ms=0)
        )
    )
    report = await entities.import_into(nodes)
    assert report.outcome is ImportOutcome.REFUSED
    assert {f.entity_id: f.reason for f in report.failed} == {
        "hq": "a different node with this id already exists",
    }
    assert nodes.get("hq").dis == "Other"
    assert len(nodes) == 1


async def test_meta_table_holds_the_record(stores: tuple[EntityStore, NodeStore]) -> None:
    entities, nodes = stores
    await entities.import_into(nodes)  # nothing to import still counts as done
    conn = sqlite3.connect(entities.path)
    try:
        (count,) = conn.execute("SELECT count(*) FROM meta WHERE key = 'node_import'").fetchone()
    finally:
        conn.close()
    assert count == 1
