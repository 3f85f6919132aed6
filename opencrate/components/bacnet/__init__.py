"""The BACnet/IP bridge: discovery, the DiscoveryStore, accept, polling, COV and writes."""

from opencrate.runtime.component import ComponentSpec

# Minimal for now: only ``opencrate simulate bacnet`` (the bridge's parts come with it).
COMPONENT = ComponentSpec.in_package(
    __name__,
    "component:build",
    commands=("simulate_cli:simulate",),
)
