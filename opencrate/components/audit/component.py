"""The audit component: the append-only log of every write (``audit.db``)."""

from __future__ import annotations

from opencrate.components.audit.store import AuditStore
from opencrate.runtime.component import BuildContext, Parts

__all__ = ["build"]


def build(ctx: BuildContext) -> Parts:
    return Parts(stores=(AuditStore(ctx.settings.data_dir / "audit.db", clock=ctx.clock),))
