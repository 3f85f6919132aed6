"""The points component: live value and status of every point, in memory."""

from __future__ import annotations

from opencrate.components.points.store import PointStore
from opencrate.runtime.component import BuildContext, Parts

__all__ = ["build"]


def build(ctx: BuildContext) -> Parts:
    return Parts(provides=(PointStore(ctx.bus, ctx.clock),))
