"""The SQL side of the NodeStore: schema, loading nodes, writing them.

Plain functions of a ``sqlite3.Connection`` that run in the store's worker
thread (writes inside the actor's transaction, loads on either connection).
:mod:`opencrate.components.nodes.store` decides when.

Schema (version 1), normalised as seed 000 names it::

    node(id PK, node_type, dis, parent_id -> node(id), unit, kind, created_ms, updated_ms)
    node_tag(node_id -> node ON DELETE CASCADE, tag)            PK (node_id, tag)
    node_ref(node_id -> node ON DELETE CASCADE, name, target_id) PK (node_id, name)
    node_property(node_id -> node ON DELETE CASCADE, key, value JSON)
    node_capability(node_id -> node ON DELETE CASCADE, capability)
    protocol_binding(node_id PK -> node ON DELETE CASCADE, protocol, config JSON)

``node.parent_id`` is a foreign key *without* cascade: the database itself
refuses to delete a node that still has children, so a recursive delete must
go deepest first. ``node_ref.target_id`` is deliberately not a foreign key:
refs may name a node that does not exist (yet, or any more); see
``docs/reference/node-model.md``.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from opencrate.model.binding import ProtocolBinding
from opencrate.model.node import Node, NodeCapabilities
from opencrate.runtime.records import columns, from_row, named_rows

__all__ = [
    "MAX_DEPTH",
    "SCHEMA_V1",
    "delete_nodes",
    "exists",
    "insert_node",
    "load_all",
    "load_node",
    "load_subtree",
    "subtree_ids",
    "update_node",
]

#: Deepest tree the recursive queries follow; a guard against a cycle written
#: into the file by hand (the store itself never creates one).
MAX_DEPTH = 1000

_SEP = "\x1f"  # sorts below every character a node id may contain (no control chars)

# A migration is history: it is spelled out, never built from code that may change.
SCHEMA_V1 = """
CREATE TABLE node (
    id          TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),
    node_type   TEXT NOT NULL
                CHECK (node_type IN ('site', 'space', 'equip', 'point', 'virtual_point')),
    dis         TEXT NOT NULL,
    parent_id   TEXT REFERENCES node (id),
    unit        TEXT,
    kind        TEXT CHECK (kind IS NULL OR kind IN ('number', 'bool', 'enum', 'str')),
    created_ms  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL,
    CHECK (parent_id IS NULL OR parent_id <> id)
);
CREATE INDEX node_parent ON node (parent_id);
CREATE TABLE node_tag (
    node_id  TEXT NOT NULL REFERENCES node (id) ON DELETE CASCADE,
    tag      TEXT NOT NULL CHECK (tag <> ''),
    PRIMARY KEY (node_id, tag)
) WITHOUT ROWID;
CREATE INDEX node_tag_tag ON node_tag (tag, node_id);
CREATE TABLE node_ref (
    node_id    TEXT NOT NULL REFERENCES node (id) ON DELETE CASCADE,
    name       TEXT NOT NULL CHECK (name <> ''),
    target_id  TEXT NOT NULL,
    PRIMARY KEY (node_id, name)
) WITHOUT ROWID;
CREATE INDEX node_ref_target ON node_ref (target_id);
CREATE TABLE node_property (
    node_id  TEXT NOT NULL REFERENCES node (id) ON DELETE CASCADE,
    key      TEXT NOT NULL CHECK (key <> ''),
    value    TEXT NOT NULL CHECK (json_valid(value)),
    PRIMARY KEY (node_id, key)
) WITHOUT ROWID;
CREATE TABLE node_capability (
    node_id     TEXT NOT NULL REFERENCES node (id) ON DELETE CASCADE,
    capability  TEXT NOT NULL CHECK (capability IN
                ('readable', 'writable', 'historizable', 'alarmable', 'schedulable')),
    PRIMARY KEY (node_id, capability)
) WITHOUT ROWID;
CREATE TABLE protocol_binding (
    node_id   TEXT PRIMARY KEY NOT NULL REFERENCES node (id) ON DELETE CASCADE,
    protocol  TEXT NOT NULL CHECK (protocol <> ''),
    config    TEXT NOT NULL CHECK (json_valid(config))
) WITHOUT ROWID;
CREATE INDEX protocol_binding_protocol ON protocol_binding (protocol);
"""

# A selection of nodes as a CTE ``sel(id, path, depth)``; ``path`` orders it depth first.
_SELECT_ALL = "sel(id, path, depth) AS (SELECT id, id, 0 FROM node)"
_SELECT_ONE = "sel(id, path, depth) AS (SELECT id, id, 0 FROM node WHERE id = :root)"
_SELECT_SUBTREE = f"""sel(id, path, depth) AS (
    SELECT id, id, 0 FROM node WHERE id = :root
    UNION ALL
    SELECT node.id, sel.path || char({ord(_SEP)}) || node.id, sel.depth + 1
    FROM node JOIN sel ON node.parent_id = sel.id
    WHERE sel.depth < {MAX_DEPTH}
)"""


#: The record's columns of ``node``, read from the alias ``n`` by name.
_NODE_COLUMNS = ", ".join(f"n.{name}" for name in columns(Node).split(", "))


def _load(conn: sqlite3.Connection, selection: str, params: dict[str, Any]) -> list[Node]:
    """Build the selected nodes, in the selection's depth-first order."""
    with_ = f"WITH RECURSIVE {selection} "
    tags: dict[str, list[str]] = defaultdict(list)
    refs: dict[str, dict[str, str]] = defaultdict(dict)
    props: dict[str, dict[str, Any]] = defaultdict(dict)
    caps: dict[str, list[str]] = defaultdict(list)
    bindings: dict[str, ProtocolBinding] = {}
    join = "JOIN sel ON sel.id = t.node_id"
    for node_id, tag in conn.execute(
        f"{with_}SELECT t.node_id, t.tag FROM node_tag t {join}", params
    ):
        tags[node_id].append(tag)
    for node_id, name, target in conn.execute(
        f"{with_}SELECT t.node_id, t.name, t.target_id FROM node_ref t {join}", params
    ):
        refs[node_id][name] = target
    for node_id, key, value in conn.execute(
        f"{with_}SELECT t.node_id, t.key, t.value FROM node_property t {join}", params
    ):
        props[node_id][key] = json.loads(value)
    for node_id, capability in conn.execute(
        f"{with_}SELECT t.node_id, t.capability FROM node_capability t {join}", params
    ):
        caps[node_id].append(capability)
    for node_id, protocol, config in conn.execute(
        f"{with_}SELECT t.node_id, t.protocol, t.config FROM protocol_binding t {join}", params
    ):
        bindings[node_id] = ProtocolBinding(protocol=protocol, config=json.loads(config))
    rows = named_rows(
        conn,
        f"{with_}SELECT {_NODE_COLUMNS} FROM node n JOIN sel ON sel.id = n.id ORDER BY sel.path",
        params,
    )
    return [
        from_row(
            Node,
            row,
            tags=tags.get(row["id"], ()),
            refs=refs.get(row["id"], {}),
            properties=props.get(row["id"], {}),
            capabilities=NodeCapabilities.from_names(caps.get(row["id"], ())),
            protocol_binding=bindings.get(row["id"]),
        )
        for row in rows
    ]


def load_all(conn: sqlite3.Connection) -> list[Node]:
    """Every node (order unspecified beyond being deterministic)."""
    return _load(conn, _SELECT_ALL, {})


def load_node(conn: sqlite3.Connection, node_id: str) -> Node | None:
    """One node, or ``None`` if there is none with that id."""
    found = _load(conn, _SELECT_ONE, {"root": node_id})
    return found[0] if found else None


def load_subtree(conn: sqlite3.Connection, node_id: str) -> list[Node]:
    """``node_id`` and everything below it, depth first, children by id (recursive CTE)."""
    return _load(conn, _SELECT_SUBTREE, {"root": node_id})


def subtree_ids(conn: sqlite3.Connection, node_id: str) -> list[str]:
    """The ids of ``node_id``'s subtree in depth-first order (empty if it does not exist)."""
    sql = f"WITH RECURSIVE {_SELECT_SUBTREE} SELECT id FROM sel ORDER BY path"
    return [row[0] for row in conn.execute(sql, {"root": node_id})]


def exists(conn: sqlite3.Connection, node_id: str) -> bool:
    return conn.execute("SELECT 1 FROM node WHERE id = ?", (node_id,)).fetchone() is not None


# -- writes (inside the actor's transaction) ---------------------------------------------
def _write_tags(conn: sqlite3.Connection, node: Node) -> None:
    conn.execute("DELETE FROM node_tag WHERE node_id = ?", (node.id,))
    conn.executemany(
        "INSERT INTO node_tag (node_id, tag) VALUES (?, ?)", [(node.id, t) for t in node.tags]
    )


def _write_refs(conn: sqlite3.Connection, node: Node) -> None:
    conn.execute("DELETE FROM node_ref WHERE node_id = ?", (node.id,))
    conn.executemany(
        "INSERT INTO node_ref (node_id, name, target_id) VALUES (?, ?, ?)",
        [(node.id, name, target) for name, target in node.refs.items()],
    )


def _write_properties(conn: sqlite3.Connection, node: Node) -> None:
    conn.execute("DELETE FROM node_property WHERE node_id = ?", (node.id,))
    conn.executemany(
        "INSERT INTO node_property (node_id, key, value) VALUES (?, ?, ?)",
        [(node.id, key, json.dumps(value)) for key, value in node.properties.items()],
    )


def _write_capabilities(conn: sqlite3.Connection, node: Node) -> None:
    conn.execute("DELETE FROM node_capability WHERE node_id = ?", (node.id,))
    conn.executemany(
        "INSERT INTO node_capability (node_id, capability) VALUES (?, ?)",
        [(node.id, name) for name in sorted(node.capabilities.names())],
    )


def _write_binding(conn: sqlite3.Connection, node: Node) -> None:
    conn.execute("DELETE FROM protocol_binding WHERE node_id = ?", (node.id,))
    binding = node.protocol_binding
    if binding is not None:
        conn.execute(
            "INSERT INTO protocol_binding (node_id, protocol, config) VALUES (?, ?, ?)",
            (node.id, binding.protocol, json.dumps(dict(binding.config))),
        )


#: Node fields kept in a table of their own, and the function that rewrites it.
_DETAIL_WRITERS = {
    "tags": _write_tags,
    "refs": _write_refs,
    "properties": _write_properties,
    "capabilities": _write_capabilities,
    "protocol_binding": _write_binding,
}
#: Node fields kept as columns of ``node`` (besides id and the timestamps).
_COLUMNS = ("node_type", "dis", "parent_id", "unit", "kind")


def _column_value(node: Node, name: str) -> Any:
    value = getattr(node, name)
    return None if value is None else str(value)


def insert_node(conn: sqlite3.Connection, node: Node, now_ms: int) -> None:
    """Insert ``node`` and its detail rows. The caller checked id and parent."""
    conn.execute(
        "INSERT INTO node (id, node_type, dis, parent_id, unit, kind, created_ms, updated_ms) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (node.id, *(_column_value(node, c) for c in _COLUMNS), now_ms, now_ms),
    )
    for write in _DETAIL_WRITERS.values():
        write(conn, node)


def update_node(conn: sqlite3.Connection, node: Node, changed: Iterable[str], now_ms: int) -> None:
    """Write the ``changed`` fields of ``node`` (an existing node) and bump ``updated_ms``."""
    changed = set(changed)
    columns = [c for c in _COLUMNS if c in changed]
    assignments = "".join(f"{c} = ?, " for c in columns)
    conn.execute(
        f"UPDATE node SET {assignments}updated_ms = ? WHERE id = ?",
        (*(_column_value(node, c) for c in columns), now_ms, node.id),
    )
    for name, write in _DETAIL_WRITERS.items():
        if name in changed:
            write(conn, node)


def delete_nodes(conn: sqlite3.Connection, deepest_first: Sequence[str]) -> None:
    """Delete nodes, children before parents; detail rows go by ON DELETE CASCADE."""
    conn.executemany("DELETE FROM node WHERE id = ?", [(node_id,) for node_id in deepest_first])
