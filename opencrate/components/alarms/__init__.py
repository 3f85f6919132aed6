"""Alarms: records and their life cycle (``alarms.db``), limit and stale-value engines."""

from opencrate.runtime.component import ComponentSpec

COMPONENT = ComponentSpec.in_package(
    __name__,
    "component:AlarmsComponent.build",
    routes=("routes:blueprint",),
    commands=("cli:alarms",),
    sections=("alarms",),
)
