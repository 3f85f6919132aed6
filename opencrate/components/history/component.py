"""The history component: persistence services, their strategies, restore and retention."""

from __future__ import annotations

from opencrate.components.history.setup import Persistence
from opencrate.components.nodes.store import NodeStore
from opencrate.components.points.store import PointStore
from opencrate.runtime.component import BuildContext, Contribution, Parts
from opencrate.runtime.supervisor import Service

__all__ = ["build"]


def build(ctx: BuildContext) -> Parts:
    persistence = Persistence.build(
        ctx.settings,
        bus=ctx.bus,
        points=ctx.get(PointStore),
        nodes=ctx.get(NodeStore),
        clock=ctx.clock,
    )
    # restoreOnStartup runs inside the service before it reports started, so
    # programs and alarm rules (50) never see an unrestored point.
    restore = Service(name="persistence", run=persistence.run)
    # Each sqlite service's [retention], following config changes.
    retention = Service(name="history-retention", run=persistence.retention.run)
    return Parts(
        provides=(persistence,),
        stores=persistence.stores(),
        contributions=(
            Contribution(level=30, services=[restore]),
            Contribution(level=50, services=[retention]),
        ),
    )
