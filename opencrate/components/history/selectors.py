"""Which item lines select a point: ``*``, ``id``, ``node*``, ``!id``, ``!node*``.

``node*`` selects every point *under* the node in the hierarchy (not the node
itself), as openHAB's ``Group*``. ``!id`` and ``!node*`` exclude, and only on
their own line; an exclusion wins regardless of where it is written on the line.

The hierarchy comes from the node model (:class:`NodeHierarchy`). A point the
node model does not know (a simulator's point, history imported for a point
that was deleted) falls back to the id convention ``{device}/{point}``: its
parent is ``{device}``, so ``1001*`` still selects ``1001/ai-1``.
Membership is evaluated when a sample is stored; callers cache per point and
drop the cache when the node model changes (``Entity*`` events).
"""

from __future__ import annotations

from typing import Protocol

from opencrate.components.history.config.model import ItemConfig, Selector, SelectorKind

__all__ = ["Hierarchy", "IdHierarchy", "NodeHierarchy", "line_selects", "selector_matches"]


class Hierarchy(Protocol):
    def ancestors(self, point_id: str) -> frozenset[str]:
        """Every node above ``point_id`` (parent, grandparent, ...), not the point itself."""
        ...


def _id_ancestors(point_id: str) -> frozenset[str]:
    parts = point_id.split("/")
    return frozenset("/".join(parts[:i]) for i in range(1, len(parts)))


class IdHierarchy:
    """Ancestors from the id convention only (``a/b/c`` is under ``a/b`` and ``a``)."""

    def ancestors(self, point_id: str) -> frozenset[str]:
        return _id_ancestors(point_id)


class _NodeLookup(Protocol):
    def get_or_none(self, node_id: str) -> _HasParent | None: ...


class _HasParent(Protocol):
    @property
    def parent_id(self) -> str | None: ...


class NodeHierarchy:
    """Ancestors from the node model (NodeStore's in-memory snapshot; no I/O)."""

    def __init__(self, nodes: _NodeLookup) -> None:
        self._nodes = nodes

    def ancestors(self, point_id: str) -> frozenset[str]:
        node = self._nodes.get_or_none(point_id)
        if node is None:
            return _id_ancestors(point_id)
        found: list[str] = []
        parent = node.parent_id
        while parent is not None and parent not in found:  # guard against a cycle
            found.append(parent)
            up = self._nodes.get_or_none(parent)
            parent = None if up is None else up.parent_id
        return frozenset(found)


def selector_matches(selector: Selector, point_id: str, ancestors: frozenset[str]) -> bool:
    """Whether ``selector`` names the point (ignoring ``exclude``)."""
    if selector.kind is SelectorKind.ALL:
        return True
    if selector.kind is SelectorKind.POINT:
        return selector.target == point_id
    return selector.target in ancestors


def line_selects(item: ItemConfig, point_id: str, ancestors: frozenset[str]) -> bool:
    """True when one of the line's selectors includes the point and none excludes it."""
    included = False
    for selector in item.selectors:
        if selector_matches(selector, point_id, ancestors):
            if selector.exclude:
                return False
            included = True
    return included
