"""The BACnet/IP bridge: discovery, the DiscoveryStore, accept, polling, COV and writes."""
