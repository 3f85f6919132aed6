"""Loading a scenario into the NodeStore, idempotently.

:func:`load_scenario_into` makes the store hold the scenario's nodes as the
file describes them, whatever it held before:

* nodes that do not exist yet are created, all in one transaction;
* nodes that exist but differ (name, tags, refs, properties, capabilities,
  binding, unit, kind, type) are updated field by field, and moved when their
  parent changed;
* nodes that already match are left alone (no write, no event).

So starting twice on the same data directory neither duplicates nor fails, and
editing the file then restarting applies exactly the edit. Nodes in the store
that the scenario does not mention (created through the API, say) are never
touched: the loader adds and updates, it does not delete. A change made
through the API to a node the scenario describes is undone at the next load:
the scenario file is the source of truth for its own nodes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio
from attrs import frozen

from opencrate.components.nodes.store import UPDATABLE_FIELDS, NodeStore
from opencrate.components.scenario.build import build_nodes
from opencrate.components.scenario.format import Scenario
from opencrate.components.scenario.parse import load_scenario
from opencrate.model.node import Node

__all__ = ["LoadReport", "apply_scenario", "load_scenario_into"]


@frozen(kw_only=True)
class LoadReport:
    """What a load did, by node id."""

    scenario: str
    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    moved: tuple[str, ...] = ()
    unchanged: int = 0

    @property
    def total(self) -> int:
        """Nodes in the scenario."""
        return len(self.created) + len(set(self.updated) | set(self.moved)) + self.unchanged

    def __str__(self) -> str:
        return (
            f"{self.total} nodes: {len(self.created)} created, {len(self.updated)} updated, "
            f"{len(self.moved)} moved, {self.unchanged} unchanged"
        )


async def load_scenario_into(path: Path, nodes: NodeStore) -> LoadReport:
    """Read the scenario at ``path`` and make ``nodes`` hold its nodes (see module doc).

    Raises :class:`~opencrate.errors.ConfigError` naming file, line and key
    for a bad file (nothing is written), and the store's errors
    (:class:`~opencrate.errors.StoreError`, ...) if a write fails. The
    creations are one transaction; updates are one command each, so a failure
    part-way leaves earlier updates applied and a later load finishes the job.
    The file is read in a worker thread. Cancellation: a write already queued
    still completes (store actor semantics).
    """
    scenario = await trio.to_thread.run_sync(load_scenario, path)
    return await apply_scenario(scenario, nodes)


async def apply_scenario(scenario: Scenario, nodes: NodeStore) -> LoadReport:
    """As :func:`load_scenario_into`, for a scenario already read."""
    wanted = build_nodes(scenario)
    to_create: list[Node] = []
    to_update: list[tuple[str, dict[str, Any]]] = []
    to_move: list[tuple[str, str | None]] = []
    unchanged = 0
    for node in wanted:
        current = nodes.get_or_none(node.id)
        if current is None:
            to_create.append(node)
            continue
        changes = {
            name: getattr(node, name)
            for name in sorted(UPDATABLE_FIELDS)
            if getattr(node, name) != getattr(current, name)
        }
        if changes:
            to_update.append((node.id, changes))
        if current.parent_id != node.parent_id:
            to_move.append((node.id, node.parent_id))
        if not changes and current.parent_id == node.parent_id:
            unchanged += 1
    # Create first: a moved node's new parent may be one of the new nodes.
    await nodes.create_many(to_create)
    for node_id, changes in to_update:
        await nodes.update(node_id, **changes)
    for node_id, parent_id in to_move:
        await nodes.move(node_id, parent_id)
    return LoadReport(
        scenario=scenario.source,
        created=tuple(node.id for node in to_create),
        updated=tuple(node_id for node_id, _ in to_update),
        moved=tuple(node_id for node_id, _ in to_move),
        unchanged=unchanged,
    )
