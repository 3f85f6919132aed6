"""DiscoveryStore: the devices a scan found and their object lists (``discovery.db``, seed 000).

Tables ``discovered_device`` (one row per device, keyed by ``device_key``,
``str(device_instance)`` for BACnet) and ``discovered_point`` (the device's
object list, one row per object, deleted with its device).

States
    A device enters as ``discovered`` on its first I-Am. :meth:`set_state`
    moves it to ``accepted`` (with the node ids accept created) or
    ``ignored``. A later I-Am (:meth:`record_i_am`) refreshes its address,
    network, vendor id, APDU size, segmentation and ``last_seen_ms`` but
    never its state: an ignored device stays hidden, an accepted one stays
    accepted.

Object list changes
    :meth:`mark_object_list_stale` (the monitor loop, when a device's object
    count changed) sets ``object_list_stale`` and the new count; accepting the
    device again (:meth:`set_state` to ``accepted``) clears it.

Schema versions (each an ``ALTER TABLE`` on the previous one, so a file from
any older version opens with every row kept and new columns at their
defaults)::

    v1  discovered_device(device_key PK, protocol, device_instance, address,
                          vendor_id, vendor_name, model_name, device_name,
                          max_apdu, segmentation, state, first_seen_ms,
                          last_seen_ms, object_count)
        discovered_point(device_key FK ON DELETE CASCADE, object_type,
                         object_instance, object_name, description, units,
                         present_value JSON, writable, cov; PK the first three)
    v2  + discovered_device.accepted_ms, node_ids (JSON list)
    v3  + discovered_device.network_id NOT NULL DEFAULT 'ip-main'
    v4  + discovered_device.object_list_stale NOT NULL DEFAULT 0

The store publishes no events: discovery publishes ``DeviceDiscovered``
(using :attr:`Sighting.new`) and accept ``DeviceAccepted``.

Errors: :class:`~opencrate.errors.NotFound` for an unknown device key,
:class:`~opencrate.errors.InvalidInput` naming the bad argument (nothing is
written then), :class:`~opencrate.errors.Conflict` when a new device would go
past ``max_devices`` (an I-Am flood cannot grow the file without bound;
``max_objects`` bounds one device's object list the same way).
"""

from __future__ import annotations

import builtins
import json
import math
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from opencrate.clock import Clock
from opencrate.components.bacnet.records import (
    BACNET_MAX_INSTANCE,
    DEFAULT_NETWORK_ID,
    DeviceState,
    DiscoveredDevice,
    DiscoveredPoint,
    Sighting,
    device_key,
)
from opencrate.errors import Conflict, InvalidInput, NotFound
from opencrate.model.binding import BACNET
from opencrate.runtime.actor import StoreActor
from opencrate.runtime.records import columns, fetch_all, fetch_one, to_row
from opencrate.validation import check_text, is_int

__all__ = ["DEFAULT_MAX_DEVICES", "DEFAULT_MAX_OBJECTS", "MIGRATIONS", "DiscoveryStore"]

_SCHEMA_V1 = """
CREATE TABLE discovered_device (
    device_key      TEXT PRIMARY KEY,
    protocol        TEXT NOT NULL,
    device_instance INTEGER,
    address         TEXT NOT NULL,
    vendor_id       INTEGER,
    vendor_name     TEXT,
    model_name      TEXT,
    device_name     TEXT,
    max_apdu        INTEGER,
    segmentation    TEXT,
    state           TEXT NOT NULL CHECK (state IN ('discovered', 'accepted', 'ignored')),
    first_seen_ms   INTEGER NOT NULL,
    last_seen_ms    INTEGER NOT NULL,
    object_count    INTEGER
);
CREATE TABLE discovered_point (
    device_key      TEXT NOT NULL REFERENCES discovered_device ON DELETE CASCADE,
    object_type     TEXT NOT NULL,
    object_instance INTEGER NOT NULL,
    object_name     TEXT,
    description     TEXT,
    units           TEXT,
    present_value   TEXT,
    writable        INTEGER,
    cov             INTEGER,
    PRIMARY KEY (device_key, object_type, object_instance)
);
"""

_SCHEMA_V2 = """
ALTER TABLE discovered_device ADD COLUMN accepted_ms INTEGER;
ALTER TABLE discovered_device ADD COLUMN node_ids TEXT;
"""

_SCHEMA_V3 = """
ALTER TABLE discovered_device ADD COLUMN network_id TEXT NOT NULL DEFAULT 'ip-main';
"""

_SCHEMA_V4 = """
ALTER TABLE discovered_device ADD COLUMN object_list_stale INTEGER NOT NULL DEFAULT 0;
"""

#: Schema versions 1..4, in order (``PRAGMA user_version`` is the number of steps applied).
MIGRATIONS: tuple[str, ...] = (_SCHEMA_V1, _SCHEMA_V2, _SCHEMA_V3, _SCHEMA_V4)

#: How many devices the store keeps at most (a site has hundreds; a flood has more).
DEFAULT_MAX_DEVICES = 10_000
#: How many objects one device's stored list may hold (large controllers have a few thousand).
DEFAULT_MAX_OBJECTS = 50_000

_DEVICE_COLUMNS = columns(DiscoveredDevice)
_POINT_COLUMNS = columns(DiscoveredPoint)
_OBJECT_TYPE = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*\Z")
_MAX_TEXT = 1024  # object names, descriptions, vendor and model names (BACnet allows long ones)


class DiscoveryStore(StoreActor):
    """Discovered devices and their object lists. See the module docstring."""

    name = "discovery"
    migrations = MIGRATIONS

    def __init__(
        self,
        path: Path | str,
        *,
        clock: Clock | None = None,
        max_devices: int = DEFAULT_MAX_DEVICES,
        max_objects: int = DEFAULT_MAX_OBJECTS,
    ) -> None:
        super().__init__(path, clock=clock)
        for name, limit in (("max_devices", max_devices), ("max_objects", max_objects)):
            if not is_int(limit, minimum=1):
                raise InvalidInput(f"{name} must be a positive integer, got {limit!r}", field=name)
        self.max_devices = max_devices
        self.max_objects = max_objects

    # -- writes --------------------------------------------------------------------
    async def record_i_am(
        self,
        device_instance: int,
        *,
        address: str,
        network_id: str = DEFAULT_NETWORK_ID,
        vendor_id: int | None = None,
        max_apdu: int | None = None,
        segmentation: str | None = None,
    ) -> Sighting:
        """Record an I-Am from BACnet device ``device_instance`` at ``address``.

        A new device is stored as ``discovered`` with first and last seen now.
        A known one gets its address, network and last seen updated, and its
        vendor id, APDU size and segmentation where given (``None`` keeps what
        is stored); its state, names and object list are kept. Returns the
        device and whether it was new. Raises InvalidInput for an instance
        outside 0..4194303, an empty address or network id, a negative vendor
        id or APDU size; Conflict when a new device would exceed ``max_devices``.
        """
        instance = _instance(device_instance, "device_instance")
        address = _text(address, "address")
        network_id = _text(network_id, "network_id")
        vendor_id = _count_or_none(vendor_id, "vendor_id")
        max_apdu = _count_or_none(max_apdu, "max_apdu")
        segmentation = _text_or_none(segmentation, "segmentation")
        key = device_key(instance)
        now = self.clock.now_ms()

        def upsert(conn: sqlite3.Connection) -> Sighting:
            new = _load_device(conn, key) is None
            if new:
                (count,) = conn.execute("SELECT count(*) FROM discovered_device").fetchone()
                if count >= self.max_devices:
                    raise Conflict(
                        f"discovery store is full ({count} devices, the limit); "
                        f"device {key} at {address} was not recorded",
                        device_key=key,
                        max_devices=self.max_devices,
                    )
            conn.execute(
                "INSERT INTO discovered_device (device_key, protocol, device_instance, address, "
                "network_id, vendor_id, max_apdu, segmentation, state, first_seen_ms, "
                "last_seen_ms) VALUES (:key, :protocol, :instance, :address, :network_id, "
                ":vendor_id, :max_apdu, :segmentation, :state, :now, :now) "
                "ON CONFLICT (device_key) DO UPDATE SET address = excluded.address, "
                "network_id = excluded.network_id, "
                "vendor_id = coalesce(excluded.vendor_id, vendor_id), "
                "max_apdu = coalesce(excluded.max_apdu, max_apdu), "
                "segmentation = coalesce(excluded.segmentation, segmentation), "
                "last_seen_ms = max(last_seen_ms, excluded.last_seen_ms)",
                {
                    "key": key,
                    "protocol": BACNET,
                    "instance": instance,
                    "address": address,
                    "network_id": network_id,
                    "vendor_id": vendor_id,
                    "max_apdu": max_apdu,
                    "segmentation": segmentation,
                    "state": DeviceState.DISCOVERED.value,
                    "now": now,
                },
            )
            return Sighting(device=_must_load(conn, key), new=new)

        return await self.write(upsert)

    async def describe(
        self,
        key: str,
        *,
        vendor_name: str | None = None,
        model_name: str | None = None,
        device_name: str | None = None,
    ) -> DiscoveredDevice:
        """Set the names read from the device object; ``None`` keeps what is stored.

        Raises NotFound for an unknown device, InvalidInput for an empty or
        over-long name.
        """
        key = _key(key)
        names = {
            "vendor_name": _text_or_none(vendor_name, "vendor_name"),
            "model_name": _text_or_none(model_name, "model_name"),
            "device_name": _text_or_none(device_name, "device_name"),
        }

        def apply(conn: sqlite3.Connection) -> DiscoveredDevice:
            _must_load(conn, key)
            conn.execute(
                "UPDATE discovered_device SET "
                "vendor_name = coalesce(:vendor_name, vendor_name), "
                "model_name = coalesce(:model_name, model_name), "
                "device_name = coalesce(:device_name, device_name) WHERE device_key = :key",
                {**names, "key": key},
            )
            return _must_load(conn, key)

        return await self.write(apply)

    async def replace_points(
        self,
        key: str,
        points: Sequence[DiscoveredPoint],
        *,
        object_count: int | None = None,
    ) -> DiscoveredDevice:
        """Replace the device's stored object list with ``points`` (one transaction).

        ``object_count`` is the length of the device's object list (which also
        holds objects that are no points, such as the device object); it
        defaults to ``len(points)``. The monitor compares later counts with it.
        Raises NotFound for an unknown device; InvalidInput (nothing changes)
        for a point of another device, an object given twice, a malformed
        object type (``analog-input``), an instance outside 0..4194303, a
        present value that is not a finite number, boolean, integer or string,
        or a negative ``object_count``; also for more than ``max_objects`` points
        (a device cannot fill the disk with a never-ending object list).
        """
        key = _key(key)
        if isinstance(points, Sequence) and len(points) > self.max_objects:
            raise InvalidInput(
                f"device {key} lists {len(points)} objects; at most {self.max_objects} are kept",
                field="points",
                device_key=key,
            )
        rows = _point_rows(key, points)
        count = len(rows) if object_count is None else _count(object_count, "object_count")

        def apply(conn: sqlite3.Connection) -> DiscoveredDevice:
            _must_load(conn, key)
            conn.execute("DELETE FROM discovered_point WHERE device_key = ?", (key,))
            if rows:
                names = ", ".join(f":{name}" for name in rows[0])
                conn.executemany(
                    f"INSERT INTO discovered_point ({_POINT_COLUMNS}) VALUES ({names})", rows
                )
            conn.execute(
                "UPDATE discovered_device SET object_count = ? WHERE device_key = ?", (count, key)
            )
            return _must_load(conn, key)

        return await self.write(apply)

    async def set_state(
        self,
        key: str,
        state: DeviceState | str,
        *,
        node_ids: Sequence[str] | None = None,
    ) -> DiscoveredDevice:
        """Move a device to ``state`` (``discovered``, ``accepted`` or ``ignored``).

        ``accepted`` stamps ``accepted_ms`` now, stores ``node_ids`` (the nodes
        accept created or kept; ``None`` keeps the stored list) and clears
        ``object_list_stale``. Other states keep both, so a device ignored and
        accepted again remembers its nodes. Raises NotFound for an unknown
        device, InvalidInput for an unknown state or node ids that are not a
        list of non-empty strings.
        """
        key = _key(key)
        new_state = _state(state)
        ids = None if node_ids is None else _node_id_list(node_ids)
        now = self.clock.now_ms()

        def apply(conn: sqlite3.Connection) -> DiscoveredDevice:
            _must_load(conn, key)
            params = {
                "key": key,
                "state": new_state.value,
                "node_ids": None if ids is None else json.dumps(ids),
            }
            if new_state is DeviceState.ACCEPTED:
                conn.execute(
                    "UPDATE discovered_device SET state = :state, accepted_ms = :now, "
                    "node_ids = coalesce(:node_ids, node_ids), object_list_stale = 0 "
                    "WHERE device_key = :key",
                    {**params, "now": now},
                )
            else:
                conn.execute(
                    "UPDATE discovered_device SET state = :state, "
                    "node_ids = coalesce(:node_ids, node_ids) WHERE device_key = :key",
                    params,
                )
            return _must_load(conn, key)

        return await self.write(apply)

    async def mark_object_list_stale(self, key: str, new_count: int) -> DiscoveredDevice:
        """Record that the device's object list now has ``new_count`` objects and needs a
        re-accept: sets ``object_list_stale`` and ``object_count``.

        Raises NotFound for an unknown device, InvalidInput for a count that
        is not a non-negative integer.
        """
        key = _key(key)
        count = _count(new_count, "new_count")

        def apply(conn: sqlite3.Connection) -> DiscoveredDevice:
            _must_load(conn, key)
            conn.execute(
                "UPDATE discovered_device SET object_list_stale = 1, object_count = ? "
                "WHERE device_key = ?",
                (count, key),
            )
            return _must_load(conn, key)

        return await self.write(apply)

    async def clear_object_list_stale(self, key: str) -> DiscoveredDevice:
        """Clear ``object_list_stale`` (accepting the device again does it too). NotFound."""
        key = _key(key)

        def apply(conn: sqlite3.Connection) -> DiscoveredDevice:
            _must_load(conn, key)
            conn.execute(
                "UPDATE discovered_device SET object_list_stale = 0 WHERE device_key = ?", (key,)
            )
            return _must_load(conn, key)

        return await self.write(apply)

    # -- reads -----------------------------------------------------------------------
    async def get(self, key: str) -> DiscoveredDevice:
        """The device ``key``; NotFound if no scan found it."""
        key = _key(key)
        return await self.read(lambda conn: _must_load(conn, key))

    async def list(
        self, state: DeviceState | str | None = None, *, include_ignored: bool = False
    ) -> builtins.list[DiscoveredDevice]:
        """Devices by instance (then key): those in ``state``, else every one but the
        ignored ones (unless ``include_ignored``). InvalidInput for an unknown state."""
        wanted = None if state is None else _state(state)

        def query(conn: sqlite3.Connection) -> builtins.list[DiscoveredDevice]:
            sql = f"SELECT {_DEVICE_COLUMNS} FROM discovered_device"
            params: tuple[str, ...] = ()
            if wanted is not None:
                sql += " WHERE state = ?"
                params = (wanted.value,)
            elif not include_ignored:
                sql += " WHERE state <> ?"
                params = (DeviceState.IGNORED.value,)
            sql += " ORDER BY device_instance, device_key"
            return fetch_all(conn, DiscoveredDevice, sql, params)

        return await self.read(query)

    async def points(self, key: str) -> builtins.list[DiscoveredPoint]:
        """The device's stored object list by object type and instance; NotFound."""
        key = _key(key)

        def query(conn: sqlite3.Connection) -> builtins.list[DiscoveredPoint]:
            _must_load(conn, key)
            return fetch_all(
                conn,
                DiscoveredPoint,
                f"SELECT {_POINT_COLUMNS} FROM discovered_point WHERE device_key = ? "
                "ORDER BY object_type, object_instance",
                (key,),
            )

        return await self.read(query)


# -- SQL helpers (worker thread) --------------------------------------------------------
def _load_device(conn: sqlite3.Connection, key: str) -> DiscoveredDevice | None:
    return fetch_one(
        conn,
        DiscoveredDevice,
        f"SELECT {_DEVICE_COLUMNS} FROM discovered_device WHERE device_key = ?",
        (key,),
    )


def _must_load(conn: sqlite3.Connection, key: str) -> DiscoveredDevice:
    device = _load_device(conn, key)
    if device is None:
        raise NotFound(f"no discovered device {key!r}", device_key=key)
    return device


# -- argument checks (trio thread, before anything is queued) ----------------------------
def _instance(value: object, field: str) -> int:
    if not is_int(value, minimum=0, maximum=BACNET_MAX_INSTANCE):
        raise InvalidInput(
            f"{field} must be an integer in 0..{BACNET_MAX_INSTANCE}, got {value!r}", field=field
        )
    return value


def _count(value: object, field: str) -> int:
    if not is_int(value, minimum=0):
        raise InvalidInput(f"{field} must be a non-negative integer, got {value!r}", field=field)
    return value


def _count_or_none(value: object, field: str) -> int | None:
    return None if value is None else _count(value, field)


def _text(value: object, field: str) -> str:
    return check_text(value, field, max_length=_MAX_TEXT)


def _text_or_none(value: object, field: str) -> str | None:
    return None if value is None else _text(value, field)


def _key(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput(
            f"a device key must be a non-empty string, got {value!r}", field="device_key"
        )
    return value


def _state(value: object) -> DeviceState:
    try:
        return DeviceState(value if isinstance(value, str) else repr(value))
    except ValueError:
        raise InvalidInput(
            f"unknown device state {value!r} (one of {', '.join(s.value for s in DeviceState)})",
            field="state",
        ) from None


def _node_id_list(ids: object) -> builtins.list[str]:
    if isinstance(ids, str) or not isinstance(ids, Sequence):
        raise InvalidInput(f"node_ids must be a list of node ids, got {ids!r}", field="node_ids")
    for node_id in ids:
        if not isinstance(node_id, str) or not node_id:
            raise InvalidInput(
                f"node_ids must hold non-empty strings, got {node_id!r}", field="node_ids"
            )
    return builtins.list(ids)


def _point_rows(key: str, points: object) -> builtins.list[dict[str, object]]:
    if isinstance(points, str) or not isinstance(points, Sequence):
        raise InvalidInput("points must be a list of DiscoveredPoint records", field="points")
    rows: builtins.list[dict[str, object]] = []
    seen: set[tuple[str, int]] = set()
    for point in points:
        if not isinstance(point, DiscoveredPoint):
            raise InvalidInput(
                f"points must be DiscoveredPoint records, got {type(point).__name__}",
                field="points",
            )
        where = f"{point.object_type}-{point.object_instance}"
        if point.device_key != key:
            raise InvalidInput(
                f"point {where} belongs to device {point.device_key!r}, not {key!r}",
                field="device_key",
                device_key=key,
            )
        if not isinstance(point.object_type, str) or not _OBJECT_TYPE.match(point.object_type):
            raise InvalidInput(
                f"object type {point.object_type!r} is not a BACnet object type name "
                "such as 'analog-input'",
                field="object_type",
                device_key=key,
            )
        _instance(point.object_instance, "object_instance")
        ident = (point.object_type, point.object_instance)
        if ident in seen:
            raise InvalidInput(
                f"object {where} appears twice in the object list of device {key}",
                field="points",
                device_key=key,
            )
        seen.add(ident)
        for name in ("object_name", "description", "units"):
            _text_or_none(getattr(point, name), name)
        _check_value(point.present_value, where)
        for name in ("writable", "cov"):
            if getattr(point, name) not in (None, True, False):
                raise InvalidInput(
                    f"{name} of {where} must be true, false or null, got {getattr(point, name)!r}",
                    field=name,
                )
        rows.append(to_row(point))
    return rows


def _check_value(value: object, where: str) -> None:
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, float) and math.isfinite(value):
        return
    if is_int(value):
        return
    raise InvalidInput(
        f"present value of {where} must be a finite number, boolean, integer or string, "
        f"got {value!r}",
        field="present_value",
    )
