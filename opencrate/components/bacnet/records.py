"""What discovery found: :class:`DiscoveredDevice` and :class:`DiscoveredPoint` (seed 000).

Both are frozen records whose fields name their columns in ``discovery.db``
(tables ``discovered_device`` and ``discovered_point``, see
:mod:`opencrate.components.bacnet.store`) and their JSON members, so the
store, the routes and the CLI share one shape.

A device's :class:`DeviceState` is ``discovered`` when it answered a scan,
``accepted`` once an operator took it into the node model, ``ignored`` when
an operator chose to hide it from later scans.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable

import attrs
from attrs import frozen

from opencrate.components.bacnet.values import ANALOG, BINARY, COMMANDABLE, POINT_TYPES
from opencrate.model.values import PointValue, ValueKind
from opencrate.runtime.records import (
    BOOL_INT,
    JSON_TEXT,
    Codec,
    column,
    column_meta,
    enum_codec,
)

__all__ = [
    "BACNET_MAX_INSTANCE",
    "DEFAULT_NETWORK_ID",
    "POINT_OBJECT_TYPES",
    "DeviceState",
    "DiscoveredDevice",
    "DiscoveredPoint",
    "PointObjectType",
    "Sighting",
    "device_key",
]

#: BACnet device and object instances are 22-bit numbers (4194303 is "unconfigured").
BACNET_MAX_INSTANCE = 4_194_303

#: The network a device is on when the I-Am does not say otherwise (schema v3's default).
DEFAULT_NETWORK_ID = "ip-main"


class DeviceState(enum.StrEnum):
    DISCOVERED = "discovered"  # answered a scan; not in the node model
    ACCEPTED = "accepted"  # an operator accepted it; its Equip and Point nodes exist
    IGNORED = "ignored"  # an operator chose to hide it from later scans


@frozen(kw_only=True)
class PointObjectType:
    """A BACnet object type that becomes a Point node when its device is accepted."""

    name: str  # "analog-input"
    kind: ValueKind  # the point's value kind
    commandable: bool  # outputs always have a priority array; values may


#: The object types accept turns into points (other objects, such as the device
#: object, a trend log or a schedule, stay in the object list only).
POINT_OBJECT_TYPES: dict[str, PointObjectType] = {
    name: PointObjectType(
        name=name,
        kind=ValueKind.NUMBER if name in ANALOG else ValueKind.BOOL if name in BINARY
        else ValueKind.ENUM,
        commandable=name in COMMANDABLE,
    )
    for name in sorted(POINT_TYPES)
}  # fmt: skip


def device_key(device_instance: int) -> str:
    """The discovery key (and equip node id) of a BACnet device: ``"1001"``."""
    return str(device_instance)


def _node_ids(value: Iterable[str] | None) -> tuple[str, ...]:
    # Rows from before schema v2, and devices never accepted, hold NULL.
    return () if value is None else tuple(value)


def _load_node_ids(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text))


def _dump_node_ids(ids: tuple[str, ...]) -> str:
    return json.dumps(list(ids))


_STATE = enum_codec(DeviceState)
_NULLABLE_BOOL = {"type": ["boolean", "null"]}
_NODE_IDS = Codec(
    from_sql=_load_node_ids,
    to_sql=_dump_node_ids,
    to_json=list,
    from_json=tuple,
    schema={"type": "array", "items": {"type": "string"}},
)


@frozen(kw_only=True)
class DiscoveredDevice:
    """One row of ``discovered_device``: a device that answered a scan."""

    device_key: str = column(sql_type="TEXT")
    protocol: str = column(sql_type="TEXT")
    device_instance: int | None = column(sql_type="INTEGER")
    address: str = column(sql_type="TEXT", description="where it answered from, e.g. 10.0.0.5")
    network_id: str = column(sql_type="TEXT", default=DEFAULT_NETWORK_ID)
    vendor_id: int | None = column(sql_type="INTEGER", default=None)
    vendor_name: str | None = column(sql_type="TEXT", default=None)
    model_name: str | None = column(sql_type="TEXT", default=None)
    device_name: str | None = column(sql_type="TEXT", default=None)
    max_apdu: int | None = column(sql_type="INTEGER", default=None)
    segmentation: str | None = column(sql_type="TEXT", default=None)
    state: DeviceState = column(sql_type="TEXT", codec=_STATE)
    first_seen_ms: int = column(sql_type="INTEGER")
    last_seen_ms: int = column(sql_type="INTEGER")
    object_count: int | None = column(sql_type="INTEGER", default=None)
    object_list_stale: bool = column(sql_type="INTEGER", codec=BOOL_INT, default=False)
    accepted_ms: int | None = column(sql_type="INTEGER", default=None)
    node_ids: tuple[str, ...] = attrs.field(
        default=(),
        converter=_node_ids,
        metadata=column_meta(sql_type="TEXT", codec=_NODE_IDS),
    )


@frozen(kw_only=True)
class DiscoveredPoint:
    """One row of ``discovered_point``: an object in a device's object list."""

    device_key: str = column(sql_type="TEXT")
    object_type: str = column(sql_type="TEXT", description="BACnet object type, analog-input")
    object_instance: int = column(sql_type="INTEGER")
    object_name: str | None = column(sql_type="TEXT", default=None)
    description: str | None = column(sql_type="TEXT", default=None)
    units: str | None = column(sql_type="TEXT", default=None, description="degrees-celsius")
    present_value: PointValue | None = column(
        sql_type="TEXT", codec=JSON_TEXT, default=None, schema={}
    )
    # The codec's schema says boolean; these may also be null (not read yet).
    writable: bool | None = column(
        sql_type="INTEGER", codec=BOOL_INT, default=None, schema=_NULLABLE_BOOL
    )
    cov: bool | None = column(
        sql_type="INTEGER", codec=BOOL_INT, default=None, schema=_NULLABLE_BOOL
    )


@frozen(kw_only=True)
class Sighting:
    """What :meth:`DiscoveryStore.record_i_am` did: the device now, and whether it was new."""

    device: DiscoveredDevice
    new: bool
