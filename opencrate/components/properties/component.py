"""The properties component: persistent key/value state per context (``properties.db``)."""

from __future__ import annotations

from typing import Self

from attrs import define

from opencrate.components.properties.store import PropertyStore
from opencrate.runtime.component import BuildContext, StoreComponent

__all__ = ["PropertiesComponent"]


@define
class PropertiesComponent(StoreComponent):
    store: PropertyStore

    @classmethod
    def build(cls, ctx: BuildContext) -> Self:
        path = ctx.settings.data_dir / "properties.db"
        section = ctx.settings.sections.get("properties")
        return cls(store=PropertyStore.from_section(path, section, clock=ctx.clock))
