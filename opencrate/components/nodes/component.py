"""The nodes component: the building model (``nodes.db``)."""

from __future__ import annotations

from opencrate.components.nodes.store import NodeStore
from opencrate.runtime.component import BuildContext, Parts

__all__ = ["build"]


def build(ctx: BuildContext) -> Parts:
    return Parts(
        stores=(NodeStore(ctx.settings.data_dir / "nodes.db", bus=ctx.bus, clock=ctx.clock),)
    )
