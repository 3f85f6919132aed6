"""Alarms: records and their life cycle (``alarms.db``), limit and stale-value engines."""

from opencrate.runtime.component import ComponentSpec

__all__ = ["COMPONENT"]

COMPONENT = ComponentSpec(
    name="alarms",
    component="opencrate.components.alarms.component:AlarmsComponent",
    routes=("opencrate.components.alarms.routes:blueprint",),
    commands=("opencrate.components.alarms.cli:alarms",),
    sections=("alarms",),
)
