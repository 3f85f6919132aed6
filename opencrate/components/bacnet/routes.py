"""Discovery over HTTP: scan, see what was found, accept or ignore.

``POST /api/discovery/scan`` runs a Who-Is (global, ranged or directed) and
reads every answering device's objects, answering when it is done (a few
seconds: the scan timeout plus the reads). ``GET /api/discovery/devices``
lists what the DiscoveryStore holds (ignored devices only when asked),
``GET /api/discovery/devices/{key}`` one device with its point objects.
``POST .../accept`` creates the device's equipment and points in the model
(auto-tagged) and starts polling it; ``POST .../ignore`` hides it from later
scans. Scans, accepts and ignores are in the audit log.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from quart import Blueprint

from opencrate.api.access import Role, requires
from opencrate.api.auditing import audit_write
from opencrate.api.context import services
from opencrate.api.contract import body, list_of, query, record_component, responds
from opencrate.components.bacnet.bridge import BacnetBridge
from opencrate.components.bacnet.records import DeviceState, DiscoveredDevice, DiscoveredPoint
from opencrate.components.bacnet.store import DiscoveryStore
from opencrate.errors import InvalidInput
from opencrate.runtime.records import to_json
from opencrate.validation import parse_duration_s

__all__ = ["blueprint"]

blueprint = Blueprint("discovery", __name__)

DEVICE = record_component(DiscoveredDevice)
POINT = record_component(DiscoveredPoint)

_INSTANCE = msgspec.Meta(ge=0, le=4_194_303)


class ScanBody(msgspec.Struct, forbid_unknown_fields=True):
    low: Annotated[int, _INSTANCE] | None = None
    high: Annotated[int, _INSTANCE] | None = None
    # The constraint on the str inside the optional (msgspec refuses max_length on str | None).
    address: (
        Annotated[
            str, msgspec.Meta(max_length=300, description="A directed Who-Is to 'host[:port]'.")
        ]
        | None
    ) = None
    timeout: Annotated[
        str | float | None,
        msgspec.Meta(description="How long to collect I-Ams: '3s' or seconds (at most 60)."),
    ] = None


class ScanAnswer(msgspec.Struct):
    mode: str  # global | ranged | directed
    devices: list[str]
    new_devices: list[str]
    point_count: int
    failed: list[str]
    duration_s: float


class DevicesQuery(msgspec.Struct, kw_only=True):
    state: DeviceState | None = None
    include_ignored: bool = False


class DiscoveredPage(msgspec.Struct):
    items: Annotated[list[Any], list_of(DEVICE)]


class PointPage(msgspec.Struct):
    items: Annotated[list[Any], list_of(POINT)]


class DiscoveredDetail(msgspec.Struct):
    device: Annotated[Any, msgspec.Meta(extra_json_schema=DEVICE.ref)]
    points: Annotated[list[Any], list_of(POINT)]


class AcceptBody(msgspec.Struct, forbid_unknown_fields=True):
    parent_id: (
        Annotated[
            str,
            msgspec.Meta(max_length=200, description="A site or space to put the equipment in."),
        ]
        | None
    ) = None


class IgnoreBody(msgspec.Struct, forbid_unknown_fields=True):
    """Ignore takes no body; one that is sent must be an empty JSON object."""


class AcceptAnswer(msgspec.Struct):
    device_key: str
    created_node_ids: list[str]
    polled_points: int


def _bridge() -> BacnetBridge:
    return services().get(BacnetBridge)


@blueprint.post("/discovery/scan")
@requires(Role.OPERATOR)
@body(ScanBody, optional=True)
@responds(ScanAnswer)
async def scan(data: ScanBody | None) -> dict[str, Any]:
    """Who-Is and read what answers: global (no body), ranged (low, high), directed (address).

    409 when the BACnet bridge is not running; 400 for a bad range, address
    or timeout.
    """
    data = data or ScanBody()
    if (data.low is None) != (data.high is None):
        raise InvalidInput("a ranged scan needs both low and high", field="low")
    if data.low is not None and data.high is not None and data.low > data.high:
        raise InvalidInput(f"low ({data.low}) is above high ({data.high})", field="low")
    timeout_s = None
    if data.timeout is not None:
        timeout_s = parse_duration_s(data.timeout, key="timeout")
        if timeout_s > 60:
            raise InvalidInput("timeout is at most 60 seconds", field="timeout")
    result = await _bridge().discovery.scan(
        low=data.low, high=data.high, address=data.address, timeout_s=timeout_s
    )
    await audit_write(
        "discovery.scan", "bacnet",
        {"mode": result.mode, "devices": len(result.devices), "points": result.point_count},
    )  # fmt: skip
    answer: dict[str, Any] = msgspec.to_builtins(
        ScanAnswer(
            mode=result.mode,
            devices=list(result.devices),
            new_devices=list(result.new_devices),
            point_count=result.point_count,
            failed=list(result.failed),
            duration_s=result.duration_s,
        )
    )
    return answer


@blueprint.get("/discovery/devices")
@requires(Role.VIEWER)
@query(DevicesQuery)
@responds(DiscoveredPage)
async def list_discovered(query_args: DevicesQuery) -> dict[str, Any]:
    """Discovered devices by key (``state``; ignored ones only with ``include_ignored``)."""
    store = services().get(DiscoveryStore)
    devices = await store.list(
        state=query_args.state,
        include_ignored=query_args.include_ignored or query_args.state is DeviceState.IGNORED,
    )
    return {"items": [to_json(d) for d in devices]}


@blueprint.get("/discovery/devices/<key>")
@requires(Role.VIEWER)
@responds(DiscoveredDetail)
async def get_discovered(key: str) -> dict[str, Any]:
    """One discovered device and its point objects; 404 for an unknown key."""
    store = services().get(DiscoveryStore)
    device = await store.get(key)
    points = await store.points(key)
    return {"device": to_json(device), "points": [to_json(p) for p in points]}


@blueprint.get("/discovery/devices/<key>/points")
@requires(Role.VIEWER)
@responds(PointPage)
async def discovered_points(key: str) -> dict[str, Any]:
    """The device's point objects as discovery read them; 404 for an unknown key."""
    points = await services().get(DiscoveryStore).points(key)
    return {"items": [to_json(p) for p in points]}


@blueprint.post("/discovery/devices/<key>/accept")
@requires(Role.ADMIN)
@body(AcceptBody, optional=True)
@responds(AcceptAnswer)
async def accept(key: str, data: AcceptBody | None) -> dict[str, Any]:
    """Create the device's equipment and points (kept where they exist) and poll them.

    404 for an unknown device or parent, 400 for a parent that is not a
    site or space, 409 when the bridge is not running.
    """
    bridge = _bridge()
    created = await bridge.discovery.accept(key, parent_id=None if data is None else data.parent_id)
    await audit_write("discovery.accept", key, {"created_node_ids": created})
    poller = bridge.pollers.get(key)
    answer: dict[str, Any] = msgspec.to_builtins(
        AcceptAnswer(
            device_key=key,
            created_node_ids=created,
            polled_points=0 if poller is None else len(poller.points),
        )
    )
    return answer


@blueprint.post("/discovery/devices/<key>/ignore")
@requires(Role.ADMIN)
@body(IgnoreBody, optional=True)
@responds(DEVICE)
async def ignore(key: str, data: IgnoreBody | None) -> dict[str, Any]:
    """Hide the device from later scans (its nodes, if any, stay); 404 for an unknown key."""
    device = await services().get(DiscoveryStore).set_state(key, DeviceState.IGNORED)
    await audit_write("discovery.ignore", key, {})
    return to_json(device)
