from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio.testing

from opencrate.clock import TrioClock
from opencrate.components.nodes.store import NodeStore
from opencrate.components.overrides.cleanup import CLEANUP_USER, NodeCleanup
from opencrate.components.overrides.store import OverrideStore
from opencrate.components.points.store import PointStore
from opencrate.model.node import Node, NodeType
from opencrate.runtime.bus import EventBus


@pytest.fixture
async def stores(
    tmp_path: Path, bus: EventBus, clock: TrioClock
) -> AsyncIterator[tuple[NodeStore, PointStore, OverrideStore]]:
    points = PointStore(bus, clock)
    nodes = NodeStore(tmp_path / "nodes.db", bus=bus, clock=clock)
    overrides = OverrideStore(tmp_path / "overrides.db", points=points, bus=bus, clock=clock)
    async with nodes.running(), overrides.running():
        yield nodes, points, overrides


async def test_deleting_a_point_ends_its_override_and_forgets_its_value(
    stores: tuple[NodeStore, PointStore, OverrideStore], bus: EventBus
) -> None:
    nodes, points, overrides = stores
    await nodes.create(Node(id="ahu", node_type=NodeType.EQUIP, dis="AHU"))
    for pid in ("ahu/sat", "ahu/rat"):
        await nodes.create(Node(id=pid, node_type=NodeType.POINT, dis=pid, parent_id="ahu"))
        points.set(pid, 20.0)
    await overrides.set("ahu/sat", 13.0, user="op")
    cleanup = NodeCleanup(bus, points=points, overrides=overrides)
    async with trio.open_nursery() as nursery:
        await nursery.start(cleanup.run)
        await nodes.delete("ahu/sat")
        await cleanup.wait_processed(1)
        assert cleanup.cleaned == 1
        nursery.cancel_scope.cancel()
    assert points.get("ahu/sat") is None
    assert overrides.get("ahu/sat") is None
    (ended,) = await overrides.history("ahu/sat")
    assert ended.ended_by == CLEANUP_USER
    # The sibling was not touched.
    state = points.get("ahu/rat")
    assert state is not None
    assert state.value == 20.0
