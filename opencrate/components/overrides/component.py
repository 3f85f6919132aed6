"""The overrides component: operator overrides, their expiry, and cleanup after deleted nodes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

from attrs import define

from opencrate.components.overrides.cleanup import NodeCleanup
from opencrate.components.overrides.store import OverrideStore
from opencrate.components.points.store import PointStore
from opencrate.runtime.actor import StoreActor
from opencrate.runtime.component import BuildContext, Component, Contribution
from opencrate.runtime.supervisor import Service

__all__ = ["OverridesComponent"]


@define
class OverridesComponent(Component):
    store: OverrideStore
    cleanup: NodeCleanup

    @classmethod
    def build(cls, ctx: BuildContext) -> Self:
        points = ctx.get(PointStore)
        store = OverrideStore(
            ctx.settings.data_dir / "overrides.db", points=points, bus=ctx.bus, clock=ctx.clock
        )
        return cls(store=store, cleanup=NodeCleanup(ctx.bus, points=points, overrides=store))

    def stores(self) -> Sequence[StoreActor]:
        return (self.store,)

    def contributes(self) -> Sequence[Contribution]:
        return (
            Contribution(
                level=50,
                services=[
                    Service(name="override-expiry", run=self.store.run_expiry),
                    Service(name="node-cleanup", run=self.cleanup.run),
                ],
            ),
        )
