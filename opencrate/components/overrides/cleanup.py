"""When a node is deleted, its runtime state goes with it.

The NodeStore owns the model; the PointStore (live values) and the
OverrideStore (operator overrides) hold state keyed by node id that would
otherwise outlive the node: a deleted point would still answer
``GET /api/points/{id}`` and an override on it would stay "active" forever.
This engine follows ``EntityDeleted`` on the bus and ends both. The event log
and the alarm store clean up after deleted nodes themselves.
"""

from __future__ import annotations

import logging

import trio

from opencrate.components.overrides.store import OverrideStore
from opencrate.components.points.store import PointStore
from opencrate.errors import NotFound
from opencrate.runtime.bus import EventBus
from opencrate.runtime.events import EntityDeleted, Lagged
from opencrate.runtime.progress import CountsProcessed

__all__ = ["NodeCleanup"]

log = logging.getLogger(__name__)

#: Recorded as the user who ended an override because its point was deleted.
CLEANUP_USER = "system:node-deleted"


class NodeCleanup(CountsProcessed):
    """Follows ``EntityDeleted``; ``processed`` counts the deleted nodes forgotten."""

    def __init__(self, bus: EventBus, *, points: PointStore, overrides: OverrideStore) -> None:
        super().__init__()
        self._bus = bus
        self._points = points
        self._overrides = overrides
        self.cleaned = 0

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Forever: forget the runtime state of every deleted node. Cancel to stop."""
        with self._bus.subscribe(EntityDeleted, name="node-cleanup") as events:
            task_status.started()
            while True:
                for item in await events.receive_batch():
                    if isinstance(item, Lagged):
                        # Deletions are rare; losing 4096 of them means something
                        # else is badly wrong. Say so rather than guess.
                        log.warning("node cleanup missed %d deletions", item.count)
                    elif isinstance(item, EntityDeleted):
                        await self.forget(item.entity_id)

    async def forget(self, node_id: str) -> None:
        """End ``node_id``'s override (if any) and drop its live value."""
        if self._overrides.get(node_id) is not None:
            try:
                await self._overrides.release(node_id, user=CLEANUP_USER)
            except NotFound:
                pass  # released or expired meanwhile: nothing left to end
        self._points.remove(node_id)
        self.cleaned += 1
        self._processed.add()
