"""Accepting a discovered device into the node model, and ignoring one.

:func:`accept_device` turns a :class:`~opencrate.components.bacnet.records.DiscoveredDevice`
and its object list into nodes, built by the scenario loader's
:class:`~opencrate.components.scenario.build.NodeBuilder` so they are tagged and
referenced exactly as a scenario's:

* one **Equip** node, id ``"{device_instance}"``, ``dis`` from the device name,
  tags from :func:`~opencrate.model.tags.suggest_equip_tags`, a BACnet binding
  to the device object (``object_type = "device"``, with ``device_instance`` and
  ``network_id``), properties ``vendor`` and ``model`` where known;
* one **Point** node per analog, binary or multi-state input, output or value
  object, id ``"{device_instance}/{object_type}-{object_instance}"`` (seed 000),
  ``dis`` from the object name, kind from the object type, unit from its
  BACnet units (:func:`~opencrate.components.bacnet.units.display_unit`), tags
  from :func:`~opencrate.model.tags.suggest_point_tags`, a BACnet binding
  ``{device_instance, object_type, object_instance, network_id}``, and
  ``writable`` for outputs and for values the device reported commandable.
  Other objects (the device object, trend logs, schedules) get no node.

Nodes that already exist are kept as they are: accepting again (after the
monitor marked the object list stale and discovery re-read it) only adds
what is missing. The device then becomes ``accepted`` with every node id of
the device (kept and created), ``object_list_stale`` is cleared, and
``DeviceAccepted`` is published with the ids created this time.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

import attrs

from opencrate.clock import Clock
from opencrate.components.bacnet.records import (
    POINT_OBJECT_TYPES,
    DeviceState,
    DiscoveredDevice,
    DiscoveredPoint,
)
from opencrate.components.bacnet.store import DiscoveryStore
from opencrate.components.bacnet.units import display_unit
from opencrate.components.nodes.store import NodeStore
from opencrate.components.scenario.build import NodeBuilder
from opencrate.components.scenario.format import EquipSpec, PointSpec
from opencrate.errors import Conflict, InvalidInput, NotFound
from opencrate.model.binding import BACNET, ProtocolBinding
from opencrate.model.node import Node, NodeType
from opencrate.runtime.bus import EventBus
from opencrate.runtime.events import DeviceAccepted

__all__ = ["accept_device", "equip_node_id", "ignore_device", "point_node_id"]

#: Where built nodes say they came from (the builder names it in ConfigErrors).
_SOURCE = "discovery"


def equip_node_id(device: DiscoveredDevice) -> str:
    """The equip node id of a BACnet device: ``"1001"``."""
    return str(_instance(device))


def point_node_id(device_instance: int, object_type: str, object_instance: int) -> str:
    """A BACnet point's node id (seed 000): ``"1001/analog-input-1"``."""
    return f"{device_instance}/{object_type}-{object_instance}"


async def accept_device(
    store: DiscoveryStore,
    nodes: NodeStore,
    device_key: str,
    *,
    bus: EventBus,
    clock: Clock,
    parent_id: str | None = None,
) -> list[str]:
    """Create the device's Equip and Point nodes, mark it accepted, publish DeviceAccepted.

    ``parent_id`` puts the equipment under a site or space (it gets its
    ``siteRef`` / ``spaceRef`` from there); without it the equipment is a
    root. Returns the ids of the nodes created now, parents first (empty when
    everything existed already). All new nodes are created in one NodeStore
    transaction: all or none.

    Raises NotFound for an unknown device key or parent; InvalidInput when the
    device is not a BACnet device, or ``parent_id`` is not a site or space;
    Conflict when a node with the equip's or a point's id exists but is of
    another type (nothing is created then), or when another accept of the
    same device created a node meanwhile (accepting again then succeeds).

    Cancellation, or a failure after the nodes were created, leaves nodes
    without the device being ``accepted``: accepting again keeps them and
    finishes the job.
    """
    device = await store.get(device_key)
    instance = _instance(device)
    context = _context(nodes, parent_id)
    equip_id = equip_node_id(device)
    existing_equip = nodes.get_or_none(equip_id)
    if existing_equip is not None and existing_equip.node_type is not NodeType.EQUIP:
        raise Conflict(
            f"node {equip_id!r} exists with node type {existing_equip.node_type.value!r}; "
            f"it cannot be the equipment of BACnet device {instance}",
            node_id=equip_id,
            device_key=device.device_key,
        )
    if existing_equip is not None:
        context = [*_ancestors(nodes, existing_equip.parent_id), existing_equip]
    builder = NodeBuilder(_SOURCE, known=context, review=True)
    if existing_equip is None:
        equip = builder.add(None, lambda: _equip(builder, device, parent_id))
    else:
        equip = existing_equip

    all_ids = [equip_id]
    for point in await store.points(device.device_key):
        object_type = POINT_OBJECT_TYPES.get(point.object_type)
        if object_type is None:
            continue
        node_id = point_node_id(instance, point.object_type, point.object_instance)
        all_ids.append(node_id)
        existing = nodes.get_or_none(node_id)
        if existing is not None:
            if not existing.is_point:
                raise Conflict(
                    f"node {node_id!r} exists with node type {existing.node_type.value!r}, "
                    "not a point",
                    node_id=node_id,
                    device_key=device.device_key,
                )
            continue
        builder.add(None, partial(builder.point, _point_spec(device, point), equip))

    created = await nodes.create_many(builder.nodes)
    created_ids = [node.id for node in created]
    # Ids accepted before whose objects are gone from the list stay while their
    # nodes exist (an operator deletes them; accept never does).
    remembered = [
        i for i in device.node_ids if i not in all_ids and nodes.get_or_none(i) is not None
    ]
    await store.set_state(device.device_key, DeviceState.ACCEPTED, node_ids=[*all_ids, *remembered])
    bus.publish(
        DeviceAccepted(
            ts_ms=clock.now_ms(), device_key=device.device_key, created_node_ids=tuple(created_ids)
        )
    )
    return created_ids


async def ignore_device(store: DiscoveryStore, device_key: str) -> DiscoveredDevice:
    """Hide a device from later scans (its state becomes ``ignored``).

    Nodes an earlier accept created are kept; accepting it again brings it
    back. NotFound for an unknown device key.
    """
    return await store.set_state(device_key, DeviceState.IGNORED)


# -- building ---------------------------------------------------------------------------
def _instance(device: DiscoveredDevice) -> int:
    if device.protocol != BACNET or device.device_instance is None:
        raise InvalidInput(
            f"device {device.device_key!r} is a {device.protocol} device without a BACnet "
            "device instance; only BACnet devices are accepted here",
            device_key=device.device_key,
        )
    return device.device_instance


def _ancestors(nodes: NodeStore, node_id: str | None) -> list[Node]:
    """``node_id`` and its ancestors, root first."""
    chain: list[Node] = []
    while node_id is not None:
        node = nodes.get(node_id)
        chain.append(node)
        node_id = node.parent_id
    return chain[::-1]


def _context(nodes: NodeStore, parent_id: str | None) -> list[Node]:
    if parent_id is None:
        return []
    parent = nodes.get_or_none(parent_id)
    if parent is None:
        raise NotFound(f"no node {parent_id!r} to put the equipment under", node_id=parent_id)
    if parent.node_type not in (NodeType.SITE, NodeType.SPACE):
        raise InvalidInput(
            f"equipment goes under a site or a space; {parent_id!r} has node type "
            f"{parent.node_type.value!r}",
            field="parent_id",
            node_id=parent_id,
        )
    return _ancestors(nodes, parent_id)


def _readable(name: str | None, fallback: str) -> str:
    # The tagger needs a letter or a digit; a device may name an object "---".
    if name is not None and any(ch.isalnum() for ch in name):
        return name.strip()
    return fallback


def _equip(builder: NodeBuilder, device: DiscoveredDevice, parent_id: str | None) -> Node:
    instance = _instance(device)
    properties: Mapping[str, object] = {
        key: value
        for key, value in (("vendor", device.vendor_name), ("model", device.model_name))
        if value is not None
    }
    spec = EquipSpec(
        id=equip_node_id(device),
        dis=_readable(device.device_name, f"BACnet device {instance}"),
        parent=parent_id,
        properties=properties,
    )
    node = builder.equip(spec)
    # The equipment is bound to the device object: (device, instance) on its network.
    binding = ProtocolBinding.bacnet(instance, "device", instance, device.network_id)
    return attrs.evolve(node, protocol_binding=binding)


def _point_spec(device: DiscoveredDevice, point: DiscoveredPoint) -> PointSpec:
    instance = _instance(device)
    object_type = POINT_OBJECT_TYPES[point.object_type]
    # Outputs always have a priority array; a value object only when the device
    # said so (discovery reads whether it has one); an input is never commanded.
    is_value = point.object_type.endswith("-value")
    writable = object_type.commandable or (is_value and point.writable is True)
    properties = {} if point.description is None else {"description": point.description}
    return PointSpec(
        node_id=point_node_id(instance, point.object_type, point.object_instance),
        dis=_readable(point.object_name, f"{point.object_type} {point.object_instance}"),
        kind=object_type.kind,
        unit=display_unit(point.units),
        writable=writable,
        properties=properties,
        binding={
            "protocol": BACNET,
            "device_instance": instance,
            "object_type": point.object_type,
            "object_instance": point.object_instance,
            "network_id": device.network_id,
        },
    )
