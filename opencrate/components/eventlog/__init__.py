"""The Iotellect-style event log: bus events recorded by rule (``events.db``)."""

from opencrate.runtime.component import ComponentSpec

__all__ = ["COMPONENT"]

COMPONENT = ComponentSpec(
    name="eventlog",
    component="opencrate.components.eventlog.component:EventLogComponent",
    routes=("opencrate.components.eventlog.routes:blueprint",),
    commands=("opencrate.components.eventlog.cli:events",),
    sections=("events",),
)
