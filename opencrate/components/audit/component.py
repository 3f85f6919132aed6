"""The audit component: the append-only log of every write (``audit.db``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

from attrs import define

from opencrate.components.audit.store import AuditStore
from opencrate.runtime.actor import StoreActor
from opencrate.runtime.component import BuildContext, Component

__all__ = ["AuditComponent"]


@define
class AuditComponent(Component):
    store: AuditStore

    @classmethod
    def build(cls, ctx: BuildContext) -> Self:
        return cls(store=AuditStore(ctx.settings.data_dir / "audit.db", clock=ctx.clock))

    def provides(self) -> Sequence[object]:
        return (self.store,)

    def stores(self) -> Sequence[StoreActor]:
        return (self.store,)
