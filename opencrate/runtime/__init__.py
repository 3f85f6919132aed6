"""The runtime: store actors, the event bus, watches and the supervisor."""
