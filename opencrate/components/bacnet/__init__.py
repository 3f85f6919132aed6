"""The BACnet/IP bridge: discovery, the DiscoveryStore, accept, polling, COV and writes."""

from opencrate.runtime.component import ComponentSpec

COMPONENT = ComponentSpec.in_package(
    __name__,
    "component:build",
    routes=("routes:blueprint",),
    commands=("cli:discover", "simulate_cli:simulate"),
    sections=("bacnet",),
)
