"""The entities component: sites, spaces and equipment kept beside the node model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

from attrs import define

from opencrate.components.entities.store import EntityStore
from opencrate.components.nodes.store import NodeStore
from opencrate.runtime.actor import StoreActor
from opencrate.runtime.component import BuildContext, Component, Contribution

__all__ = ["EntitiesComponent"]


@define
class EntitiesComponent(Component):
    store: EntityStore
    nodes: NodeStore

    @classmethod
    def build(cls, ctx: BuildContext) -> Self:
        path = ctx.settings.data_dir / "entities.db"
        return cls(store=EntityStore(path, bus=ctx.bus, clock=ctx.clock), nodes=ctx.get(NodeStore))

    def stores(self) -> Sequence[StoreActor]:
        return (self.store,)

    def contributes(self) -> Sequence[Contribution]:
        return (Contribution(level=20, steps=[self._import_into_model]),)

    async def _import_into_model(self) -> None:
        await self.store.import_into(self.nodes)
