"""The nodes component: the building model (``nodes.db``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

from attrs import define

from opencrate.components.nodes.store import NodeStore
from opencrate.runtime.actor import StoreActor
from opencrate.runtime.component import BuildContext, Component

__all__ = ["NodesComponent"]


@define
class NodesComponent(Component):
    store: NodeStore

    @classmethod
    def build(cls, ctx: BuildContext) -> Self:
        path = ctx.settings.data_dir / "nodes.db"
        return cls(store=NodeStore(path, bus=ctx.bus, clock=ctx.clock))

    def provides(self) -> Sequence[object]:
        return (self.store,)

    def stores(self) -> Sequence[StoreActor]:
        return (self.store,)
