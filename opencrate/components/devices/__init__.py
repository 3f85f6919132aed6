"""Field devices, whatever their protocol: health, the device list, and point commands.

The machinery every bridge shares, so that Modbus and BACnet are judged,
listed and commanded alike: the device-health model (:mod:`.health`), the
DeviceRegistry behind ``GET /api/devices`` (:mod:`.registry`), and the
priority-array write path with its CommandRouter behind
``POST /api/points/{id}/write`` and operator overrides (:mod:`.commands`).
Listed before the bridges, which register with it when they are built.
"""

from opencrate.runtime.component import ComponentSpec

COMPONENT = ComponentSpec.in_package(
    __name__,
    "component:build",
    routes=("routes:blueprint",),
    commands=("cli:devices", "cli:point"),
)
