"""The BACnet/IP bridge: discovery, the DiscoveryStore, polling, COV and commands."""
