"""NodeStore: the building hierarchy in ``nodes.db``, with a hot snapshot cache (seed 000).

Reads are synchronous and come from an in-memory snapshot of every node
(:meth:`NodeStore.get`, :meth:`~NodeStore.children`, :meth:`~NodeStore.find`,
...): the API, the bridges and the engines look nodes up far more often than
anyone changes them. Writes go through the store actor and are async.

The snapshot and the database never disagree about committed state:

* Every write function runs in the actor's transaction, reads the node it
  changes *from SQL* (so commands grouped into one transaction see each other)
  and returns the resulting nodes as a :class:`_Change`.
* Only after the transaction has committed does the actor's thread fold the
  changes of the commands that succeeded into a *new* snapshot, in command
  order, and swap it in with one assignment. Readers in the trio thread hold
  whichever snapshot they picked up; they never see a half-applied or an
  uncommitted change, and a failed write leaves the snapshot as it was.
* Because the worker applies the change, a caller that is cancelled while
  waiting for its reply cannot leave the cache behind the database.

Events (``EntityCreated`` / ``EntityUpdated`` / ``EntityDeleted``) are published
by the async method after its write returned, i.e. after the commit; a write
that fails publishes nothing. (A caller cancelled after queuing its write gets
the write but not the event; see the actor's cancellation note.)

``value`` and ``status`` are runtime state owned by the PointStore; the
NodeStore neither stores nor returns them (they come back ``None`` / ``UNKNOWN``).
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import outcome
from attrs import frozen

from opencrate.clock import Clock
from opencrate.components.nodes import sql
from opencrate.components.nodes.well_known import check_properties
from opencrate.errors import Conflict, InvalidInput, NotFound, StoreClosed
from opencrate.model.ids import validate_node_id
from opencrate.model.node import Node, NodeType
from opencrate.model.values import PointStatus
from opencrate.runtime.actor import StoreActor, StoreStatistics
from opencrate.runtime.bus import EventBus
from opencrate.runtime.events import EntityCreated, EntityDeleted, EntityUpdated

__all__ = ["UPDATABLE_FIELDS", "DanglingRef", "NodeStore", "NodeStoreStatistics"]

#: Fields :meth:`NodeStore.update` may change (``parent_id`` goes through ``move``).
UPDATABLE_FIELDS = frozenset(
    {
        "dis",
        "node_type",
        "tags",
        "refs",
        "properties",
        "capabilities",
        "protocol_binding",
        "unit",
        "kind",
    }
)
_REFUSED_FIELDS = {
    "id": "a node's id cannot change; create a new node and delete the old one",
    "parent_id": "use move() to change a node's parent",
    "value": "value is runtime state; write it through the PointStore",
    "status": "status is runtime state; write it through the PointStore",
}


@frozen(kw_only=True)
class DanglingRef:
    """A ref whose target node does not exist."""

    node_id: str
    name: str
    target_id: str


@frozen(kw_only=True)
class _Change:
    """What a committed write did, for the snapshot and for the caller."""

    upserts: tuple[Node, ...] = ()
    deletes: tuple[str, ...] = ()
    changed_fields: tuple[str, ...] = ()


@frozen
class _Snapshot:
    """An immutable view of every node; replaced whole, never mutated."""

    nodes: Mapping[str, Node]
    children: Mapping[str | None, tuple[str, ...]]  # parent -> child ids, sorted

    @classmethod
    def build(cls, nodes: Iterable[Node]) -> _Snapshot:
        by_id = {node.id: node for node in nodes}
        children: dict[str | None, list[str]] = defaultdict(list)
        for node in by_id.values():
            children[node.parent_id].append(node.id)
        return cls(by_id, {parent: tuple(sorted(ids)) for parent, ids in children.items()})

    def apply(self, changes: Sequence[_Change]) -> _Snapshot:
        """A new snapshot with ``changes`` applied in order (copy on write)."""
        nodes = dict(self.nodes)
        added: dict[str | None, set[str]] = defaultdict(set)
        removed: dict[str | None, set[str]] = defaultdict(set)
        for change in changes:
            for node_id in change.deletes:
                old = nodes.pop(node_id, None)
                if old is not None:
                    removed[old.parent_id].add(node_id)
                    added[old.parent_id].discard(node_id)
            for node in change.upserts:
                old = nodes.get(node.id)
                if old is not None and old.parent_id != node.parent_id:
                    removed[old.parent_id].add(node.id)
                    added[old.parent_id].discard(node.id)
                nodes[node.id] = node
                added[node.parent_id].add(node.id)
                removed[node.parent_id].discard(node.id)
        children = dict(self.children)
        for parent in added.keys() | removed.keys():
            ids = (set(children.get(parent, ())) - removed[parent]) | added[parent]
            if ids:
                children[parent] = tuple(sorted(ids))
            else:
                children.pop(parent, None)
        return _Snapshot(nodes, children)

    def walk(self, root: str | None) -> Iterator[str]:
        """Depth-first ids below ``root`` (and ``root`` itself unless it is None)."""
        stack: list[str] = (
            [root] if root is not None else list(reversed(self.children.get(None, ())))
        )
        while stack:
            node_id = stack.pop()
            yield node_id
            stack.extend(reversed(self.children.get(node_id, ())))


def _stored(node: Node) -> Node:
    """The node as the store keeps it: without runtime value and status."""
    if node.value is None and node.status is PointStatus.UNKNOWN:
        return node
    return attrs.evolve(node, value=None, status=PointStatus.UNKNOWN)


def _check_properties(node: Node) -> None:
    # Well-known keys (a point's alarm rule) are checked on every write, not on
    # load: a rule stored before the check existed must not stop the store opening.
    try:
        check_properties(node.properties)
    except InvalidInput as exc:
        raise InvalidInput(
            f"node {node.id!r}: {exc.message}", **exc.detail, node_id=node.id
        ) from None


def _parents_first(nodes: Sequence[Node]) -> list[Node]:
    """Order ``nodes`` so every node comes after its parent if that parent is among them."""
    by_id: dict[str, Node] = {}
    for node in nodes:
        if not isinstance(node, Node):
            raise InvalidInput(f"create_many takes Node objects, got {type(node).__name__}")
        if node.id in by_id:
            raise InvalidInput(f"node id {node.id!r} appears twice", field="id", node_id=node.id)
        by_id[node.id] = node
    children: dict[str, list[Node]] = defaultdict(list)
    ordered: list[Node] = []
    for node in nodes:
        if node.parent_id in by_id:
            children[node.parent_id].append(node)
        else:
            ordered.append(node)
    # Breadth first from the nodes whose parent is outside the batch.
    for node in ordered:
        ordered.extend(children.pop(node.id, ()))
    if len(ordered) != len(nodes):
        stuck = sorted(n.id for n in nodes if n.id not in {o.id for o in ordered})
        raise InvalidInput(f"nodes {stuck} form a parent cycle", field="parent_id", node_ids=stuck)
    return ordered


@frozen(kw_only=True)
class NodeStoreStatistics:
    nodes: int  # in the snapshot


class NodeStore(StoreActor):
    """The node hierarchy: SQLite file ``nodes.db`` plus an in-memory snapshot.

    Synchronous reads (:meth:`get`, :meth:`all`, :meth:`children`, :meth:`find`,
    :meth:`subtree_ids`, :meth:`dangling_refs`) need the store to have opened
    (inside ``running()`` or after ``run`` started); before that they raise
    :class:`~opencrate.errors.StoreClosed`. After close they keep answering from
    the last snapshot.
    """

    name = "nodes"
    migrations = (sql.SCHEMA_V1,)

    def __init__(self, path: Path | str, *, bus: EventBus, clock: Clock | None = None) -> None:
        super().__init__(path, clock=clock)
        self.bus = bus
        self._snapshot: _Snapshot | None = None

    # -- worker-thread hooks ---------------------------------------------------------------
    def on_open(self, conn: sqlite3.Connection) -> None:
        self._snapshot = _Snapshot.build(sql.load_all(conn))

    def after_commit(self, results: Sequence[outcome.Outcome[Any]]) -> None:
        # A Value result means that command's savepoint was released and the
        # transaction committed: apply exactly those changes, in order.
        changes = [
            r.value
            for r in results
            if isinstance(r, outcome.Value) and isinstance(r.value, _Change)
        ]
        if changes:
            assert self._snapshot is not None
            self._snapshot = self._snapshot.apply(changes)

    # -- synchronous reads from the snapshot ------------------------------------------------
    def _snap(self) -> _Snapshot:
        snapshot = self._snapshot
        if snapshot is None:
            raise StoreClosed("store nodes is not open yet", store=self.name)
        return snapshot

    def get(self, node_id: str) -> Node:
        """The node with ``node_id``; :class:`~opencrate.errors.NotFound` if none."""
        node = self._snap().nodes.get(node_id)
        if node is None:
            raise NotFound(f"no node {node_id!r}", node_id=node_id)
        return node

    def get_or_none(self, node_id: str) -> Node | None:
        return self._snap().nodes.get(node_id)

    def statistics(self) -> StoreStatistics[NodeStoreStatistics]:
        """The actor's figures; ``detail`` counts the nodes (0 before the store opened)."""
        snapshot = self._snapshot
        nodes = 0 if snapshot is None else len(snapshot.nodes)
        return self._statistics_with(NodeStoreStatistics(nodes=nodes))

    def all(self) -> list[Node]:
        """Every node, depth first from the roots (parents before children, siblings by id)."""
        snap = self._snap()
        return [snap.nodes[node_id] for node_id in snap.walk(None)]

    def children(self, node_id: str | None) -> list[Node]:
        """The direct children of ``node_id`` sorted by id; ``None`` gives the roots.

        Raises :class:`~opencrate.errors.NotFound` for an unknown ``node_id``.
        """
        snap = self._snap()
        if node_id is not None and node_id not in snap.nodes:
            raise NotFound(f"no node {node_id!r}", node_id=node_id)
        return [snap.nodes[child] for child in snap.children.get(node_id, ())]

    def find(
        self,
        *,
        node_type: NodeType | None = None,
        tags: Iterable[str] = (),
        under: str | None = None,
    ) -> list[Node]:
        """Nodes of ``node_type`` carrying every tag in ``tags``, within ``under``'s subtree.

        Each filter is optional; the result is in depth-first order as :meth:`all`.
        ``under`` includes the node itself; an unknown ``under`` raises NotFound.
        """
        if isinstance(tags, str):
            raise InvalidInput("tags must be a list of tags, not one string", field="tags")
        snap = self._snap()
        wanted = frozenset(tags)
        if under is not None and under not in snap.nodes:
            raise NotFound(f"no node {under!r}", node_id=under)
        found = []
        for node_id in snap.walk(under):
            node = snap.nodes[node_id]
            if (node_type is None or node.node_type == node_type) and wanted <= node.tags:
                found.append(node)
        return found

    def subtree_ids(self, node_id: str) -> frozenset[str]:
        """``node_id`` and the ids of all its descendants; NotFound if it does not exist."""
        snap = self._snap()
        if node_id not in snap.nodes:
            raise NotFound(f"no node {node_id!r}", node_id=node_id)
        return frozenset(snap.walk(node_id))

    def dangling_refs(self) -> list[DanglingRef]:
        """Refs that name a node that does not exist, sorted by node id and ref name.

        Deleting a node does not touch refs to it elsewhere (see the module
        docs); this is how an operator or a health check finds them.
        """
        snap = self._snap()
        return [
            DanglingRef(node_id=node_id, name=name, target_id=target)
            for node_id in sorted(snap.nodes)
            for name, target in sorted(snap.nodes[node_id].refs.items())
            if target not in snap.nodes
        ]

    def referrers(self, node_id: str) -> list[Node]:
        """Nodes with a ref to ``node_id`` (which need not exist), sorted by id."""
        snap = self._snap()
        return sorted(
            (n for n in snap.nodes.values() if node_id in n.refs.values()), key=lambda n: n.id
        )

    def __len__(self) -> int:
        return len(self._snap().nodes)

    # -- writes through the actor ------------------------------------------------------------
    async def create(self, node: Node) -> Node:
        """Store a new node; returns it as stored (without value and status).

        Raises :class:`~opencrate.errors.Conflict` if the id exists,
        :class:`~opencrate.errors.NotFound` if its parent does not,
        :class:`~opencrate.errors.InvalidInput` if ``node`` is not a Node (ids
        and fields were already checked when the Node was built) or a
        well-known property is bad, naming it (``properties.alarm.high``, see
        :mod:`opencrate.components.nodes.well_known`); nothing is written then.
        Publishes ``EntityCreated`` after the commit.
        """
        (created,) = await self.create_many([node])
        return created

    async def create_many(self, nodes: Sequence[Node]) -> list[Node]:
        """Store several new nodes in one transaction: all of them or none.

        They may come in any order; parents among them are inserted before
        their children. Errors as :meth:`create` (the first one found), plus
        InvalidInput for an id given twice or a parent cycle among them.
        Returns the stored nodes in the order given; publishes one
        ``EntityCreated`` per node, parents first, after the commit.
        """
        ordered = [_stored(node) for node in _parents_first(list(nodes))]
        if not ordered:
            return []
        for node in ordered:
            _check_properties(node)
        now_ms = self.clock.now_ms()

        def insert(conn: sqlite3.Connection) -> _Change:
            for node in ordered:
                if sql.exists(conn, node.id):
                    raise Conflict(f"node {node.id!r} already exists", node_id=node.id)
                if node.parent_id is not None and not sql.exists(conn, node.parent_id):
                    raise NotFound(
                        f"parent {node.parent_id!r} of node {node.id!r} does not exist",
                        node_id=node.id,
                        parent_id=node.parent_id,
                    )
                sql.insert_node(conn, node, now_ms)
            return _Change(upserts=tuple(ordered))

        await self.write(insert)
        ts_ms = self.clock.now_ms()
        for node in ordered:
            self.bus.publish(
                EntityCreated(ts_ms=ts_ms, entity_id=node.id, entity_type=node.node_type.value)
            )
        by_id = {node.id: node for node in ordered}
        return [by_id[node.id] for node in nodes]

    async def update(self, node_id: str, **changes: Any) -> Node:
        """Change fields of a node; returns the node as stored afterwards.

        Allowed fields: :data:`UPDATABLE_FIELDS`, with the same conversions as
        the Node constructor (``tags`` from a list, ``protocol_binding`` from a
        dict in either form, ...). Raises NotFound for an unknown node and
        InvalidInput naming a refused, unknown or invalid field (nothing is
        written), also for a malformed id or a bad well-known property
        (``properties.alarm.high``; checked only when ``properties`` changes).
        Publishes ``EntityUpdated`` with the fields whose value actually
        changed, after the commit; nothing if none did.
        """
        validate_node_id(node_id)
        for name in changes:
            if name in _REFUSED_FIELDS:
                raise InvalidInput(_REFUSED_FIELDS[name], field=name, node_id=node_id)
            if name not in UPDATABLE_FIELDS:
                raise InvalidInput(
                    f"unknown node field {name!r}; updatable: {sorted(UPDATABLE_FIELDS)}",
                    field=name,
                    node_id=node_id,
                )
        now_ms = self.clock.now_ms()

        def apply(conn: sqlite3.Connection) -> _Change:
            current = self._load_for_write(conn, node_id)
            new = attrs.evolve(current, **changes)
            if "properties" in changes:
                _check_properties(new)
            changed = tuple(n for n in sorted(changes) if getattr(new, n) != getattr(current, n))
            if not changed:
                return _Change(upserts=(current,))
            sql.update_node(conn, new, changed, now_ms)
            return _Change(upserts=(new,), changed_fields=changed)

        change = await self.write(apply)
        if change.changed_fields:
            self.bus.publish(
                EntityUpdated(
                    ts_ms=self.clock.now_ms(),
                    entity_id=node_id,
                    changed_fields=change.changed_fields,
                )
            )
        return change.upserts[0]

    async def move(self, node_id: str, new_parent_id: str | None) -> Node:
        """Give a node a new parent (``None`` makes it a root); its subtree moves with it.

        Raises NotFound for an unknown node or parent, Conflict when
        ``new_parent_id`` is the node itself or one of its descendants (that
        would make a cycle). Publishes ``EntityUpdated(changed_fields=("parent_id",))``
        for the moved node only (its descendants' parents are unchanged); a
        move to the current parent changes and publishes nothing.
        """
        validate_node_id(node_id)
        if new_parent_id is not None:
            validate_node_id(new_parent_id, what="parent_id")
        now_ms = self.clock.now_ms()

        def apply(conn: sqlite3.Connection) -> _Change:
            current = self._load_for_write(conn, node_id)
            if current.parent_id == new_parent_id:
                return _Change(upserts=(current,))
            if new_parent_id is not None:
                if not sql.exists(conn, new_parent_id):
                    raise NotFound(f"no node {new_parent_id!r}", node_id=new_parent_id)
                if new_parent_id in sql.subtree_ids(conn, node_id):
                    raise Conflict(
                        f"cannot move {node_id!r} under {new_parent_id!r}: "
                        "that node is inside its own subtree",
                        node_id=node_id,
                        parent_id=new_parent_id,
                    )
            moved = attrs.evolve(current, parent_id=new_parent_id)
            sql.update_node(conn, moved, ("parent_id",), now_ms)
            return _Change(upserts=(moved,), changed_fields=("parent_id",))

        change = await self.write(apply)
        if change.changed_fields:
            self.bus.publish(
                EntityUpdated(
                    ts_ms=self.clock.now_ms(), entity_id=node_id, changed_fields=("parent_id",)
                )
            )
        return change.upserts[0]

    async def delete(self, node_id: str, *, recursive: bool = False) -> list[str]:
        """Delete a node (and, with ``recursive``, its whole subtree).

        Returns the deleted ids deepest first (every node before its parent).
        Its tags, refs, properties, capabilities and binding go with it. Refs
        *to* it from other nodes are kept (see :meth:`dangling_refs`). Raises
        NotFound for an unknown node, Conflict when it has children and
        ``recursive`` is false (nothing is deleted). Publishes one
        ``EntityDeleted`` per node, in the returned order, after the commit.
        InvalidInput for a malformed id.
        """
        validate_node_id(node_id)

        def apply(conn: sqlite3.Connection) -> _Change:
            ids = sql.subtree_ids(conn, node_id)
            if not ids:
                raise NotFound(f"no node {node_id!r}", node_id=node_id)
            if len(ids) > 1 and not recursive:
                raise Conflict(
                    f"node {node_id!r} has {len(ids) - 1} descendant(s); "
                    "delete them first or pass recursive=True",
                    node_id=node_id,
                    descendants=len(ids) - 1,
                )
            deepest_first = tuple(reversed(ids))
            sql.delete_nodes(conn, deepest_first)
            return _Change(deletes=deepest_first)

        change = await self.write(apply)
        ts_ms = self.clock.now_ms()
        for deleted in change.deletes:
            self.bus.publish(EntityDeleted(ts_ms=ts_ms, entity_id=deleted))
        return list(change.deletes)

    # -- reads from SQL ----------------------------------------------------------------------
    async def subtree(self, node_id: str) -> list[Node]:
        """``node_id`` and all its descendants from the database (recursive CTE).

        Depth first, children by id (the same order as :meth:`find` with
        ``under``). Runs on the read connection; NotFound if the node does not exist.
        """
        nodes = await self.read(lambda conn: sql.load_subtree(conn, node_id))
        if not nodes:
            raise NotFound(f"no node {node_id!r}", node_id=node_id)
        return nodes

    def _load_for_write(self, conn: sqlite3.Connection, node_id: str) -> Node:
        node = sql.load_node(conn, node_id)
        if node is None:
            raise NotFound(f"no node {node_id!r}", node_id=node_id)
        return node
