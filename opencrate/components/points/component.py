"""The points component: live value and status of every point, in memory."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

from attrs import define

from opencrate.components.points.store import PointStore
from opencrate.runtime.component import BuildContext, Component

__all__ = ["PointsComponent"]


@define
class PointsComponent(Component):
    store: PointStore

    @classmethod
    def build(cls, ctx: BuildContext) -> Self:
        return cls(store=PointStore(ctx.bus, ctx.clock))

    def provides(self) -> Sequence[object]:
        return (self.store,)
