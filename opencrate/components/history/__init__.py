"""Point history: openHAB-style persistence services, strategies, extensions, retention."""

from opencrate.runtime.component import ComponentSpec

COMPONENT = ComponentSpec.in_package(
    __name__,
    "component:build",
    routes=("routes:blueprint", "config_routes:blueprint"),
    commands=("cli:history", "config_cli:persistence"),
    sections=("persistence", "history"),
)
