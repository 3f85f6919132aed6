"""Persistent properties: update-heavy key/value state per context (``properties.db``)."""

from opencrate.runtime.component import ComponentSpec

__all__ = ["COMPONENT"]

COMPONENT = ComponentSpec(
    name="properties",
    component="opencrate.components.properties.component:PropertiesComponent",
    routes=("opencrate.components.properties.routes:blueprint",),
    sections=("properties",),
)
