"""Field devices and point commands over HTTP, for every bridge alike.

``GET /api/devices`` lists every bridge's devices with their health (the
DeviceRegistry); ``POST /api/points/{node_id}/write`` commands a bridged
point at a priority (1-16, default 8) for a time or until relinquished, and
``GET /api/points/{node_id}/priority`` shows its sixteen slots (the
CommandRouter, which finds the bridge that owns the point).
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import msgspec
from quart import Blueprint

from opencrate.api.access import Role, requires
from opencrate.api.auditing import audit_write, current_user
from opencrate.api.context import services
from opencrate.api.contract import body, responds
from opencrate.api.params import node_id_arg
from opencrate.components.devices.commands import CommandRouter, PriorityView, WriteResult
from opencrate.components.devices.registry import DeviceRegistry, DeviceView
from opencrate.components.nodes.store import NodeStore
from opencrate.components.nodes.well_known import value_range
from opencrate.errors import InvalidInput
from opencrate.model.priority import DEFAULT_PRIORITY
from opencrate.model.values import PointValue, coerce_value
from opencrate.validation import parse_duration_ms

__all__ = ["blueprint"]

blueprint = Blueprint("devices", __name__)


class DevicePage(msgspec.Struct):
    items: list[DeviceView]


@blueprint.get("/devices")
@requires(Role.VIEWER)
@responds(DevicePage)
async def list_devices() -> dict[str, Any]:
    """Every bridge's devices with their state, last error, round-trip time and counts, by id."""
    views = services().get(DeviceRegistry).device_views()
    answer: dict[str, Any] = msgspec.to_builtins(DevicePage(items=views))
    return answer


@blueprint.get("/devices/<device_id>")
@requires(Role.VIEWER)
@responds(DeviceView)
async def get_device(device_id: str) -> dict[str, Any]:
    """One device, of whichever bridge polls it; 404 when none does."""
    answer: dict[str, Any] = msgspec.to_builtins(
        services().get(DeviceRegistry).device_view(device_id)
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


def _duration_s(raw: str | float) -> float:
    """The body's ``duration`` (``"30m"``, ``"2h"``, or a number of seconds) in seconds."""
    if isinstance(raw, str):
        try:
            seconds = parse_duration_ms(raw) / 1000
        except InvalidInput as exc:
            raise InvalidInput(f"duration: {exc.message}", field="duration") from None
    else:
        seconds = float(raw)
    if not math.isfinite(seconds) or seconds <= 0:
        raise InvalidInput(f"duration must be above zero, got {raw!r}", field="duration")
    return seconds


@blueprint.post("/points/<path:node_id>/write")
@requires(Role.OPERATOR)
@body(WriteBody)
@responds(WriteAnswer)
async def write_point(node_id: str, data: WriteBody) -> dict[str, Any]:
    """Command a bridged point: ``{"value", "priority"?, "duration"?}``.

    The point's priority array decides which command wins; the bridge sends
    it to the device and reads the point back (``read_back``). ``value`` null
    relinquishes ``priority``'s slot. 404 for a point no bridge writes, 400
    for a read-only point, a value outside the point's ``minVal``/``maxVal``
    or what the device can hold, a bad priority or duration; 502/504 when the
    device refuses or does not answer (the slot is then not kept).
    """
    svc = services()
    node = svc.get(NodeStore).get(node_id_arg(node_id))
    value: PointValue | None = None
    if data.value is not None:
        value = coerce_value(data.value, node.kind)
        limits = value_range(node.properties)
        if limits is not None:
            limits.check(value, point=node.id)
    duration_s = None if data.duration is None else _duration_s(data.duration)
    result = await svc.get(CommandRouter).write(
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
    view = await services().get(CommandRouter).priority_view(node_id_arg(node_id))
    answer: dict[str, Any] = msgspec.to_builtins(view)
    return answer
