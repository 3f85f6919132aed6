"""EntityStore: legacy entity records in ``entities.db``, and their one-shot import into nodes.

Before the node model, OpenCrate kept the building as loose "entities": an id,
a type and a JSON document. This store keeps those records readable and
writable (``create`` / ``get`` / ``update`` / ``delete`` / ``list``, each write
publishing ``EntityCreated`` / ``EntityUpdated`` / ``EntityDeleted`` after its
commit) and converts them into nodes once, with :meth:`EntityStore.import_into`.

Schema (version 1)::

    entity(id TEXT PK, entity_type TEXT, data TEXT JSON, created_ms, updated_ms)
    meta(key TEXT PK, value TEXT JSON)       -- 'node_import': what the import did

The import
    Runs at start level 20 and is idempotent: the first run that finishes
    records itself in ``meta``; every later call does nothing and returns the
    recorded report with ``outcome == ALREADY_DONE``. A legacy record looks like
    ``{"id", "type"|"entity_type"|"node_type", "name"|"dis", "parent"|"parent_id",
    "tags", "refs", "binding"|"protocol_binding", "capabilities", "unit", "kind",
    "properties", ...}``; Haystack-style ``xxxRef`` keys become refs and any other
    key becomes a property, so nothing is dropped. Records that cannot be
    converted (bad type, bad binding, missing parent...) are reported by id with
    the reason. By default one bad record refuses the whole import (outcome
    ``REFUSED``, nothing created, nothing recorded: fix the records and start
    again); ``skip_invalid=True`` imports the others and records the failures.
    The nodes are created with one ``NodeStore.create_many``: all or nothing.
    Nodes that already exist *with the same content* count as
    ``already_present``, so an import interrupted between the node commit and
    the ``meta`` commit completes cleanly on the next start.
"""

from __future__ import annotations

import builtins
import enum
import json
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import trio
from attrs import frozen

from opencrate.clock import Clock, ms_to_iso
from opencrate.components.nodes.store import NodeStore
from opencrate.errors import Conflict, InvalidInput, NotFound
from opencrate.model.binding import freeze_json, thaw_json
from opencrate.model.ids import validate_node_id
from opencrate.model.node import Node, NodeType
from opencrate.runtime.actor import StoreActor
from opencrate.runtime.bus import EventBus
from opencrate.runtime.events import EntityCreated, EntityDeleted, EntityUpdated
from opencrate.runtime.records import Codec, column, columns, fetch_all, fetch_one

__all__ = [
    "Entity",
    "EntityStore",
    "ImportFailure",
    "ImportOutcome",
    "ImportReport",
    "entity_to_node",
]

_SCHEMA_V1 = """
CREATE TABLE entity (
    id           TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),
    entity_type  TEXT NOT NULL CHECK (entity_type <> ''),
    data         TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(data)),
    created_ms   INTEGER NOT NULL,
    updated_ms   INTEGER NOT NULL
);
CREATE INDEX entity_type_id ON entity (entity_type, id);
CREATE TABLE meta (
    key    TEXT PRIMARY KEY NOT NULL,
    value  TEXT NOT NULL CHECK (json_valid(value))
);
"""

_IMPORT_KEY = "node_import"


#: The JSON document, read-only in the record, JSON text in the table.
_DATA = Codec(
    from_sql=lambda text: freeze_json(json.loads(text), what="data"),
    to_sql=json.dumps,
    to_json=thaw_json,
    from_json=lambda value: freeze_json(value, what="data"),
    schema={"type": "object"},
)


@frozen(kw_only=True)
class Entity:
    """One legacy record. ``data`` is a read-only copy of its JSON document."""

    id: str = column(sql_type="TEXT")
    entity_type: str = column(sql_type="TEXT")
    data: Mapping[str, Any] = column(sql_type="TEXT", codec=_DATA)
    created_ms: int = column(sql_type="INTEGER")
    updated_ms: int = column(sql_type="INTEGER")


class ImportOutcome(enum.StrEnum):
    IMPORTED = "imported"  # this call ran the import and recorded it
    ALREADY_DONE = "already_done"  # an earlier call did; nothing happened now
    REFUSED = "refused"  # some records cannot be converted; nothing imported or recorded


@frozen(kw_only=True)
class ImportFailure:
    entity_id: str
    reason: str


@frozen(kw_only=True)
class ImportReport:
    """What :meth:`EntityStore.import_into` did (or, for ALREADY_DONE, what the earlier run did)."""

    outcome: ImportOutcome
    at_ms: int
    imported: tuple[str, ...] = ()
    already_present: tuple[str, ...] = ()
    failed: tuple[ImportFailure, ...] = ()

    def __str__(self) -> str:
        head = {
            ImportOutcome.IMPORTED: "imported legacy entities",
            ImportOutcome.ALREADY_DONE: "legacy entities were already imported; nothing done",
            ImportOutcome.REFUSED: "legacy entity import refused; nothing imported",
        }[self.outcome]
        return (
            f"{head} (run at {ms_to_iso(self.at_ms)}): {len(self.imported)} imported, "
            f"{len(self.already_present)} already present, {len(self.failed)} failed"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "at_ms": self.at_ms,
            "imported": list(self.imported),
            "already_present": list(self.already_present),
            "failed": [{"entity_id": f.entity_id, "reason": f.reason} for f in self.failed],
        }

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> ImportReport:
        """The report recorded in ``meta``, returned as ALREADY_DONE."""
        return cls(
            outcome=ImportOutcome.ALREADY_DONE,
            at_ms=int(data["at_ms"]),
            imported=tuple(data["imported"]),
            already_present=tuple(data["already_present"]),
            failed=tuple(ImportFailure(**f) for f in data["failed"]),
        )


_SELECT = f"SELECT {columns(Entity)} FROM entity"


def _check_type(entity_type: Any) -> str:
    if not isinstance(entity_type, str) or not entity_type.strip():
        raise InvalidInput(
            f"entity_type must be a non-empty string, got {entity_type!r}", field="entity_type"
        )
    return entity_type


# -- legacy record -> Node ---------------------------------------------------------------
# Legacy type names (lower case, without "-", "_" and spaces) -> node type and an extra tag.
_LEGACY_TYPES: dict[str, tuple[NodeType, str | None]] = {
    "site": (NodeType.SITE, None),
    "building": (NodeType.SITE, None),
    "space": (NodeType.SPACE, None),
    "floor": (NodeType.SPACE, "floor"),
    "room": (NodeType.SPACE, "room"),
    "zone": (NodeType.SPACE, "zone"),
    "equip": (NodeType.EQUIP, None),
    "equipment": (NodeType.EQUIP, None),
    "device": (NodeType.EQUIP, None),
    "point": (NodeType.POINT, None),
    "virtualpoint": (NodeType.VIRTUAL_POINT, None),
    "virtual": (NodeType.VIRTUAL_POINT, None),
}
# Legacy keys -> node field, first match wins.
_ALIASES: dict[str, tuple[str, ...]] = {
    "node_type": ("node_type", "type", "entity_type", "kind_of"),
    "dis": ("dis", "name", "display_name", "displayName"),
    "parent_id": ("parent_id", "parent", "parentId"),
    "protocol_binding": ("protocol_binding", "binding"),
}
_DIRECT = ("tags", "refs", "capabilities", "unit", "kind", "properties")
_RUNTIME = ("value", "status", "cur_val", "curVal")  # runtime state: PointStore's job


def _marker_tags(tags: Any) -> Any:
    # Haystack JSON writes markers as {"air": "m:", "temp": "m:"} (or true).
    if isinstance(tags, Mapping):
        return [k for k, v in tags.items() if v in (True, "m:", "\u2713", None)]
    return tags


def entity_to_node(entity: Entity) -> Node:
    """Convert one legacy record into a Node; InvalidInput says why it cannot be."""
    data = dict(entity.data)
    if "id" in data and data.pop("id") != entity.id:
        raise InvalidInput(f"its data names a different id than the record ({entity.id!r})")
    fields: dict[str, Any] = {"id": entity.id}
    for name, keys in _ALIASES.items():
        for key in keys:
            if key in data:
                fields[name] = data.pop(key)
                for other in keys:  # the losing aliases are not properties either
                    data.pop(other, None)
                break
    raw_type = str(fields.get("node_type", entity.entity_type))
    mapped = _LEGACY_TYPES.get(raw_type.lower().replace("-", "").replace("_", "").replace(" ", ""))
    if mapped is None:
        raise InvalidInput(f"unknown entity type {raw_type!r}", field="node_type")
    fields["node_type"], extra_tag = mapped
    fields.setdefault("dis", entity.id)
    for name in _DIRECT:
        if name in data:
            fields[name] = data.pop(name)
    fields["tags"] = _marker_tags(fields.get("tags", ()))
    if extra_tag is not None and isinstance(fields["tags"], list | tuple):
        fields["tags"] = [*fields["tags"], extra_tag]
    refs = fields.get("refs", {})
    if isinstance(refs, Mapping):  # anything else fails in Node, naming "refs"
        refs = dict(refs)
        for key in [k for k in data if k.endswith("Ref") and isinstance(data[k], str)]:
            refs.setdefault(key, data.pop(key))
        fields["refs"] = refs
    for key in _RUNTIME:
        data.pop(key, None)
    properties = fields.get("properties") or {}
    if data:
        if not isinstance(properties, Mapping):
            raise InvalidInput("properties must be an object", field="properties")
        properties = {**data, **properties}
    fields["properties"] = properties
    return Node(**fields)


class EntityStore(StoreActor):
    """Legacy entity records (``entities.db``) and their one-shot import into the NodeStore."""

    name = "entities"
    migrations = (_SCHEMA_V1,)

    def __init__(self, path: Path | str, *, bus: EventBus, clock: Clock | None = None) -> None:
        super().__init__(path, clock=clock)
        self.bus = bus
        self._import_lock = trio.Lock()

    # -- records -------------------------------------------------------------------------
    async def create(
        self, entity_id: str, entity_type: str, data: Mapping[str, Any] | None = None
    ) -> Entity:
        """Store a new record. Conflict if the id exists; InvalidInput for a bad id,
        type or a ``data`` that is not a JSON object (nothing is stored).
        Publishes ``EntityCreated`` after the commit."""
        validate_node_id(entity_id, what="entity id")
        _check_type(entity_type)
        document = json.dumps(thaw_json(freeze_json(data or {}, what="data")))
        now_ms = self.clock.now_ms()

        def insert(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM entity WHERE id = ?", (entity_id,)).fetchone():
                raise Conflict(f"entity {entity_id!r} already exists", entity_id=entity_id)
            conn.execute(
                "INSERT INTO entity (id, entity_type, data, created_ms, updated_ms) "
                "VALUES (?, ?, ?, ?, ?)",
                (entity_id, entity_type, document, now_ms, now_ms),
            )

        await self.write(insert)
        self.bus.publish(EntityCreated(ts_ms=now_ms, entity_id=entity_id, entity_type=entity_type))
        return Entity(
            id=entity_id,
            entity_type=entity_type,
            data=_DATA.from_sql(document),
            created_ms=now_ms,
            updated_ms=now_ms,
        )

    async def get(self, entity_id: str) -> Entity:
        """The record with ``entity_id``; NotFound if none."""

        def select(conn: sqlite3.Connection) -> Entity:
            entity = fetch_one(conn, Entity, f"{_SELECT} WHERE id = ?", (entity_id,))
            if entity is None:
                raise NotFound(f"no entity {entity_id!r}", entity_id=entity_id)
            return entity

        return await self.read(select)

    async def list(self, entity_type: str | None = None) -> builtins.list[Entity]:
        """Every record (of ``entity_type``, if given), sorted by id."""
        sql = _SELECT
        params: tuple[str, ...] = ()
        if entity_type is not None:
            sql += " WHERE entity_type = ?"
            params = (entity_type,)

        def select(conn: sqlite3.Connection) -> builtins.list[Entity]:
            return fetch_all(conn, Entity, sql + " ORDER BY id", params)

        return await self.read(select)

    async def update(
        self,
        entity_id: str,
        *,
        entity_type: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> Entity:
        """Replace a record's type and/or its whole ``data`` document.

        NotFound for an unknown id; InvalidInput for a bad type or data (nothing
        is written). Publishes ``EntityUpdated`` whose ``changed_fields`` are
        ``entity_type`` and/or the top-level data keys that were added, removed
        or changed; nothing when nothing changed.
        """
        if entity_type is not None:
            _check_type(entity_type)
        new_data = None if data is None else thaw_json(freeze_json(data, what="data"))
        now_ms = self.clock.now_ms()

        def apply(conn: sqlite3.Connection) -> tuple[Entity, tuple[str, ...]]:
            old = fetch_one(conn, Entity, f"{_SELECT} WHERE id = ?", (entity_id,))
            if old is None:
                raise NotFound(f"no entity {entity_id!r}", entity_id=entity_id)
            old_type, old_data = old.entity_type, thaw_json(old.data)
            type_ = old_type if entity_type is None else entity_type
            document = old_data if new_data is None else new_data
            # A key added or removed is a change even when its value is null.
            changed = sorted(
                k
                for k in old_data.keys() | document.keys()
                if k not in old_data or k not in document or old_data[k] != document[k]
            )
            if type_ != old_type:
                changed.insert(0, "entity_type")
            if not changed:
                return old, ()
            conn.execute(
                "UPDATE entity SET entity_type = ?, data = ?, updated_ms = ? WHERE id = ?",
                (type_, json.dumps(document), now_ms, entity_id),
            )
            updated = attrs.evolve(
                old, entity_type=type_, data=_DATA.from_sql(json.dumps(document)), updated_ms=now_ms
            )
            return updated, tuple(changed)

        entity, changed = await self.write(apply)
        if changed:
            self.bus.publish(
                EntityUpdated(ts_ms=now_ms, entity_id=entity_id, changed_fields=changed)
            )
        return entity

    async def delete(self, entity_id: str) -> None:
        """Delete a record; NotFound if there is none. Publishes ``EntityDeleted``."""

        def remove(conn: sqlite3.Connection) -> None:
            if conn.execute("DELETE FROM entity WHERE id = ?", (entity_id,)).rowcount == 0:
                raise NotFound(f"no entity {entity_id!r}", entity_id=entity_id)

        await self.write(remove)
        self.bus.publish(EntityDeleted(ts_ms=self.clock.now_ms(), entity_id=entity_id))

    # -- the one-shot import ---------------------------------------------------------------
    async def import_into(self, nodes: NodeStore, *, skip_invalid: bool = False) -> ImportReport:
        """Convert every legacy record into a node, once (see the module docs).

        Returns an :class:`ImportReport`: IMPORTED (this call did it),
        ALREADY_DONE (an earlier call did; nothing happened) or REFUSED (some
        records cannot be converted and ``skip_invalid`` is false; nothing was
        created or recorded). Errors from ``nodes.create_many`` (a node created
        concurrently with a conflicting id) propagate with nothing imported.
        Concurrent calls are serialised.
        """
        async with self._import_lock:
            recorded = await self.read(_read_import_record)
            if recorded is not None:
                return ImportReport.from_record(recorded)
            entities = await self.list()
            plan = _plan_import(entities, nodes)
            at_ms = self.clock.now_ms()
            report = ImportReport(
                outcome=ImportOutcome.IMPORTED,
                at_ms=at_ms,
                imported=tuple(n.id for n in plan.create),
                already_present=plan.already_present,
                failed=plan.failed,
            )
            if plan.failed and not skip_invalid:
                return ImportReport(outcome=ImportOutcome.REFUSED, at_ms=at_ms, failed=plan.failed)
            await nodes.create_many(plan.create)
            record = json.dumps(report.to_dict())

            def save(conn: sqlite3.Connection) -> None:
                conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (_IMPORT_KEY, record))

            await self.write(save)
            return report


def _read_import_record(conn: sqlite3.Connection) -> dict[str, Any] | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (_IMPORT_KEY,)).fetchone()
    return None if row is None else dict(json.loads(row[0]))


@frozen(kw_only=True)
class _Plan:
    create: tuple[Node, ...]
    already_present: tuple[str, ...]
    failed: tuple[ImportFailure, ...]


def _plan_import(entities: builtins.list[Entity], nodes: NodeStore) -> _Plan:
    """Decide, without writing anything, which records become which nodes."""
    converted: dict[str, Node] = {}
    failed: dict[str, str] = {}
    already: builtins.list[str] = []
    for entity in entities:
        try:
            node = entity_to_node(entity)
        except InvalidInput as exc:
            failed[entity.id] = str(exc)
            continue
        existing = nodes.get_or_none(node.id)
        if existing is None:
            converted[node.id] = node
        elif existing == node:
            already.append(node.id)
        else:
            failed[entity.id] = "a different node with this id already exists"
    # A record whose parent is neither imported nor a node cannot be created;
    # repeat, because its own children then fail too.
    changed = True
    while changed:
        changed = False
        for node_id, node in builtins.list(converted.items()):
            parent = node.parent_id
            if parent is None or parent in converted or nodes.get_or_none(parent) is not None:
                continue
            reason = (
                f"its parent {parent!r} was not imported"
                if parent in failed
                else f"its parent {parent!r} does not exist"
            )
            failed[node_id] = reason
            del converted[node_id]
            changed = True
    return _Plan(
        create=tuple(converted.values()),
        already_present=tuple(already),
        failed=tuple(ImportFailure(entity_id=i, reason=r) for i, r in sorted(failed.items())),
    )
