"""Node ids and the ``"{device}/{point}"`` convention (seed 000, "Node ID Convention").

* Points: ``"{device_instance}/{point}"``, e.g. ``"1001/analog-input-1"``.
* Equipment: ``"{device_instance}"``, e.g. ``"1001"``.
* Sites and spaces: any id the user chooses (``"main-office"``, ``"floor-2"``).

Every node id, whatever its kind, must pass :func:`validate_node_id`: it is a
non-empty string of at most :data:`MAX_NODE_ID_LENGTH` characters with no
control characters, no leading or trailing whitespace, no leading or trailing
``/`` and no empty segment (``//``). These rules keep ids safe in URLs
(``/api/nodes/1001/analog-input-1``), in log lines and as SQLite keys.
"""

from __future__ import annotations

from opencrate.errors import InvalidInput
from opencrate.validation import has_control_char

__all__ = ["MAX_NODE_ID_LENGTH", "point_id", "split_point_id", "validate_node_id"]

#: Longest node id accepted, in characters.
MAX_NODE_ID_LENGTH = 200


def validate_node_id(node_id: str, *, what: str = "node id") -> str:
    """Return ``node_id`` unchanged if it is a valid node id.

    Raises :class:`~opencrate.errors.InvalidInput` (``detail["field"] == what``)
    saying which rule it broke: not a string, empty, longer than
    :data:`MAX_NODE_ID_LENGTH`, a control character, leading/trailing
    whitespace, leading/trailing ``/``, or an empty segment (``//``).
    """
    if not isinstance(node_id, str):
        raise InvalidInput(f"{what} must be a string, got {type(node_id).__name__}", field=what)
    if not node_id:
        raise InvalidInput(f"{what} must not be empty", field=what)
    if len(node_id) > MAX_NODE_ID_LENGTH:
        raise InvalidInput(
            f"{what} is {len(node_id)} characters long; at most {MAX_NODE_ID_LENGTH} are allowed",
            field=what,
            value=node_id[:40] + "...",
        )
    # C0 controls, DEL and C1 controls: invisible in logs and unsafe in paths.
    if has_control_char(node_id):
        raise InvalidInput(f"{what} {node_id!r} contains a control character", field=what)
    if node_id != node_id.strip():
        raise InvalidInput(
            f"{what} {node_id!r} has leading or trailing whitespace", field=what, value=node_id
        )
    if node_id.startswith("/") or node_id.endswith("/"):
        raise InvalidInput(
            f"{what} {node_id!r} must not start or end with '/'", field=what, value=node_id
        )
    if "//" in node_id:
        raise InvalidInput(
            f"{what} {node_id!r} has an empty segment ('//')", field=what, value=node_id
        )
    return node_id


def point_id(device: str | int, point: str) -> str:
    """The id of point ``point`` on device ``device``: ``"{device}/{point}"``.

    ``device`` is a BACnet device instance (a non-negative int) or a device key
    such as a Modbus device id; it must not contain ``/`` so that
    :func:`split_point_id` can undo this. ``point`` may contain ``/``. Raises
    :class:`~opencrate.errors.InvalidInput` naming the bad part.
    """
    if isinstance(device, bool) or not isinstance(device, int | str):
        raise InvalidInput(
            f"device must be an int or a string, got {type(device).__name__}", field="device"
        )
    if isinstance(device, int):
        if device < 0:
            raise InvalidInput(
                f"device instance must not be negative, got {device}", field="device"
            )
        device_text = str(device)
    else:
        device_text = validate_node_id(device, what="device")
        if "/" in device_text:
            raise InvalidInput(f"device {device!r} must not contain '/'", field="device")
    if not isinstance(point, str) or not point:
        raise InvalidInput("point must be a non-empty string", field="point")
    return validate_node_id(f"{device_text}/{point}", what="point id")


def split_point_id(node_id: str) -> tuple[str, str]:
    """Split a point id into ``(device, point)`` at its first ``/``.

    The inverse of :func:`point_id` (the device comes back as a string). Raises
    :class:`~opencrate.errors.InvalidInput` if ``node_id`` is not a valid id or
    has no ``/`` (an equipment, site or space id).
    """
    validate_node_id(node_id)
    device, sep, point = node_id.partition("/")
    if not sep:
        raise InvalidInput(
            f"{node_id!r} is not a point id (expected '{{device}}/{{point}}')",
            field="node id",
            value=node_id,
        )
    return device, point
