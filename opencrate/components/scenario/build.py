"""Turning a checked :class:`~opencrate.components.scenario.format.Scenario` into nodes.

Each node gets:

* its entity marker (``site``, ``space``, ``equip``, ``point``), the tags the
  auto-tagger suggests from its name (:func:`~opencrate.model.tags.suggest_equip_tags`,
  :func:`~opencrate.model.tags.suggest_point_tags`, given the point's unit,
  BACnet object type, kind and its equipment's tags), ``writable`` / ``his``
  from its capabilities, and the tags the file lists;
* the refs Haystack asks for (``siteRef`` on everything below a site,
  ``spaceRef`` to the nearest enclosing space, ``equipRef`` from a point or a
  sub-equipment to its equipment), merged with the refs the file lists (the
  file wins);
* for points: unit, kind, capabilities and protocol binding.

Pure and deterministic: the same scenario always gives the same nodes, which
is what lets the loader compare them with what is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any

from opencrate.components.scenario.format import EquipSpec, PointSpec, Scenario, SiteSpec, SpaceSpec
from opencrate.errors import ConfigError, InvalidInput
from opencrate.model.binding import VIRTUAL
from opencrate.model.node import Node, NodeType
from opencrate.model.tagging.points import explain_point_tags
from opencrate.model.tags import suggest_equip_tags

__all__ = ["DEFAULT_POINT_CAPABILITIES", "NodeBuilder", "build_nodes", "point_capabilities"]

#: Capabilities of a point that does not list its own (plus writable and
#: schedulable when the point says ``writable = true``).
DEFAULT_POINT_CAPABILITIES = frozenset({"readable", "historizable", "alarmable"})


def point_capabilities(point: PointSpec) -> frozenset[str]:
    """The capability names a point gets (explicit list, or the defaults)."""
    if point.capabilities is not None:
        return point.capabilities
    extra = {"writable", "schedulable"} if point.writable else set()
    return DEFAULT_POINT_CAPABILITIES | extra


def build_nodes(scenario: Scenario) -> list[Node]:
    """Every node of ``scenario``, parents before children.

    Raises :class:`ConfigError` naming the file and line when the node model
    refuses a value the format let through (a tag with a space, say).
    """
    builder = NodeBuilder(scenario.source)
    for site in scenario.sites:
        builder.add(site.line, partial(builder.site, site))
    for space in scenario.spaces:
        builder.add(space.line, partial(builder.space, space))
    for equip in scenario.equips:
        equip_node = builder.add(equip.line, partial(builder.equip, equip))
        for point in equip.points:
            builder.add(point.line, partial(builder.point, point, equip_node))
    return builder.nodes


class NodeBuilder:
    """Builds nodes from specs, remembering them so later nodes get their refs.

    ``known`` are nodes that already exist (stored ones, say): they are not
    built again but give the context (``siteRef``, ``spaceRef``, ``equipRef``)
    for nodes built below them. Discovery's accept builds an equipment and its
    points this way, so they are tagged and referenced exactly as a scenario's.

    With ``review`` (accepting a discovered device: nobody has looked at the
    names yet) a point's suggested tags that the tagger is not sure of
    (:attr:`~opencrate.model.tagging.TagSuggestion.low_confidence`) are not
    applied but listed in its ``tagsToReview`` property, for an integrator to
    confirm; a scenario's author chose its names, so there every tag applies.
    """

    def __init__(self, source: str, known: Iterable[Node] = (), *, review: bool = False) -> None:
        self.source = source
        self.review = review
        self.flagged = 0  # points whose suggestions wait for review
        self.nodes: list[Node] = []
        self._types: dict[str, NodeType] = {}
        self._parents: dict[str, str | None] = {}
        for node in known:
            self._types[node.id] = node.node_type
            self._parents[node.id] = node.parent_id

    def add(self, line: int | None, make: Callable[[], Node]) -> Node:
        """Build a node with ``make`` and keep it; InvalidInput becomes ConfigError at ``line``."""
        try:
            node = make()
        except InvalidInput as exc:
            key = exc.detail.get("field")
            raise ConfigError(exc.message, file=self.source, line=line, key=key) from None
        self._types[node.id] = node.node_type
        self._parents[node.id] = node.parent_id
        self.nodes.append(node)
        return node

    def _nearest(self, node_id: str | None, node_type: NodeType) -> str | None:
        while node_id is not None and self._types.get(node_id) is not node_type:
            node_id = self._parents.get(node_id)
        return node_id

    def _refs(
        self, parent: str | None, own: Mapping[str, str], **extra: str | None
    ) -> dict[str, str]:
        found = {
            "siteRef": self._nearest(parent, NodeType.SITE),
            "spaceRef": self._nearest(parent, NodeType.SPACE),
            **extra,
        }
        return {name: target for name, target in found.items() if target} | dict(own)

    def site(self, site: SiteSpec) -> Node:
        return Node(
            id=site.id,
            node_type=NodeType.SITE,
            dis=site.dis,
            tags={"site"} | site.tags,
            refs=dict(site.refs),
            properties=dict(site.properties),
        )

    def space(self, space: SpaceSpec) -> Node:
        return Node(
            id=space.id,
            node_type=NodeType.SPACE,
            dis=space.dis,
            parent_id=space.parent,
            tags={"space"} | space.tags,
            refs=self._refs(space.parent, space.refs),
            properties=dict(space.properties),
        )

    def equip(self, equip: EquipSpec) -> Node:
        # A sub-equipment (a fan inside an AHU) points at its parent with equipRef.
        parent_is_equip = (
            equip.parent is not None and self._types.get(equip.parent) is NodeType.EQUIP
        )
        return Node(
            id=equip.id,
            node_type=NodeType.EQUIP,
            dis=equip.dis,
            parent_id=equip.parent,
            tags={"equip"} | suggest_equip_tags(equip.dis) | equip.tags,
            refs=self._refs(
                equip.parent, equip.refs, equipRef=equip.parent if parent_is_equip else None
            ),
            properties=dict(equip.properties),
        )

    def point(self, point: PointSpec, equip: Node) -> Node:
        binding: dict[str, Any] | None = None
        node_type = NodeType.POINT
        if point.binding is not None:
            config = {k: v for k, v in point.binding.items() if k != "protocol"}
            binding = {"protocol": point.binding["protocol"], "config": config}
            if point.binding["protocol"] == VIRTUAL:
                node_type = NodeType.VIRTUAL_POINT
        capabilities = point_capabilities(point)
        object_type = None if binding is None else binding["config"].get("object_type")
        description = point.properties.get("description")
        suggestion = explain_point_tags(
            point.dis,
            unit=point.unit,
            object_type=object_type if isinstance(object_type, str) else None,
            equip_tags=tuple(sorted(equip.tags)),
            value_kind=point.kind,
            raw_name=description if self.review and isinstance(description, str) else None,
        )
        suggested = set(suggestion.tags)
        properties = dict(point.properties)
        if self.review and suggestion.low_confidence:
            suggested -= suggestion.low_confidence
            properties["tagsToReview"] = sorted(suggestion.low_confidence)
            self.flagged += 1
        # Haystack markers that follow from the capabilities, not from the name.
        markers = {"point"}
        if "writable" in capabilities:
            markers.add("writable")
        if "historizable" in capabilities:
            markers.add("his")
        return Node(
            id=point.node_id,
            node_type=node_type,
            dis=point.dis,
            parent_id=equip.id,
            tags=markers | suggested | point.tags,
            refs=self._refs(equip.id, point.refs, equipRef=equip.id),
            properties=properties,
            capabilities=sorted(capabilities),
            protocol_binding=binding,
            unit=point.unit,
            kind=point.kind,
        )
