"""The Iotellect-style event log: bus events recorded by rule (``events.db``)."""

from opencrate.runtime.component import ComponentSpec

COMPONENT = ComponentSpec.in_package(
    __name__,
    "component:EventLogComponent.build",
    routes=("routes:blueprint",),
    commands=("cli:events",),
    sections=("events",),
)
