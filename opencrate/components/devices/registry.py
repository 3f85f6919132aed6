"""Every bridge's field devices in one list: ``GET /api/devices`` and ``opencrate devices``.

An operator asks "which devices are down?" once, not once per protocol. Each
bridge registers itself as a :class:`DeviceSource` (``registry.add(bridge)``
when its component is built) and describes its devices as
:class:`DeviceView` records: the health every bridge shares (the model of
:mod:`.health`) in the same members everywhere, and what only its protocol
knows (a Modbus unit id, a BACnet vendor) under ``details``.

Device ids are unique across bridges (the points' bindings name them, the
API addresses them by id alone): two sources reporting one id is a
ConfigError naming it and both protocols.
"""

from __future__ import annotations

from typing import Any, Protocol

import msgspec

from opencrate.components.devices.health import DeviceStatistics
from opencrate.errors import ConfigError, NotFound

__all__ = ["DeviceRegistry", "DeviceSource", "DeviceView"]


# A msgspec Struct rather than an attrs record: it is the API's answer as it
# stands, so its fields are the OpenAPI schema, written once (its docstring is
# the schema's description).
class DeviceView(msgspec.Struct, frozen=True, kw_only=True):
    """One field device: where it is, its health, and its protocol's own fields (``details``)."""

    id: str
    protocol: str  # the bridge: "modbus", "bacnet"
    address: str  # where it is, in the protocol's own notation ("10.0.0.5:502 unit 1")
    points: int  # the model's points the bridge reads from it
    state: str  # unknown | online | retrying | down
    successes: int
    failures: int
    consecutive_failures: int
    last_error: str | None
    last_rtt_ms: float | None
    last_success_ms: int | None
    last_failure_ms: int | None
    next_retry_s: float | None
    details: dict[str, Any] = msgspec.field(default_factory=dict)

    @classmethod
    def from_statistics(
        cls,
        health: DeviceStatistics,
        *,
        protocol: str,
        address: str,
        points: int,
        details: dict[str, Any] | None = None,
    ) -> DeviceView:
        """The view of a device whose health is ``health`` (its ``device_key`` is the id)."""
        rtt = health.last_rtt_s
        return cls(
            id=health.device_key,
            protocol=protocol,
            address=address,
            points=points,
            state=health.state.value,
            successes=health.successes,
            failures=health.failures,
            consecutive_failures=health.consecutive_failures,
            last_error=health.last_error,
            last_rtt_ms=None if rtt is None else round(rtt * 1000, 3),
            last_success_ms=health.last_success_ms,
            last_failure_ms=health.last_failure_ms,
            next_retry_s=health.next_delay_s,
            details=dict(details or {}),
        )


class DeviceSource(Protocol):
    """What a bridge offers the registry: its devices' views."""

    @property
    def protocol(self) -> str:
        """The bridge's name (``"modbus"``): the views' ``protocol``."""
        ...

    def device_views(self) -> list[DeviceView]:
        """Every device the bridge polls now (any order)."""
        ...

    def device_view(self, key: str) -> DeviceView:
        """The device ``key``; NotFound when the bridge has no such device."""
        ...


class DeviceRegistry:
    """The bridges' device sources, asked in turn (see the module docstring)."""

    def __init__(self) -> None:
        self._sources: dict[str, DeviceSource] = {}

    def add(self, source: DeviceSource) -> None:
        """Register a bridge; ValueError when a source of its protocol is registered already."""
        if source.protocol in self._sources:
            raise ValueError(f"a {source.protocol} device source is registered already")
        self._sources[source.protocol] = source

    @property
    def protocols(self) -> list[str]:
        """The registered bridges' protocols, in registration order."""
        return list(self._sources)

    def device_views(self) -> list[DeviceView]:
        """Every bridge's devices, by id.

        Raises ConfigError naming the id and the protocols when two bridges
        report one device id.
        """
        found: dict[str, DeviceView] = {}
        for source in self._sources.values():
            for view in source.device_views():
                other = found.get(view.id)
                if other is not None:
                    raise _duplicate(view.id, other.protocol, view.protocol)
                found[view.id] = view
        return [found[key] for key in sorted(found)]

    def device_view(self, key: str) -> DeviceView:
        """The device ``key`` of whichever bridge has it.

        Raises NotFound naming ``key`` when none has it, ConfigError when two do.
        """
        found: list[DeviceView] = []
        for source in self._sources.values():
            try:
                found.append(source.device_view(key))
            except NotFound:
                continue
        if not found:
            raise NotFound(f"no device {key!r} is polled", device=key)
        if len(found) > 1:
            raise _duplicate(key, found[0].protocol, found[1].protocol)
        return found[0]


def _duplicate(key: str, first: str, second: str) -> ConfigError:
    return ConfigError(
        f"device id {key!r} is used by both the {first} and the {second} bridge; "
        "device ids must be unique across bridges",
        device=key,
    )
