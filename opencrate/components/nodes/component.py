"""The nodes component: the building model (``nodes.db``)."""

from __future__ import annotations

from typing import Self

from attrs import define

from opencrate.components.nodes.store import NodeStore
from opencrate.runtime.component import BuildContext, StoreComponent

__all__ = ["NodesComponent"]


@define
class NodesComponent(StoreComponent):
    store: NodeStore

    @classmethod
    def build(cls, ctx: BuildContext) -> Self:
        path = ctx.settings.data_dir / "nodes.db"
        return cls(store=NodeStore(path, bus=ctx.bus, clock=ctx.clock))
