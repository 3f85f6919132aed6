"""The entities component: sites, spaces and equipment kept beside the node model."""

from __future__ import annotations

from opencrate.components.entities.store import EntityStore
from opencrate.components.nodes.store import NodeStore
from opencrate.runtime.component import BuildContext, Contribution, Parts

__all__ = ["build"]


def build(ctx: BuildContext) -> Parts:
    store = EntityStore(ctx.settings.data_dir / "entities.db", bus=ctx.bus, clock=ctx.clock)
    nodes = ctx.get(NodeStore)

    async def import_into_model() -> None:
        await store.import_into(nodes)

    return Parts(
        stores=(store,), contributions=(Contribution(level=20, steps=[import_into_model]),)
    )
