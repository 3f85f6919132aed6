"""Live value and status of every point (in memory; publishes ValueChanged/StatusChanged)."""

from opencrate.runtime.component import ComponentSpec

COMPONENT = ComponentSpec.in_package(__name__, "component:build", routes=("routes:blueprint",))
