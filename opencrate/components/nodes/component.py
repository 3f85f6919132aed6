"""The nodes component: the building model (``nodes.db``)."""

from __future__ import annotations

from opencrate.components.nodes.store import NodeStore
from opencrate.runtime.component import BuildContext, StoreComponent

__all__ = ["build"]


def build(ctx: BuildContext) -> StoreComponent:
    return StoreComponent(
        NodeStore(ctx.settings.data_dir / "nodes.db", bus=ctx.bus, clock=ctx.clock)
    )
