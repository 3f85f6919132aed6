"""``GET /api/devices`` and ``GET /api/devices/{device_id}``: Modbus devices and their health."""

from __future__ import annotations

from typing import Any

import msgspec
from quart import Blueprint

from opencrate.api.access import Role, requires
from opencrate.api.context import services
from opencrate.api.contract import responds
from opencrate.components.modbus.bridge import ModbusBridge
from opencrate.components.modbus.poller import DevicePoller

__all__ = ["blueprint"]

blueprint = Blueprint("modbus", __name__)


class DeviceView(msgspec.Struct):
    """One polled device: where it is, its health and its connection's counts."""

    id: str
    protocol: str
    host: str
    port: int
    unit_id: int
    points: int
    state: str  # unknown | online | retrying | down
    successes: int
    failures: int
    consecutive_failures: int
    last_error: str | None
    last_rtt_ms: float | None
    last_success_ms: int | None
    last_failure_ms: int | None
    next_retry_s: float | None
    requests: int
    timeouts: int
    reconnects: int
    connected: bool


class DevicePage(msgspec.Struct):
    items: list[DeviceView]


def _view(poller: DevicePoller) -> DeviceView:
    health = poller.statistics()
    client = poller.client.statistics()
    device = poller.device
    rtt = health.last_rtt_s
    return DeviceView(
        id=device.id,
        protocol="modbus",
        host=device.host,
        port=device.port,
        unit_id=device.unit_id,
        points=len(poller.points),
        state=health.state.value,
        successes=health.successes,
        failures=health.failures,
        consecutive_failures=health.consecutive_failures,
        last_error=health.last_error,
        last_rtt_ms=None if rtt is None else round(rtt * 1000, 3),
        last_success_ms=health.last_success_ms,
        last_failure_ms=health.last_failure_ms,
        next_retry_s=health.next_delay_s,
        requests=client.requests,
        timeouts=client.timeouts,
        reconnects=client.reconnects,
        connected=client.connected,
    )


@blueprint.get("/devices")
@requires(Role.VIEWER)
@responds(DevicePage)
async def list_devices() -> dict[str, Any]:
    """Every polled device with its state, last error, round-trip time and counts, by id."""
    bridge = services().get(ModbusBridge)
    views = [_view(bridge.pollers[key]) for key in sorted(bridge.pollers)]
    answer: dict[str, Any] = msgspec.to_builtins(DevicePage(items=views))
    return answer


@blueprint.get("/devices/<device_id>")
@requires(Role.VIEWER)
@responds(DeviceView)
async def get_device(device_id: str) -> dict[str, Any]:
    """One polled device; 404 when no device of that id is polled."""
    answer: dict[str, Any] = msgspec.to_builtins(
        _view(services().get(ModbusBridge).poller(device_id))
    )
    return answer
