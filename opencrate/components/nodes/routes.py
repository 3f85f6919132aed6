"""``/api/nodes``: the building hierarchy (read from the NodeStore's snapshot, written through it).

Node ids contain ``/`` (points are ``"{device}/{point}"``), so the id in a
path is matched with a ``path`` converter: ``/api/nodes/1001/ai-1`` is the node
``1001/ai-1``, and ``/api/nodes/1001/ai-1/subtree`` its subtree. The
``/subtree`` suffix wins: a node whose own id ends in ``/subtree`` is still
listed by ``GET /api/nodes`` and ``GET /api/nodes/{parent}/subtree``.

Point nodes are returned with their live ``value`` and ``status`` from the
PointStore (the NodeStore keeps neither). Every write is recorded in the
audit log after it succeeded; a refused write stores nothing and records
nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

import attrs
import msgspec
from quart import Blueprint, Response, jsonify

from opencrate.api.access import Role, requires
from opencrate.api.auditing import audit_write
from opencrate.api.context import json_body, services
from opencrate.api.contract import (
    Component,
    body,
    component,
    list_of,
    query,
    record_component,
    request_body,
    responds,
)
from opencrate.api.params import (
    DEFAULT_PAGE,
    check_fields,
    decode_cursor,
    encode_cursor,
    node_id_arg,
)
from opencrate.api.wire import Limit, NodeIdText, Text
from opencrate.components.nodes.store import UPDATABLE_FIELDS, NodeStore
from opencrate.components.points.store import PointStore
from opencrate.errors import Conflict, InvalidInput, NotFound
from opencrate.model.node import Node, NodeType

__all__ = ["blueprint", "node_json", "tree_json"]

blueprint = Blueprint("nodes", __name__)

_LISTING = "nodes"
#: Fields a client may send to create a node (value and status are runtime state).
_CREATE_FIELDS = frozenset(a.name for a in attrs.fields(Node)) - {"value", "status"}
_PATCH_FIELDS = UPDATABLE_FIELDS | {"parent_id"}
MAX_BATCH = 10_000

_TS_MS = {"ts_ms": {"type": ["integer", "null"], "description": "A point's last reading"}}
#: A node as the API answers it: the record's JSON, a point with its reading's time.
NODE = record_component(Node, optional=_TS_MS)
#: The tree view: each node with its ``children``, nested.
NODE_TREE: Component = component(
    "NodeTree",
    lambda: {
        **NODE.schema(),
        "title": "NodeTree",
        "properties": {
            **NODE.schema()["properties"],
            "children": {"type": "array", "items": NODE_TREE.ref},
        },
        "required": [*NODE.schema()["required"], "children"],
    },
)
NODE_CREATE = record_component(
    Node, name="NodeCreate", drop=("value", "status"), required=("id", "node_type", "dis")
)
NODE_PATCH = record_component(
    Node,
    name="NodePatch",
    drop=tuple(a.name for a in attrs.fields(Node) if a.name not in _PATCH_FIELDS),
    required=(),
)


class View(enum.StrEnum):
    FLAT = "flat"
    TREE = "tree"


class NodesQuery(msgspec.Struct, kw_only=True):
    view: View = View.FLAT
    type: NodeType | None = None
    tag: Annotated[list[Text], msgspec.Meta(description="Repeatable; a node carries all.")] = []
    under: NodeIdText | None = None
    limit: Limit | None = None
    cursor: str | None = None


class SubtreeQuery(msgspec.Struct, kw_only=True):
    view: View = View.FLAT


class DeleteQuery(msgspec.Struct, kw_only=True):
    recursive: bool = False


class NodePage(msgspec.Struct):
    """Flat: a page of nodes; tree: every root (or ``under``) with its children, no cursor."""

    items: Annotated[
        list[Any],
        msgspec.Meta(extra_json_schema={"items": {"anyOf": [NODE_TREE.ref, NODE.ref]}}),
    ]
    next_cursor: str | None = None


class NodeBatch(msgspec.Struct, forbid_unknown_fields=True):
    """Each node is checked by the Node record itself (400 naming ``nodes[i]``)."""

    nodes: Annotated[
        list[dict[str, Any]],
        list_of(NODE_CREATE),
        msgspec.Meta(min_length=1, max_length=MAX_BATCH),
    ]


class Created(msgspec.Struct):
    created: list[str]


class Deleted(msgspec.Struct):
    """Deepest first."""

    deleted: list[str]


def node_json(node: Node) -> dict[str, Any]:
    """A node's JSON form, with a point's live value and status from the PointStore."""
    data = node.to_dict()
    if node.is_point:
        state = services().get(PointStore).get(node.id)
        if state is not None:
            data["value"] = state.value
            data["status"] = state.status.value
            data["ts_ms"] = state.ts_ms
    return data


def tree_json(root: str | None) -> list[dict[str, Any]]:
    """Nested ``{...node, "children": [...]}`` from ``root`` (from every root when None)."""
    nodes = services().get(NodeStore)
    tops = [nodes.get(root)] if root is not None else nodes.children(None)

    def nest(node: Node) -> dict[str, Any]:
        data = node_json(node)
        data["children"] = [nest(child) for child in nodes.children(node.id)]
        return data

    return [nest(node) for node in tops]


@blueprint.get("/nodes")
@requires(Role.VIEWER)
@query(NodesQuery)
@responds(NodePage)
async def list_nodes(query_args: NodesQuery) -> dict[str, Any]:
    """Nodes, flat and paged (default) or as a nested tree (``view=tree``).

    Flat: ``{"items": [...], "next_cursor": str | null}`` sorted by id, filtered
    by ``type`` (node type), ``tag`` (repeatable; a node must carry all) and
    ``under`` (a node and its descendants); ``limit`` 1..500 (default 100) and
    ``cursor``. Tree: ``{"items": [root, ...]}`` where each node has
    ``children``, from every root or from ``under``; not paged, and
    ``type``/``tag`` are refused (filter the flat view instead).
    400 for a bad parameter, 404 for an unknown ``under``.
    """
    nodes = services().get(NodeStore)
    q = query_args
    node_type, tags = q.type, q.tag
    under = None if q.under is None else node_id_arg(q.under, what="under")
    if q.view is View.TREE:
        if node_type is not None or tags:
            raise InvalidInput("'type' and 'tag' filter the flat view only, not view=tree")
        if q.limit is not None or q.cursor is not None:
            raise InvalidInput("the tree view is not paged; use 'under' to fetch a part of it")
        return {"items": tree_json(under)}
    limit = DEFAULT_PAGE if q.limit is None else q.limit
    after = decode_cursor(_LISTING, q.cursor, str)
    found = sorted(nodes.find(node_type=node_type, tags=tags, under=under), key=lambda n: n.id)
    if after is not None:
        found = [node for node in found if node.id > after]
    page = found[:limit]
    return {
        "items": [node_json(node) for node in page],
        "next_cursor": encode_cursor(_LISTING, page[-1].id) if len(found) > limit else None,
    }


@blueprint.get("/nodes/<path:node_id>/subtree")
@requires(Role.VIEWER)
@query(SubtreeQuery)
@responds(NodePage)
async def node_subtree(node_id: str, query_args: SubtreeQuery) -> dict[str, Any]:
    """A node and all its descendants, read from the database.

    ``{"items": [...]}`` depth first (each parent before its children,
    siblings by id), or with ``view=tree`` ``{"items": [root]}`` nested.
    404 for an unknown node.
    """
    node_id = node_id_arg(node_id)
    if query_args.view is View.TREE:
        return {"items": tree_json(node_id)}
    subtree = await services().get(NodeStore).subtree(node_id)
    return {"items": [node_json(node) for node in subtree]}


@blueprint.get("/nodes/<path:node_id>")
@requires(Role.VIEWER)
@responds(NODE)
async def get_node(node_id: str) -> dict[str, Any]:
    """One node; 404 when it does not exist."""
    return node_json(services().get(NodeStore).get(node_id_arg(node_id)))


def _node_from_body(data: Any, what: str) -> Node:
    if not isinstance(data, Mapping):
        raise InvalidInput(f"{what} must be a JSON object")
    check_fields(data, allowed=_CREATE_FIELDS, required=("id", "node_type", "dis"), what=what)
    return Node.from_dict(data)


def _created(node: Node) -> tuple[Response, int, dict[str, str]]:
    return jsonify(node_json(node)), 201, {"Location": f"/api/nodes/{node.id}"}


@blueprint.post("/nodes")
@requires(Role.ADMIN)
@request_body(NODE_CREATE)
@responds(NODE, 201)
async def create_node() -> tuple[Response, int, dict[str, str]]:
    """Create one node from its JSON form; 201 with the node and a ``Location`` header.

    Required: ``id``, ``node_type``, ``dis``. 400 for a missing, unknown or
    bad field (``value`` and ``status`` are runtime state and refused),
    404 for an unknown ``parent_id``, 409 when the id exists.
    """
    node = _node_from_body(await json_body(), "node")
    created = await services().get(NodeStore).create(node)
    await audit_write(
        "node.create",
        created.id,
        {"node_type": created.node_type.value, "parent_id": created.parent_id},
    )
    return _created(created)


@blueprint.post("/nodes/batch")
@requires(Role.ADMIN)
@body(NodeBatch)
@responds(Created, 201)
async def create_nodes(data: NodeBatch) -> tuple[Response, int]:
    """Create many nodes in one transaction, all or none: ``{"nodes": [...]}``.

    Parents may come after their children in the list. 201 with
    ``{"created": [ids]}``; 400 naming the first bad node (by index), 404 for
    a parent that exists neither in the batch nor in the store, 409 for an id
    that exists. At most 10 000 nodes per call.
    """
    nodes = [_indexed(i, item) for i, item in enumerate(data.nodes)]
    try:
        created = await services().get(NodeStore).create_many(nodes)
    except InvalidInput as exc:
        # The store names the node (a bad alarm rule, an id given twice); the
        # caller wants its place in the list, as for a bad field above.
        ids = [node.id for node in nodes]
        node_id = exc.detail.get("node_id")
        if node_id not in ids:
            raise
        index = ids.index(node_id)
        raise InvalidInput(
            f"nodes[{index}]: {exc.message}", **{**exc.detail, "index": index}
        ) from None
    await audit_write("node.create_many", "", {"count": len(created), "ids": _sample(created)})
    return jsonify({"created": [node.id for node in created]}), 201


def _indexed(index: int, item: Any) -> Node:
    what = f"nodes[{index}]"
    try:
        return _node_from_body(item, what)
    except InvalidInput as exc:
        message = exc.message if exc.message.startswith(what) else f"{what}: {exc.message}"
        raise InvalidInput(message, **{**exc.detail, "index": index}) from None


def _sample(nodes: Iterable[Node], limit: int = 50) -> list[str]:
    # Audit detail stays small: an import of 10 000 points is one entry, not a megabyte.
    ids = [node.id for node in nodes]
    return ids[:limit] + ([f"... {len(ids) - limit} more"] if len(ids) > limit else [])


@blueprint.patch("/nodes/<path:node_id>")
@requires(Role.ADMIN)
@request_body(NODE_PATCH)
@responds(NODE)
async def update_node(node_id: str) -> dict[str, Any]:
    """Change fields of a node; ``parent_id`` moves it (with its subtree).

    Body: any of ``dis``, ``node_type``, ``tags``, ``refs``, ``properties``,
    ``capabilities``, ``protocol_binding``, ``unit``, ``kind``, ``parent_id``.
    Everything is checked before anything is written: 400 for an unknown or
    bad field, 404 for an unknown node or new parent, 409 for a move into the
    node's own subtree. Returns the node as stored.
    """
    node_id = node_id_arg(node_id)
    body = await json_body()
    check_fields(body, allowed=_PATCH_FIELDS)
    if not body:
        raise InvalidInput("nothing to change: the body has no fields")
    nodes = services().get(NodeStore)
    current = nodes.get(node_id)
    changes = {name: value for name, value in body.items() if name != "parent_id"}
    moving = "parent_id" in body and body["parent_id"] != current.parent_id
    # Check up front (the Node converters raise InvalidInput naming the field),
    # so a PATCH that also moves is never left half-applied by a bad field.
    attrs.evolve(current, **changes)
    if moving:
        _check_move(node_id, body["parent_id"])
    node = current
    if changes:
        node = await nodes.update(node_id, **changes)
        await audit_write("node.update", node_id, {"fields": sorted(changes)})
    if moving:
        node = await nodes.move(node_id, body["parent_id"])
        await audit_write("node.move", node_id, {"from": current.parent_id, "to": node.parent_id})
    return node_json(node)


def _check_move(node_id: str, parent_id: Any) -> None:
    if parent_id is None:
        return
    nodes = services().get(NodeStore)
    parent_id = node_id_arg(parent_id, what="parent_id") if isinstance(parent_id, str) else None
    if parent_id is None:
        raise InvalidInput("parent_id must be a node id or null", field="parent_id")
    if nodes.get_or_none(parent_id) is None:
        raise NotFound(f"no node {parent_id!r} (new parent_id)", node_id=parent_id)
    if parent_id in nodes.subtree_ids(node_id):
        raise Conflict(
            f"cannot move {node_id!r} under {parent_id!r}: that node is inside its own subtree",
            node_id=node_id,
            parent_id=parent_id,
        )


@blueprint.delete("/nodes/<path:node_id>")
@requires(Role.ADMIN)
@query(DeleteQuery)
@responds(Deleted)
async def delete_node(node_id: str, query_args: DeleteQuery) -> dict[str, Any]:
    """Delete a node; with ``recursive=true`` its whole subtree.

    ``{"deleted": [ids]}`` deepest first. 404 for an unknown node, 409 when
    it has children and ``recursive`` is not true (nothing is deleted).
    """
    node_id = node_id_arg(node_id)
    recursive = query_args.recursive
    deleted = await services().get(NodeStore).delete(node_id, recursive=recursive)
    await audit_write(
        "node.delete",
        node_id,
        {"recursive": recursive, "count": len(deleted), "ids": deleted[:50]},
    )
    return {"deleted": deleted}
