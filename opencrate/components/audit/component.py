"""The audit component: the append-only log of every write (``audit.db``)."""

from __future__ import annotations

from opencrate.components.audit.store import AuditStore
from opencrate.runtime.component import BuildContext, StoreComponent

__all__ = ["build"]


def build(ctx: BuildContext) -> StoreComponent:
    return StoreComponent(AuditStore(ctx.settings.data_dir / "audit.db", clock=ctx.clock))
