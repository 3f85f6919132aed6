"""Persistent properties: update-heavy key/value state per context (``properties.db``)."""

from opencrate.runtime.component import ComponentSpec

COMPONENT = ComponentSpec.in_package(
    __name__,
    "component:build",
    routes=("routes:blueprint",),
    sections=("properties",),
)
