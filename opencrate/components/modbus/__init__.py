"""The Modbus TCP bridge: field devices' registers in, commands out (``[[modbus.device]]``)."""

from opencrate.runtime.component import ComponentSpec

COMPONENT = ComponentSpec.in_package(
    __name__,
    "component:build",
    routes=("routes:blueprint",),
    commands=("cli:devices", "cli:point", "cli:simulate"),
    sections=("modbus",),
)
