"""Suggest (and explain) tags for a node as the API shows it.

The CLI's ``opencrate nodes tag ID`` and anything else holding a node's JSON
(``id``, ``node_type``, ``dis``, ``unit``, ``kind``, ``capabilities``,
``protocol_binding``...) use :func:`explain_node`: it reads the evidence a
node carries besides its name, the BACnet object type or Modbus register type
of its binding, whether it is writable, the controller's own object name and
a BACnet ``description`` property (read beside the object name: both names'
evidence counts), and passes it to :func:`~.points.explain_point_tags` or
:func:`~.equips.explain_equip_tags`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from opencrate.errors import InvalidInput
from opencrate.model.tagging.equips import explain_equip_tags
from opencrate.model.tagging.evidence import DEFAULT_REVIEW_THRESHOLD, TagSuggestion
from opencrate.model.tagging.points import explain_point_tags

__all__ = ["binding_evidence", "explain_node"]

_POINT_TYPES: Final = frozenset({"point", "virtual_point"})
# Keys under which a binding or the node's properties may keep the controller's name.
_RAW_NAME_KEYS: Final = ("object_name", "objectName", "raw_name")
# A Modbus binding's register_type -> the register kind the function rules know.
_MODBUS_TABLES: Final = {
    "coil": "coil",
    "discrete_input": "discrete-input",
    "input": "input-register",
    "holding": "holding-register",
}


def binding_evidence(
    binding: Mapping[str, Any] | None,
) -> tuple[str | None, str | None]:
    """``(object_type, raw_name)`` from a protocol binding's JSON (``None`` where absent).

    A BACnet binding's ``object_type`` (``"analog-input"``), a Modbus
    binding's ``register_type`` (``"holding"``, ``"coil"``...), and the
    controller's object name when the binding keeps it.
    """
    if not binding:
        return None, None
    config = binding.get("config") or {}
    protocol = binding.get("protocol")
    object_type: str | None = None
    if protocol == "bacnet":
        object_type = _str(config.get("object_type"))
    elif protocol == "modbus":
        register = _str(config.get("register_type"))
        object_type = _MODBUS_TABLES.get(register) if register else None
    raw = next((_str(config.get(key)) for key in _RAW_NAME_KEYS if _str(config.get(key))), None)
    return object_type, raw


def explain_node(
    node: Mapping[str, Any],
    *,
    equip_tags: Iterable[str] = (),
    point_tags: Iterable[Iterable[str]] = (),
    review_threshold: float = DEFAULT_REVIEW_THRESHOLD,
) -> TagSuggestion:
    """The tags suggested for ``node`` (the API's JSON form), with their reasons.

    For a point, ``equip_tags`` are its equipment's tags; for equipment,
    ``point_tags`` its points' tags. Sites and spaces are not auto-tagged.
    Raises :class:`~opencrate.errors.InvalidInput` for another node type, a
    node without a usable ``dis``, or a binding whose object type the tagger
    does not know.
    """
    node_type = node.get("node_type")
    dis = node.get("dis")
    if not isinstance(dis, str):
        raise InvalidInput(f"node {node.get('id')!r} has no display name to read", field="dis")
    if node_type in _POINT_TYPES:
        object_type, raw = binding_evidence(node.get("protocol_binding"))
        properties = node.get("properties") or {}
        if raw is None:
            raw = next((_str(properties.get(key)) for key in _RAW_NAME_KEYS), None)
        description = _str(properties.get("description"))
        if raw is None and description is not None and any(ch.isalnum() for ch in description):
            # A BACnet node accepted from discovery: its dis is the object name
            # ("SAT"), its description what a person wrote ("Supply Air Temp").
            dis, raw = description, dis
        capabilities = node.get("capabilities") or {}
        writable = capabilities.get("writable") if isinstance(capabilities, Mapping) else None
        return explain_point_tags(
            dis,
            unit=_str(node.get("unit")),
            object_type=object_type,
            equip_tags=equip_tags,
            value_kind=_str(node.get("kind")),
            raw_name=raw if raw != dis else None,
            writable=writable if isinstance(writable, bool) else None,
            review_threshold=review_threshold,
        )
    if node_type == "equip":
        return explain_equip_tags(dis, points=point_tags, review_threshold=review_threshold)
    raise InvalidInput(
        f"node {node.get('id')!r} is a {node_type}: only points and equipment are auto-tagged",
        field="node_type",
    )


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None
