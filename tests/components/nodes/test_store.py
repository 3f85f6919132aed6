from __future__ import annotations

import random
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio

from opencrate.components.nodes.store import DanglingRef, NodeStore
from opencrate.errors import Conflict, InvalidInput, NotFound, StoreClosed
from opencrate.model.binding import ProtocolBinding
from opencrate.model.ids import point_id
from opencrate.model.node import Node, NodeCapabilities, NodeType
from opencrate.model.values import PointStatus, ValueKind
from opencrate.runtime.bus import EventBus
from opencrate.runtime.events import EntityCreated, EntityDeleted, EntityUpdated, Event, Lagged


def site(node_id: str = "main", **kw: Any) -> Node:
    return Node(id=node_id, node_type=NodeType.SITE, dis="Main Office", **kw)


def space(node_id: str, parent: str | None, **kw: Any) -> Node:
    return Node(id=node_id, node_type=NodeType.SPACE, dis=node_id, parent_id=parent, **kw)


def equip(device: int, parent: str, **kw: Any) -> Node:
    return Node(
        id=str(device), node_type=NodeType.EQUIP, dis=f"EQ-{device}", parent_id=parent, **kw
    )


def point(device: int, name: str, **kw: Any) -> Node:
    return Node(
        id=point_id(device, name),
        node_type=NodeType.POINT,
        dis=name,
        parent_id=str(device),
        tags={"point", *kw.pop("tags", ())},
        protocol_binding=ProtocolBinding.bacnet(device, "analog-input", int(name[-1])),
        capabilities=NodeCapabilities(readable=True, historizable=True),
        unit="°C",
        kind=ValueKind.NUMBER,
        refs={"equipRef": str(device), "siteRef": "main"},
        properties={"cov_increment": 0.5},
        **kw,
    )


def building() -> list[Node]:
    """The seed's example hierarchy."""
    return [
        site(),
        space("floor-1", "main"),
        space("floor-2", "main"),
        equip(1001, "floor-1", tags={"ahu", "equip"}),
        point(1001, "analog-input-1", tags={"air", "temp", "sensor", "discharge"}),
        point(1001, "analog-input-2", tags={"air", "temp", "sensor", "return"}),
        point(1001, "analog-output-1", tags={"damper", "cmd"}),
        equip(1002, "floor-1", tags={"vav", "equip"}),
        point(1002, "analog-input-1", tags={"zone", "air", "temp", "sensor"}),
    ]


@pytest.fixture
async def store(tmp_path: Path, bus: EventBus) -> AsyncIterator[NodeStore]:
    async with NodeStore(tmp_path / "nodes.db", bus=bus).running() as nodes:
        yield nodes


def drain(sub: Any) -> list[Event | Lagged]:
    items: list[Event | Lagged] = []
    while True:
        try:
            items.append(sub.receive_nowait())
        except trio.WouldBlock:
            return items


def raw_count(path: Path, table: str, node_id: str) -> int:
    conn = sqlite3.connect(path)
    try:
        column = "id" if table == "node" else "node_id"
        return int(
            conn.execute(f"SELECT count(*) FROM {table} WHERE {column} = ?", (node_id,)).fetchone()[
                0
            ]
        )
    finally:
        conn.close()


DETAIL_TABLES = ("node_tag", "node_ref", "node_property", "node_capability", "protocol_binding")


# -- schema and basic reads ---------------------------------------------------------------
async def test_schema_has_the_seed_tables(store: NodeStore) -> None:
    def tables(conn: sqlite3.Connection) -> set[str]:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    assert await store.read(tables) == {"node", *DETAIL_TABLES}


async def test_create_and_read_back_through_cache_and_sql(store: NodeStore) -> None:
    created = await store.create_many(building())
    sat = store.get("1001/analog-input-1")
    assert sat == created[4]
    assert sat.protocol_binding == ProtocolBinding.bacnet(1001, "analog-input", 1)
    assert sat.refs == {"equipRef": "1001", "siteRef": "main"}
    assert sat.properties == {"cov_increment": 0.5}
    assert sat.unit == "°C"
    assert sat.kind is ValueKind.NUMBER
    assert len(store) == 9
    assert [n.id for n in store.children(None)] == ["main"]
    assert [n.id for n in store.children("floor-1")] == ["1001", "1002"]
    assert store.children("1001/analog-input-1") == []
    assert store.get_or_none("nope") is None
    with pytest.raises(NotFound, match="nope"):
        store.get("nope")
    with pytest.raises(NotFound):
        store.children("nope")
    assert (await store.subtree("1001/analog-input-1")) == [sat]


async def test_find_by_type_tags_and_subtree(store: NodeStore) -> None:
    await store.create_many(building())
    temps = store.find(node_type=NodeType.POINT, tags=["air", "temp"])
    assert [n.id for n in temps] == [
        "1001/analog-input-1",
        "1001/analog-input-2",
        "1002/analog-input-1",
    ]
    assert [n.id for n in store.find(tags=["temp"], under="1002")] == ["1002/analog-input-1"]
    assert [n.id for n in store.find(node_type=NodeType.EQUIP)] == ["1001", "1002"]
    assert [n.id for n in store.find()] == [n.id for n in store.all()]
    with pytest.raises(NotFound):
        store.find(under="nope")
    with pytest.raises(InvalidInput):
        store.find(tags="temp")


async def test_subtree_cte_and_cache_agree(store: NodeStore) -> None:
    await store.create_many(building())
    for node in store.all():
        from_sql = await store.subtree(node.id)
        assert from_sql == store.find(under=node.id)
        assert {n.id for n in from_sql} == store.subtree_ids(node.id)
    whole = await store.subtree("main")
    # Depth first, children by id: every parent comes right before its first child.
    assert [n.id for n in whole] == [
        "main",
        "floor-1",
        "1001",
        "1001/analog-input-1",
        "1001/analog-input-2",
        "1001/analog-output-1",
        "1002",
        "1002/analog-input-1",
        "floor-2",
    ]
    with pytest.raises(NotFound):
        await store.subtree("nope")


async def test_cache_is_reloaded_from_disk_after_reopen(tmp_path: Path, bus: EventBus) -> None:
    path = tmp_path / "nodes.db"
    async with NodeStore(path, bus=bus).running() as nodes:
        await nodes.create_many(building())
        await nodes.update("1001", dis="AHU-1", properties={"model": "X200"})
        await nodes.move("1002", "floor-2")
        await nodes.delete("1001/analog-output-1")
        before = nodes.all()
    reopened = NodeStore(path, bus=bus)
    with pytest.raises(StoreClosed):
        reopened.get("main")
    async with reopened.running():
        assert reopened.all() == before
        assert reopened.get("1001").dis == "AHU-1"
        assert [n.id for n in reopened.children("floor-2")] == ["1002"]


async def test_value_and_status_are_not_stored(store: NodeStore) -> None:
    node = Node(
        id="p", node_type=NodeType.VIRTUAL_POINT, dis="Avg", value=21.5, status=PointStatus.OK
    )
    stored = await store.create(node)
    assert stored.value is None
    assert stored.status is PointStatus.UNKNOWN
    assert store.get("p") == stored


# -- create -------------------------------------------------------------------------------
async def test_create_many_accepts_children_before_parents(store: NodeStore) -> None:
    nodes = building()
    shuffled = list(reversed(nodes))
    created = await store.create_many(shuffled)
    assert [n.id for n in created] == [n.id for n in shuffled]  # the order given
    assert len(store) == len(nodes)
    assert [n.id for n in await store.subtree("main")] == [n.id for n in store.all()]


async def test_create_many_is_all_or_nothing(store: NodeStore, bus: EventBus) -> None:
    await store.create(site())
    with bus.subscribe(name="t") as sub:
        with pytest.raises(Conflict, match="'main' already exists"):
            await store.create_many([space("floor-1", "main"), site()])
        with pytest.raises(NotFound, match="'ghost'"):
            await store.create_many([space("floor-1", "main"), space("x", "ghost")])
        with pytest.raises(InvalidInput, match="appears twice"):
            await store.create_many([space("a", "main"), space("a", "main")])
        with pytest.raises(InvalidInput, match="cycle") as info:
            await store.create_many([space("a", "b"), space("b", "a"), space("c", "main")])
        assert info.value.detail["node_ids"] == ["a", "b"]
        with pytest.raises(InvalidInput, match="Node objects"):
            await store.create_many([{"id": "x"}])  # type: ignore[list-item]
        assert drain(sub) == []
    assert [n.id for n in store.all()] == ["main"]
    assert raw_count(store.path, "node", "floor-1") == 0
    assert await store.create_many([]) == []


async def test_create_refuses_existing_id_and_missing_parent(store: NodeStore) -> None:
    await store.create(site())
    with pytest.raises(Conflict):
        await store.create(site())
    with pytest.raises(NotFound, match="parent 'nowhere'"):
        await store.create(space("x", "nowhere"))
    assert len(store) == 1


# -- update -------------------------------------------------------------------------------
async def test_update_publishes_only_changed_fields_after_commit(
    store: NodeStore, bus: EventBus
) -> None:
    await store.create_many(building())
    with bus.subscribe(EntityUpdated, name="t") as sub:
        updated = await store.update(
            "1001/analog-input-1",
            dis="Discharge Air Temp",
            tags=["air", "temp", "sensor", "discharge", "point"],  # the same as before
            protocol_binding={
                "Bacnet": {"device_instance": 1001, "object_type": "ai", "object_instance": 9}
            },
        )
        (event,) = drain(sub)
        assert isinstance(event, EntityUpdated)
        assert event.entity_id == "1001/analog-input-1"
        assert event.changed_fields == ("dis", "protocol_binding")
        # Published after the commit: another connection already sees the change.
        conn = sqlite3.connect(store.path)
        try:
            assert conn.execute(
                "SELECT dis FROM node WHERE id = '1001/analog-input-1'"
            ).fetchone() == ("Discharge Air Temp",)
        finally:
            conn.close()
        # Nothing changed: nothing published.
        assert await store.update("1001/analog-input-1", dis="Discharge Air Temp") == updated
        assert drain(sub) == []
    assert store.get("1001/analog-input-1") == updated
    assert updated.protocol_binding is not None
    assert updated.protocol_binding.config["object_instance"] == 9
    assert (await store.subtree("1001/analog-input-1")) == [updated]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"id": "other"}, "id"),
        ({"parent_id": "floor-2"}, "parent_id"),
        ({"value": 3.0}, "value"),
        ({"status": "ok"}, "status"),
        ({"colour": "red"}, "colour"),
        ({"tags": "air"}, "tags"),
        ({"refs": {"equipRef": "a//b"}}, "refs.equipRef"),
        ({"protocol_binding": {"Modbus": {"device_id": "m1"}}}, "protocol_binding.register_type"),
        (
            {"protocol_binding": {"protocol": "bacnet", "config": {}}},
            "protocol_binding.device_instance",
        ),
        ({"node_type": "equip"}, "unit"),  # an equip cannot keep the point's unit
        ({"dis": "", "tags": ["new"]}, "dis"),
    ],
)
async def test_bad_update_names_the_field_and_stores_nothing(
    store: NodeStore, bus: EventBus, changes: dict[str, Any], field: str
) -> None:
    await store.create_many(building())
    before = store.get("1001/analog-input-1")
    with bus.subscribe(name="t") as sub:
        with pytest.raises(InvalidInput) as info:
            await store.update("1001/analog-input-1", **changes)
        assert drain(sub) == []
    assert info.value.detail["field"] == field, info.value
    assert store.get("1001/analog-input-1") == before
    assert (await store.subtree("1001/analog-input-1")) == [before]


async def test_unknown_and_malformed_ids(store: NodeStore) -> None:
    await store.create(site())
    with pytest.raises(NotFound):
        await store.update("ghost", dis="x")
    for call in (
        store.update("main/", dis="x"),
        store.delete("a//b"),
        store.move(" main", None),
    ):
        with pytest.raises(InvalidInput, match="node id"):
            await call
    assert store.all() == [site()]


# -- move ---------------------------------------------------------------------------------
async def test_move_takes_the_subtree_along(store: NodeStore, bus: EventBus) -> None:
    await store.create_many(building())
    with bus.subscribe(name="t") as sub:
        moved = await store.move("1001", "floor-2")
        events = drain(sub)
    assert moved.parent_id == "floor-2"
    assert [type(e) for e in events] == [EntityUpdated]
    assert events[0].changed_fields == ("parent_id",)  # type: ignore[union-attr]
    expected = {
        "floor-2",
        "1001",
        "1001/analog-input-1",
        "1001/analog-input-2",
        "1001/analog-output-1",
    }
    assert store.subtree_ids("floor-2") == expected
    assert {n.id for n in await store.subtree("floor-2")} == expected
    assert store.subtree_ids("floor-1") == {"floor-1", "1002", "1002/analog-input-1"}
    # To the root level and back.
    await store.move("floor-2", None)
    assert [n.id for n in store.children(None)] == ["floor-2", "main"]
    await store.move("floor-2", "main")
    assert [n.id for n in store.children(None)] == ["main"]


async def test_move_refuses_cycles_and_missing_parents(store: NodeStore, bus: EventBus) -> None:
    await store.create_many(building())
    before = store.all()
    with bus.subscribe(name="t") as sub:
        with pytest.raises(Conflict, match="inside its own subtree"):
            await store.move("floor-1", "1001/analog-input-1")
        with pytest.raises(Conflict):
            await store.move("floor-1", "floor-1")
        with pytest.raises(NotFound):
            await store.move("floor-1", "ghost")
        with pytest.raises(NotFound):
            await store.move("ghost", "main")
        with pytest.raises(InvalidInput):
            await store.move("floor-1", "bad//id")
        # Moving to the current parent is a no-op and says nothing.
        assert (await store.move("floor-1", "main")).parent_id == "main"
        assert drain(sub) == []
    assert store.all() == before


# -- delete -------------------------------------------------------------------------------
async def test_delete_with_children_is_refused_unless_recursive(
    store: NodeStore, bus: EventBus
) -> None:
    await store.create_many(building())
    with bus.subscribe(name="t") as sub:
        with pytest.raises(Conflict, match="3 descendant"):
            await store.delete("1001")
        assert drain(sub) == []
        assert len(store) == 9
        deleted = await store.delete("floor-1", recursive=True)
        events = drain(sub)
    assert deleted[-1] == "floor-1"
    for node_id in deleted:  # every node comes before its parent
        parent = next(n.parent_id for n in building() if n.id == node_id)
        if parent in deleted:
            assert deleted.index(parent) > deleted.index(node_id)
    assert sorted(deleted) == sorted(
        [
            "floor-1",
            "1001",
            "1001/analog-input-1",
            "1001/analog-input-2",
            "1001/analog-output-1",
            "1002",
            "1002/analog-input-1",
        ]
    )
    assert events == [EntityDeleted(ts_ms=events[0].ts_ms, entity_id=i) for i in deleted]  # type: ignore[union-attr]
    assert [n.id for n in store.all()] == ["main", "floor-2"]
    assert [n.id for n in await store.subtree("main")] == ["main", "floor-2"]
    with pytest.raises(NotFound):
        await store.delete("floor-1")


async def test_delete_removes_detail_rows_by_cascade(store: NodeStore) -> None:
    await store.create_many(building())
    sat = "1001/analog-input-1"
    assert all(raw_count(store.path, t, sat) > 0 for t in DETAIL_TABLES)
    assert await store.delete(sat) == [sat]
    assert raw_count(store.path, "node", sat) == 0
    assert {t: raw_count(store.path, t, sat) for t in DETAIL_TABLES} == dict.fromkeys(
        DETAIL_TABLES, 0
    )


async def test_refs_to_deleted_nodes_are_kept_and_reported(store: NodeStore) -> None:
    await store.create_many(building())
    await store.create(space("room-9", "floor-2", refs={"ahuRef": "1001"}))
    assert store.dangling_refs() == []
    await store.delete("1001", recursive=True)
    assert store.dangling_refs() == [DanglingRef(node_id="room-9", name="ahuRef", target_id="1001")]
    assert [n.id for n in store.referrers("1001")] == ["room-9"]
    # Re-creating the node (same deterministic id) heals the ref.
    await store.create(equip(1001, "floor-1"))
    assert store.dangling_refs() == []


# -- events and the cache around commits ------------------------------------------------------
async def test_create_events_come_after_commit_parents_first(
    store: NodeStore, bus: EventBus
) -> None:
    with bus.subscribe(EntityCreated, name="t") as sub:
        await store.create_many(list(reversed(building())))
        events = drain(sub)
    ids = [e.entity_id for e in events]  # type: ignore[union-attr]
    assert (
        ids.index("main")
        < ids.index("floor-1")
        < ids.index("1001")
        < ids.index("1001/analog-input-1")
    )
    assert {e.entity_type for e in events} == {"site", "space", "equip", "point"}  # type: ignore[union-attr]
    assert all(raw_count(store.path, "node", i) == 1 for i in ids)


async def test_grouped_commands_see_each_other_and_failures_leave_cache_alone(
    store: NodeStore,
) -> None:
    await store.create_many(building())
    results: dict[str, object] = {}

    async def run(name: str, coro: Any) -> None:
        try:
            results[name] = await coro
        except Exception as exc:
            results[name] = exc

    async with trio.open_nursery() as nursery:
        # Queued together: one batch, one transaction, one savepoint each.
        nursery.start_soon(run, "dis", store.update("1001", dis="AHU-1"))
        nursery.start_soon(run, "tags", store.update("1001", tags=["ahu", "equip", "hot"]))
        nursery.start_soon(run, "bad", store.create(space("x", "ghost")))
        nursery.start_soon(run, "move", store.move("1001", "floor-2"))
    assert isinstance(results["bad"], NotFound)
    ahu = store.get("1001")
    # Each update read the other's result inside the transaction: nothing lost.
    assert (ahu.dis, ahu.tags, ahu.parent_id) == (
        "AHU-1",
        frozenset({"ahu", "equip", "hot"}),
        "floor-2",
    )
    assert store.get_or_none("x") is None
    assert (await store.subtree("1001"))[0] == ahu
    stats = store.statistics()
    assert (stats.commands_failed, stats.max_batch_size) == (1, 4)


async def test_cancelled_caller_does_not_leave_cache_behind(store: NodeStore) -> None:
    await store.create(site())
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(store.create, space("floor-1", "main"))
            await trio.testing.wait_all_tasks_blocked()
            scope.cancel()
    # The command was queued before the cancel, so it runs and commits; the
    # next round trip through the actor guarantees it has finished.
    await store.update("main", dis="HQ")
    on_disk = await store.subtree("main")
    assert [n.id for n in on_disk] == [n.id for n in store.all()]


async def test_random_operations_keep_cache_and_database_identical(
    tmp_path: Path, bus: EventBus
) -> None:
    rng = random.Random(20261123)
    path = tmp_path / "nodes.db"
    async with NodeStore(path, bus=bus).running() as nodes:
        await nodes.create(site("root"))
        for i in range(150):
            ids = [n.id for n in nodes.all()]
            target = rng.choice(ids)
            op = rng.random()
            try:
                if op < 0.45:
                    await nodes.create(space(f"n{i}", rng.choice(ids), tags={f"t{i % 3}"}))
                elif op < 0.7:
                    await nodes.move(target, rng.choice([*ids, None]))
                elif op < 0.85:
                    await nodes.update(target, tags={f"t{rng.randrange(3)}"}, dis=f"d{i}")
                elif target != "root":  # keep something to grow from
                    await nodes.delete(target, recursive=rng.random() < 0.5)
            except (Conflict, NotFound):
                pass
            if i % 25 == 0:
                for root in nodes.children(None):
                    assert await nodes.subtree(root.id) == nodes.find(under=root.id)
        cached = nodes.all()
    async with NodeStore(path, bus=bus).running() as reopened:
        assert reopened.all() == cached
        assert len(cached) > 10
