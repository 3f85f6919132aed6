"""The history component: persistence services, their strategies, restore and retention."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

from attrs import define

from opencrate.components.history.setup import Persistence
from opencrate.components.nodes.store import NodeStore
from opencrate.components.points.store import PointStore
from opencrate.runtime.actor import StoreActor
from opencrate.runtime.component import BuildContext, Component, Contribution
from opencrate.runtime.supervisor import Service

__all__ = ["HistoryComponent"]


@define
class HistoryComponent(Component):
    persistence: Persistence

    @classmethod
    def build(cls, ctx: BuildContext) -> Self:
        persistence = Persistence.build(
            ctx.settings,
            bus=ctx.bus,
            points=ctx.get(PointStore),
            nodes=ctx.get(NodeStore),
            clock=ctx.clock,
        )
        return cls(persistence=persistence)

    def provides(self) -> Sequence[object]:
        return (self.persistence, *self.persistence.stores())

    def stores(self) -> Sequence[StoreActor]:
        return self.persistence.stores()

    def contributes(self) -> Sequence[Contribution]:
        return (
            # restoreOnStartup runs inside the service before it reports started,
            # so programs and alarm rules (50) never see an unrestored point.
            Contribution(
                level=30, services=[Service(name="persistence", run=self.persistence.run)]
            ),
            # Each sqlite service's [retention], following config changes.
            Contribution(
                level=50,
                services=[Service(name="history-retention", run=self.persistence.retention.run)],
            ),
        )
