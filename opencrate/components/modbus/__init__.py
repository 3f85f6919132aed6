"""The Modbus TCP bridge: field devices' registers in, commands out (``[[modbus.device]]``).

Its devices and point writes are served through the devices component
(``GET /api/devices``, ``opencrate point``), which it registers with.
"""

from opencrate.runtime.component import ComponentSpec

COMPONENT = ComponentSpec.in_package(
    __name__,
    "component:build",
    commands=("cli:simulate",),
    sections=("modbus",),
)
