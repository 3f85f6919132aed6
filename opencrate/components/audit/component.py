"""The audit component: the append-only log of every write (``audit.db``)."""

from __future__ import annotations

from typing import Self

from attrs import define

from opencrate.components.audit.store import AuditStore
from opencrate.runtime.component import BuildContext, StoreComponent

__all__ = ["AuditComponent"]


@define
class AuditComponent(StoreComponent):
    store: AuditStore

    @classmethod
    def build(cls, ctx: BuildContext) -> Self:
        return cls(store=AuditStore(ctx.settings.data_dir / "audit.db", clock=ctx.clock))
