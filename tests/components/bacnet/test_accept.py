from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from opencrate.clock import TrioClock
from opencrate.components.bacnet.accept import accept_device, ignore_device
from opencrate.components.bacnet.records import DeviceState, DiscoveredPoint
from opencrate.components.bacnet.store import DiscoveryStore
from opencrate.components.nodes.store import NodeStore
from opencrate.errors import Conflict, InvalidInput, NotFound
from opencrate.model.node import Node, NodeType
from opencrate.model.values import ValueKind
from opencrate.runtime.bus import EventBus
from opencrate.runtime.events import DeviceAccepted, EntityCreated


@pytest.fixture
async def stores(
    tmp_path: Path, bus: EventBus, clock: TrioClock
) -> AsyncIterator[tuple[DiscoveryStore, NodeStore]]:
    discovery = DiscoveryStore(tmp_path / "discovery.db", clock=clock)
    nodes = NodeStore(tmp_path / "nodes.db", bus=bus, clock=clock)
    async with discovery.running(), nodes.running():
        await nodes.create_many(
            [
                Node(id="main-office", node_type=NodeType.SITE, dis="Main Office", tags={"site"}),
                Node(
                    id="floor-1",
                    node_type=NodeType.SPACE,
                    dis="Floor 1",
                    parent_id="main-office",
                    tags={"space", "floor"},
                ),
            ]
        )
        yield discovery, nodes


def point(object_type: str, instance: int, name: str | None, **kw: object) -> DiscoveredPoint:
    return DiscoveredPoint(
        device_key="1001",
        object_type=object_type,
        object_instance=instance,
        object_name=name,
        **kw,  # type: ignore[arg-type]
    )


OBJECTS = [
    point("device", 1001, "AHU-1 controller"),
    point("analog-input", 1, "Supply Air Temp", units="degrees-celsius", description="SAT"),
    point("analog-output", 1, "Damper Position", units="percent", writable=True),
    point("binary-value", 1, "Fan Enable", writable=True),
    point("binary-input", 2, "Fan Status", writable=True),  # an input is never commanded
    point("multi-state-value", 3, "Mode", writable=False),
    point("trend-log", 1, "SAT log"),
]


async def discovered(store: DiscoveryStore, objects: list[DiscoveredPoint] = OBJECTS) -> None:
    await store.record_i_am(1001, address="10.0.0.5", network_id="ip-main", vendor_id=15)
    await store.describe("1001", vendor_name="Acme", model_name="AHU-ctl", device_name="AHU-1")
    await store.replace_points("1001", objects)


async def test_accept_creates_equip_and_points_tagged_bound_and_parented(
    stores: tuple[DiscoveryStore, NodeStore], bus: EventBus, clock: TrioClock
) -> None:
    discovery, nodes = stores
    await discovered(discovery)
    with bus.subscribe(DeviceAccepted, EntityCreated) as events:
        created = await accept_device(
            discovery, nodes, "1001", bus=bus, clock=clock, parent_id="floor-1"
        )
        received = [events.receive_nowait() for _ in range(len(created) + 1)]
        with pytest.raises(trio.WouldBlock):
            events.receive_nowait()

    assert created == [
        "1001",
        "1001/analog-input-1",
        "1001/analog-output-1",
        "1001/binary-input-2",
        "1001/binary-value-1",
        "1001/multi-state-value-3",
    ]
    assert [e.entity_id for e in received if isinstance(e, EntityCreated)] == created
    accepted = received[-1]
    assert isinstance(accepted, DeviceAccepted)
    assert accepted.device_key == "1001"
    assert accepted.created_node_ids == tuple(created)

    equip = nodes.get("1001")
    assert equip.node_type is NodeType.EQUIP
    assert equip.dis == "AHU-1"
    assert equip.parent_id == "floor-1"
    assert {"equip", "ahu", "hvac"} <= equip.tags
    assert dict(equip.refs) == {"siteRef": "main-office", "spaceRef": "floor-1"}
    assert dict(equip.properties) == {"vendor": "Acme", "model": "AHU-ctl"}
    assert equip.protocol_binding is not None
    assert equip.protocol_binding.to_dict() == {
        "protocol": "bacnet",
        "config": {
            "device_instance": 1001,
            "object_type": "device",
            "object_instance": 1001,
            "network_id": "ip-main",
        },
    }

    sat = nodes.get("1001/analog-input-1")
    assert sat.node_type is NodeType.POINT
    assert sat.parent_id == "1001"
    assert sat.dis == "Supply Air Temp"
    assert sat.kind is ValueKind.NUMBER
    assert sat.unit == "°C"
    assert {"point", "sensor", "air", "temp", "supply", "his"} <= sat.tags
    assert "writable" not in sat.tags
    assert dict(sat.refs) == {"siteRef": "main-office", "spaceRef": "floor-1", "equipRef": "1001"}
    assert dict(sat.properties) == {"description": "SAT"}
    assert sat.protocol_binding is not None
    assert sat.protocol_binding.to_dict() == {
        "protocol": "bacnet",
        "config": {
            "device_instance": 1001,
            "object_type": "analog-input",
            "object_instance": 1,
            "network_id": "ip-main",
        },
    }

    damper = nodes.get("1001/analog-output-1")
    assert damper.unit == "%"
    assert {"cmd", "writable"} <= damper.tags
    assert damper.capabilities.writable
    assert nodes.get("1001/binary-value-1").capabilities.writable
    assert nodes.get("1001/binary-value-1").kind is ValueKind.BOOL
    assert not nodes.get("1001/binary-input-2").capabilities.writable
    mode = nodes.get("1001/multi-state-value-3")
    assert mode.kind is ValueKind.ENUM
    assert not mode.capabilities.writable
    # The device object and the trend log are no points.
    assert nodes.get_or_none("1001/device-1001") is None
    assert nodes.get_or_none("1001/trend-log-1") is None

    device = await discovery.get("1001")
    assert device.state is DeviceState.ACCEPTED
    assert device.node_ids == tuple(created)
    assert device.accepted_ms is not None


async def test_reaccept_keeps_existing_nodes_and_adds_only_new_objects(
    stores: tuple[DiscoveryStore, NodeStore], bus: EventBus, clock: TrioClock
) -> None:
    discovery, nodes = stores
    await discovered(discovery)
    first = await accept_device(discovery, nodes, "1001", bus=bus, clock=clock)
    assert nodes.get("1001").parent_id is None  # no place given: a root
    # The operator renames a point; the device grows an object.
    await nodes.update("1001/analog-input-1", dis="SAT (renamed)")
    await discovery.mark_object_list_stale("1001", len(OBJECTS) + 1)
    grown = [*OBJECTS, point("analog-input", 7, "Return Air Temp", units="degrees-celsius")]
    await discovery.replace_points("1001", grown)

    with bus.subscribe(DeviceAccepted) as events:
        again = await accept_device(discovery, nodes, "1001", bus=bus, clock=clock)
        accepted = events.receive_nowait()
    assert again == ["1001/analog-input-7"]
    assert isinstance(accepted, DeviceAccepted)
    assert accepted.created_node_ids == ("1001/analog-input-7",)
    assert nodes.get("1001/analog-input-1").dis == "SAT (renamed)"
    assert nodes.get("1001/analog-input-7").refs["equipRef"] == "1001"
    device = await discovery.get("1001")
    assert not device.object_list_stale
    assert set(device.node_ids) == {*first, "1001/analog-input-7"}

    # Nothing new: nothing created, the event says so.
    assert await accept_device(discovery, nodes, "1001", bus=bus, clock=clock) == []

    # An object gone from the list: its node stays, and in node_ids while it exists.
    await discovery.replace_points("1001", OBJECTS[:2])
    await accept_device(discovery, nodes, "1001", bus=bus, clock=clock)
    assert "1001/analog-input-7" in (await discovery.get("1001")).node_ids
    await nodes.delete("1001/analog-input-7")
    await accept_device(discovery, nodes, "1001", bus=bus, clock=clock)
    assert "1001/analog-input-7" not in (await discovery.get("1001")).node_ids


async def test_accept_refuses_bad_targets_and_creates_nothing(
    stores: tuple[DiscoveryStore, NodeStore], bus: EventBus, clock: TrioClock
) -> None:
    discovery, nodes = stores
    with pytest.raises(NotFound, match="no discovered device '1001'"):
        await accept_device(discovery, nodes, "1001", bus=bus, clock=clock)
    await discovered(discovery)
    with pytest.raises(NotFound, match="no node 'attic'"):
        await accept_device(discovery, nodes, "1001", bus=bus, clock=clock, parent_id="attic")
    await nodes.create(Node(id="ahu-9", node_type=NodeType.EQUIP, dis="AHU-9", parent_id="floor-1"))
    with pytest.raises(InvalidInput, match="'ahu-9' has node type 'equip'"):
        await accept_device(discovery, nodes, "1001", bus=bus, clock=clock, parent_id="ahu-9")
    # A point id taken by a node of another type.
    await nodes.create(Node(id="1001", node_type=NodeType.EQUIP, dis="AHU-1", parent_id="floor-1"))
    await nodes.create(
        Node(id="1001/analog-input-1", node_type=NodeType.EQUIP, dis="odd", parent_id="1001")
    )
    await nodes.create(Node(id="2002", node_type=NodeType.SPACE, dis="Room 2002"))
    await discovery.record_i_am(2002, address="10.0.0.9")
    with pytest.raises(Conflict, match="'2002' exists with node type 'space'; it cannot be"):
        await accept_device(discovery, nodes, "2002", bus=bus, clock=clock)
    before = len(nodes)
    with pytest.raises(Conflict, match="'1001/analog-input-1' exists with node type 'equip'"):
        await accept_device(discovery, nodes, "1001", bus=bus, clock=clock)
    assert len(nodes) == before
    assert (await discovery.get("1001")).state is DeviceState.DISCOVERED


async def test_accept_under_an_existing_equip_uses_its_place(
    stores: tuple[DiscoveryStore, NodeStore], bus: EventBus, clock: TrioClock
) -> None:
    discovery, nodes = stores
    await discovered(discovery, [point("analog-input", 1, "Zone Temp", units="°C")])
    # The equip was created by hand (or a scenario) before the device was found.
    await nodes.create(
        Node(id="1001", node_type=NodeType.EQUIP, dis="VAV-1", parent_id="floor-1", tags={"equip"})
    )
    created = await accept_device(discovery, nodes, "1001", bus=bus, clock=clock)
    assert created == ["1001/analog-input-1"]
    zone = nodes.get("1001/analog-input-1")
    assert dict(zone.refs) == {"siteRef": "main-office", "spaceRef": "floor-1", "equipRef": "1001"}
    assert zone.unit == "°C"  # a unit that is no BACnet name passes through
    assert nodes.get("1001").dis == "VAV-1"


async def test_accept_under_a_site_refs_the_site_only(
    stores: tuple[DiscoveryStore, NodeStore], bus: EventBus, clock: TrioClock
) -> None:
    discovery, nodes = stores
    await discovered(discovery, [point("analog-input", 1, "Outside Air Temp")])
    await accept_device(discovery, nodes, "1001", bus=bus, clock=clock, parent_id="main-office")
    assert nodes.get("1001").parent_id == "main-office"
    assert dict(nodes.get("1001").refs) == {"siteRef": "main-office"}
    oat = nodes.get("1001/analog-input-1")
    assert dict(oat.refs) == {"siteRef": "main-office", "equipRef": "1001"}
    assert {"outside", "air", "temp", "sensor"} <= oat.tags


async def test_unnamed_device_and_objects_get_readable_names(
    stores: tuple[DiscoveryStore, NodeStore], bus: EventBus, clock: TrioClock
) -> None:
    discovery, nodes = stores
    await discovery.record_i_am(2002, address="10.0.0.9")
    await discovery.replace_points(
        "2002",
        [
            DiscoveredPoint(device_key="2002", object_type="analog-value", object_instance=4),
            DiscoveredPoint(
                device_key="2002",
                object_type="binary-output",
                object_instance=1,
                object_name="---",
            ),
        ],
    )
    await accept_device(discovery, nodes, "2002", bus=bus, clock=clock)
    assert nodes.get("2002").dis == "BACnet device 2002"
    assert nodes.get("2002/analog-value-4").dis == "analog-value 4"
    assert nodes.get("2002/binary-output-1").dis == "binary-output 1"
    assert nodes.get("2002/binary-output-1").capabilities.writable


async def test_ignore_hides_the_device_and_keeps_its_nodes(
    stores: tuple[DiscoveryStore, NodeStore], bus: EventBus, clock: TrioClock
) -> None:
    discovery, nodes = stores
    await discovered(discovery)
    created = await accept_device(discovery, nodes, "1001", bus=bus, clock=clock)
    device = await ignore_device(discovery, "1001")
    assert device.state is DeviceState.IGNORED
    assert await discovery.list() == []
    assert all(nodes.get_or_none(node_id) is not None for node_id in created)
    # A later I-Am does not bring it back.
    await discovery.record_i_am(1001, address="10.0.0.5")
    assert (await discovery.get("1001")).state is DeviceState.IGNORED
    with pytest.raises(NotFound):
        await ignore_device(discovery, "404")


async def test_low_confidence_tags_are_flagged_for_review_not_applied(
    stores: tuple[DiscoveryStore, NodeStore], bus: EventBus, clock: TrioClock
) -> None:
    discovery, nodes = stores
    await discovered(
        discovery,
        [
            point("analog-value", 7, "XQ-7 Val"),  # the tagger can only guess 'sp'
            point("analog-input", 1, "Supply Air Temp", units="degrees-celsius"),
        ],
    )
    await accept_device(discovery, nodes, "1001", bus=bus, clock=clock, parent_id="floor-1")
    guessed = nodes.get("1001/analog-value-7")
    assert "sp" not in guessed.tags
    assert guessed.properties["tagsToReview"] == ["sp"]
    sure = nodes.get("1001/analog-input-1")
    assert {"air", "temp", "sensor", "supply"} <= sure.tags
    assert "tagsToReview" not in sure.properties
