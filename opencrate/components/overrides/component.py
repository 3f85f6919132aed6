"""The overrides component: operator overrides, their expiry, and cleanup after deleted nodes."""

from __future__ import annotations

from opencrate.components.overrides.cleanup import NodeCleanup
from opencrate.components.overrides.store import OverrideStore
from opencrate.components.points.store import PointStore
from opencrate.runtime.component import BuildContext, Contribution, Parts
from opencrate.runtime.supervisor import Service

__all__ = ["build"]


def build(ctx: BuildContext) -> Parts:
    points = ctx.get(PointStore)
    path = ctx.settings.data_dir / "overrides.db"
    store = OverrideStore(path, points=points, bus=ctx.bus, clock=ctx.clock)
    cleanup = NodeCleanup(ctx.bus, points=points, overrides=store)
    services = [
        Service(name="override-expiry", run=store.run_expiry),
        Service(name="node-cleanup", run=cleanup.run),
    ]
    return Parts(stores=(store,), contributions=(Contribution(level=50, services=services),))
