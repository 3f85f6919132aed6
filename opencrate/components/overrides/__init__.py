"""Operator overrides of points, with expiry and history (``overrides.db``)."""

from opencrate.runtime.component import ComponentSpec

__all__ = ["COMPONENT"]

COMPONENT = ComponentSpec(
    name="overrides",
    component="opencrate.components.overrides.component:OverridesComponent",
    routes=("opencrate.components.overrides.routes:blueprint",),
)
