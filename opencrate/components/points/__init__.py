"""Live value and status of every point (in memory; publishes ValueChanged/StatusChanged)."""

from opencrate.runtime.component import ComponentSpec

__all__ = ["COMPONENT"]

COMPONENT = ComponentSpec(
    name="points",
    component="opencrate.components.points.component:PointsComponent",
    routes=("opencrate.components.points.routes:blueprint",),
)
