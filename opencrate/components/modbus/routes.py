"""Modbus devices and their health (``GET /api/devices``); point writes with a priority.

``POST /api/points/{node_id}/write`` commands a writable Modbus point at a
priority (1-16, default 8) for a time or until relinquished;
``GET /api/points/{node_id}/priority`` shows the point's sixteen slots.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from quart import Blueprint

from opencrate.api.access import Role, requires
from opencrate.api.auditing import audit_write, current_user
from opencrate.api.context import services
from opencrate.api.contract import body, responds
from opencrate.api.params import node_id_arg
from opencrate.components.modbus.bridge import ModbusBridge
from opencrate.components.modbus.devices import parse_duration_s
from opencrate.components.modbus.poller import DevicePoller
from opencrate.components.modbus.writes import ModbusWriter, WriteResult
from opencrate.components.nodes.store import NodeStore
from opencrate.components.nodes.well_known import value_range
from opencrate.model.priority import DEFAULT_PRIORITY, PriorityArray
from opencrate.model.values import PointValue, coerce_value

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


# -- point writes ------------------------------------------------------------------------
class WriteBody(msgspec.Struct, forbid_unknown_fields=True):
    value: Annotated[
        float | bool | str | None,
        msgspec.Meta(description="Coerced to the point's kind ('21.5'); null relinquishes."),
    ]
    priority: Annotated[int, msgspec.Meta(ge=1, le=16)] = DEFAULT_PRIORITY
    duration: Annotated[
        str | float | None,
        msgspec.Meta(description="'30m', '2h' or seconds; the slot is relinquished after it."),
    ] = None


class WriteAnswer(msgspec.Struct):
    point_id: str
    priority: int
    active_priority: int | None
    commanded: float | bool | str | None
    read_back: float | bool | str | None


class Slot(msgspec.Struct):
    priority: int
    value: float | bool | str
    by: str
    at_ms: int
    until_ms: int | None


class PriorityView(msgspec.Struct):
    point_id: str
    active_priority: int | None
    value: float | bool | str | None
    slots: Annotated[list[Slot | None], msgspec.Meta(min_length=16, max_length=16)]


def _write_answer(result: WriteResult) -> dict[str, Any]:
    answer: dict[str, Any] = msgspec.to_builtins(
        WriteAnswer(
            point_id=result.point_id,
            priority=result.priority,
            active_priority=result.active_priority,
            commanded=result.commanded,
            read_back=result.read_back,
        )
    )
    return answer


def _priority_view(point_id: str, array: PriorityArray) -> dict[str, Any]:
    active = array.active
    slots = [
        None
        if c is None
        else Slot(priority=c.priority, value=c.value, by=c.by, at_ms=c.at_ms, until_ms=c.until_ms)
        for c in array.slots()
    ]
    view = PriorityView(
        point_id=point_id,
        active_priority=None if active is None else active.priority,
        value=array.value,
        slots=slots,
    )
    answer: dict[str, Any] = msgspec.to_builtins(view)
    return answer


@blueprint.post("/points/<path:node_id>/write")
@requires(Role.OPERATOR)
@body(WriteBody)
@responds(WriteAnswer)
async def write_point(node_id: str, data: WriteBody) -> dict[str, Any]:
    """Command a writable Modbus point: ``{"value", "priority"?, "duration"?}``.

    The point's priority array decides: the lowest-numbered occupied slot is
    written to the device, then read back (``read_back``). ``value`` null
    relinquishes ``priority``'s slot. 404 for a point the bridge does not
    poll, 400 for a read-only point (input register, discrete input), a
    value outside the point's ``minVal``/``maxVal`` or the register type, a
    bad priority or duration; 502/504 when the device refuses or does not
    answer (the slot is then not kept).
    """
    svc = services()
    node = svc.get(NodeStore).get(node_id_arg(node_id))
    value: PointValue | None = None
    if data.value is not None:
        value = coerce_value(data.value, node.kind)
        limits = value_range(node.properties)
        if limits is not None:
            limits.check(value, point=node.id)
    duration_s = None if data.duration is None else parse_duration_s(data.duration, key="duration")
    result = await svc.get(ModbusWriter).write(
        node.id, value, priority=data.priority, by=current_user(), duration_s=duration_s
    )
    action = "point.write" if value is not None else "point.relinquish"
    await audit_write(
        action,
        node.id,
        {"value": value, "priority": data.priority, "duration_s": duration_s,
         "read_back": result.read_back},
    )  # fmt: skip
    return _write_answer(result)


@blueprint.get("/points/<path:node_id>/priority")
@requires(Role.VIEWER)
@responds(PriorityView)
async def point_priority(node_id: str) -> dict[str, Any]:
    """The point's priority array: sixteen slots (index 0 = priority 1), the winner's value."""
    point_id = node_id_arg(node_id)
    return _priority_view(point_id, services().get(ModbusWriter).array(point_id))
