"""The properties component: persistent key/value state per context (``properties.db``)."""

from __future__ import annotations

from opencrate.components.properties.store import PropertyStore
from opencrate.runtime.component import BuildContext, Parts

__all__ = ["build"]


def build(ctx: BuildContext) -> Parts:
    section = ctx.settings.sections.get("properties")
    path = ctx.settings.data_dir / "properties.db"
    return Parts(stores=(PropertyStore.from_section(path, section, clock=ctx.clock),))
