"""The BACnet/IP bridge: discovery, the DiscoveryStore, accept, polling, COV and writes."""

from opencrate.runtime.component import ComponentSpec

COMPONENT = ComponentSpec.in_package(
    __name__,
    "component:build",
    # The shared ``simulate`` group (Modbus's) with ``simulate bacnet`` added to it.
    commands=("simulate_cli:simulate",),
    sections=("bacnet",),
)
