"""The properties component: persistent key/value state per context (``properties.db``)."""

from __future__ import annotations

from opencrate.components.properties.store import PropertyStore
from opencrate.runtime.component import BuildContext, StoreComponent

__all__ = ["build"]


def build(ctx: BuildContext) -> StoreComponent:
    section = ctx.settings.sections.get("properties")
    path = ctx.settings.data_dir / "properties.db"
    return StoreComponent(PropertyStore.from_section(path, section, clock=ctx.clock))
