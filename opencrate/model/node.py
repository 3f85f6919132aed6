"""The node model: one hierarchy for every physical and logical object (seed 000).

A :class:`Node` is a site, space, equipment, point or virtual point. Nodes form
a tree through ``parent_id``; they carry Haystack tags, refs to other nodes,
free JSON properties, capability flags and, for points, a
:class:`~opencrate.model.binding.ProtocolBinding`, a unit and a value kind.

``value`` and ``status`` are runtime state: the PointStore owns them (in
memory); the NodeStore does not persist them.

Every field is validated when a node is built (the constructor, ``attrs.evolve``
and :meth:`Node.from_dict` alike) and bad input raises
:class:`~opencrate.errors.InvalidInput` whose ``detail["field"]`` names the
field. Nodes are immutable; ``tags`` is a ``frozenset`` and ``refs`` /
``properties`` are read-only mappings holding deep copies of what was passed.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import attrs
from attrs import field, frozen

from opencrate.errors import InvalidInput
from opencrate.model.binding import ProtocolBinding, freeze_json, thaw_json
from opencrate.model.ids import validate_node_id
from opencrate.model.values import PointStatus, PointValue, ValueKind
from opencrate.runtime.records import Codec, column_meta, enum_codec, to_json

__all__ = ["CAPABILITY_NAMES", "MAX_TAG_LENGTH", "Node", "NodeCapabilities", "NodeType"]

MAX_TAG_LENGTH = 100


class NodeType(enum.StrEnum):
    SITE = "site"  # a building or campus
    SPACE = "space"  # a zone, floor or room
    EQUIP = "equip"  # a piece of equipment
    POINT = "point"  # a physical I/O point bound to a protocol
    VIRTUAL_POINT = "virtual_point"  # a calculated or software-only point


@frozen(kw_only=True)
class NodeCapabilities:
    """What a node supports. All flags default to ``False``."""

    readable: bool = False
    writable: bool = False
    historizable: bool = False
    alarmable: bool = False
    schedulable: bool = False

    def names(self) -> frozenset[str]:
        """The names of the flags that are set."""
        return frozenset(name for name in CAPABILITY_NAMES if getattr(self, name))

    def to_dict(self) -> dict[str, bool]:
        return {name: bool(getattr(self, name)) for name in CAPABILITY_NAMES}

    @classmethod
    def from_names(cls, names: Iterable[str]) -> NodeCapabilities:
        """From the names of the flags that are set; InvalidInput on an unknown name."""
        wanted = set(names)
        unknown = wanted - set(CAPABILITY_NAMES)
        if unknown:
            raise InvalidInput(
                f"unknown capabilities {sorted(unknown)}; known: {list(CAPABILITY_NAMES)}",
                field="capabilities",
            )
        return cls(**{name: True for name in wanted})

    @classmethod
    def from_dict(cls, data: Any) -> NodeCapabilities:
        """From ``{"readable": true, ...}`` (missing flags are false) or a list of names."""
        if isinstance(data, NodeCapabilities):
            return data
        if isinstance(data, list | tuple | set | frozenset):
            return cls.from_names(data)
        if not isinstance(data, Mapping):
            raise InvalidInput(
                f"capabilities must be an object of booleans, got {type(data).__name__}",
                field="capabilities",
            )
        bad = [k for k, v in data.items() if k not in CAPABILITY_NAMES or not isinstance(v, bool)]
        if bad:
            raise InvalidInput(
                f"capabilities {sorted(map(str, bad))} are unknown or not booleans; "
                f"known: {list(CAPABILITY_NAMES)}",
                field="capabilities",
            )
        return cls(**data)


CAPABILITY_NAMES: tuple[str, ...] = tuple(a.name for a in attrs.fields(NodeCapabilities))


# -- converters: they run on every construction and name the field they guard ----
def _to_node_type(value: Any) -> NodeType:
    try:
        return NodeType(value)
    except ValueError:
        raise InvalidInput(
            f"node_type must be one of {[t.value for t in NodeType]}, got {value!r}",
            field="node_type",
        ) from None


def _to_dis(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"dis must be a non-empty string, got {value!r}", field="dis")
    return value


def _to_parent_id(value: Any) -> str | None:
    return None if value is None else validate_node_id(value, what="parent_id")


def _to_tags(value: Any) -> frozenset[str]:
    # A bare string is iterable too; "air" must not become {"a", "i", "r"}.
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidInput(
            f"tags must be a list of strings, got {type(value).__name__}", field="tags"
        )
    items = list(value)
    # Check each item before hashing it: a dict or a list among the tags is a
    # TypeError in frozenset() (a 500), not a bad tag (found by schemathesis).
    for tag in items:
        if (
            not isinstance(tag, str)
            or not tag
            or len(tag) > MAX_TAG_LENGTH
            or any(c.isspace() or not c.isprintable() for c in tag)
        ):
            raise InvalidInput(
                f"tag {tag!r} must be a non-empty name without spaces "
                f"(at most {MAX_TAG_LENGTH} characters)",
                field="tags",
            )
    return frozenset(items)


def _to_refs(value: Any) -> Mapping[str, str]:
    if not isinstance(value, Mapping):
        raise InvalidInput(
            f"refs must be an object of name -> node id, got {type(value).__name__}",
            field="refs",
        )
    refs: dict[str, str] = {}
    for name, target in value.items():
        if not isinstance(name, str) or not name or any(c.isspace() for c in name):
            raise InvalidInput(f"ref name {name!r} must be a non-empty name", field="refs")
        refs[name] = validate_node_id(target, what=f"refs.{name}")
    return MappingProxyType(refs)


def _to_properties(value: Any) -> Mapping[str, Any]:
    return freeze_json(value, what="properties")


def _to_id(value: Any) -> str:
    return validate_node_id(value, what="id")


def _to_capabilities(value: Any) -> NodeCapabilities:
    return NodeCapabilities.from_dict(value)


def _to_binding(value: Any) -> ProtocolBinding | None:
    if value is None or isinstance(value, ProtocolBinding):
        return value
    try:
        return ProtocolBinding.from_dict(value)
    except InvalidInput as exc:
        # Name the node field as well as the key inside the binding.
        key = exc.detail.get("field")
        where = (
            "protocol_binding" if key in (None, "protocol_binding") else f"protocol_binding.{key}"
        )
        raise InvalidInput(f"protocol_binding: {exc.message}", field=where) from None


def _to_value(value: Any) -> PointValue | None:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise InvalidInput(
        f"value must be a finite number, boolean or string, got {value!r}", field="value"
    )


def _to_status(value: Any) -> PointStatus:
    try:
        return PointStatus(value)
    except ValueError:
        raise InvalidInput(
            f"status must be one of {[s.value for s in PointStatus]}, got {value!r}",
            field="status",
        ) from None


def _to_unit(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"unit must be a non-empty string, got {value!r}", field="unit")
    return value


def _to_kind(value: Any) -> ValueKind | None:
    if value is None:
        return None
    try:
        return ValueKind(value)
    except ValueError:
        raise InvalidInput(
            f"kind must be one of {[k.value for k in ValueKind]}, got {value!r}", field="kind"
        ) from None


def _empty_mapping() -> Mapping[str, Any]:
    return MappingProxyType({})


_NODE_TYPE = enum_codec(NodeType)
_STATUS = enum_codec(PointStatus)
_KIND = enum_codec(ValueKind, nullable=True)
_TAGS = Codec(to_json=sorted, schema={"type": "array", "items": {"type": "string"}})
_REFS = Codec(to_json=dict, schema={"type": "object", "additionalProperties": {"type": "string"}})
_PROPERTIES = Codec(to_json=thaw_json, schema={"type": "object"})
_CAPABILITIES = Codec(to_json=lambda caps: caps.to_dict(), schema={"type": "object"})
_BINDING = Codec(
    to_json=lambda binding: binding.to_dict(),
    schema={
        "type": ["object", "null"],
        "properties": {"protocol": {"type": "string"}, "config": {"type": "object"}},
    },
)


@frozen(kw_only=True, unsafe_hash=False)
class Node:
    """One node of the building hierarchy. Immutable; not hashable.

    Construct with keywords; every field is checked and converted (``tags``
    from any iterable of strings, ``capabilities`` and ``protocol_binding``
    also from their dict forms, ``node_type`` / ``status`` / ``kind`` from their
    string values). ``unit`` and ``kind`` are only allowed on points.
    """

    id: str = field(converter=_to_id, metadata=column_meta(sql_type="TEXT"))
    node_type: NodeType = field(
        converter=_to_node_type, metadata=column_meta(sql_type="TEXT", codec=_NODE_TYPE)
    )
    dis: str = field(converter=_to_dis, metadata=column_meta(sql_type="TEXT"))
    parent_id: str | None = field(
        default=None, converter=_to_parent_id, metadata=column_meta(sql_type="TEXT")
    )
    value: PointValue | None = field(
        default=None, converter=_to_value, metadata=column_meta(sql=None, schema={})
    )
    status: PointStatus = field(
        default=PointStatus.UNKNOWN,
        converter=_to_status,
        metadata=column_meta(sql=None, codec=_STATUS),
    )
    tags: frozenset[str] = field(
        default=frozenset(), converter=_to_tags, metadata=column_meta(sql=None, codec=_TAGS)
    )
    refs: Mapping[str, str] = field(
        factory=_empty_mapping, converter=_to_refs, metadata=column_meta(sql=None, codec=_REFS)
    )
    properties: Mapping[str, Any] = field(
        factory=_empty_mapping,
        converter=_to_properties,
        metadata=column_meta(sql=None, codec=_PROPERTIES),
    )
    capabilities: NodeCapabilities = field(
        factory=NodeCapabilities,
        converter=_to_capabilities,
        metadata=column_meta(sql=None, codec=_CAPABILITIES),
    )
    protocol_binding: ProtocolBinding | None = field(
        default=None, converter=_to_binding, metadata=column_meta(sql=None, codec=_BINDING)
    )
    unit: str | None = field(
        default=None, converter=_to_unit, metadata=column_meta(sql_type="TEXT")
    )
    kind: ValueKind | None = field(
        default=None, converter=_to_kind, metadata=column_meta(sql_type="TEXT", codec=_KIND)
    )

    def __attrs_post_init__(self) -> None:
        if self.parent_id == self.id:
            raise InvalidInput(f"node {self.id!r} cannot be its own parent", field="parent_id")
        if not self.is_point:
            for name in ("unit", "kind"):
                if getattr(self, name) is not None:
                    raise InvalidInput(
                        f"{name} is only allowed on points, not on a {self.node_type.value} "
                        f"({self.id!r})",
                        field=name,
                    )

    @property
    def is_point(self) -> bool:
        """Whether this is a point or a virtual point."""
        return self.node_type in (NodeType.POINT, NodeType.VIRTUAL_POINT)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (tags sorted; mutable copies of every container): its ``to_json``."""
        return to_json(self)

    @classmethod
    def from_dict(cls, data: Any) -> Node:
        """Build a node from its JSON form (the inverse of :meth:`to_dict`).

        ``id``, ``node_type`` and ``dis`` are required; every other field may be
        left out. ``protocol_binding`` may be in the legacy tagged-enum form.
        Raises :class:`~opencrate.errors.InvalidInput` naming the missing,
        unknown or bad field.
        """
        if not isinstance(data, Mapping):
            raise InvalidInput(f"a node must be an object, got {type(data).__name__}")
        missing = [name for name in _REQUIRED if name not in data]
        if missing:
            raise InvalidInput(f"node is missing {missing[0]!r}", field=missing[0])
        unknown = sorted(set(map(str, data)) - _FIELD_NAMES)
        if unknown:
            raise InvalidInput(f"node has unknown field {unknown[0]!r}", field=unknown[0])
        fields = {name: value for name, value in data.items() if not _absent(name, value)}
        return cls(**fields)


_FIELD_NAMES = frozenset(a.name for a in attrs.fields(Node))
_REQUIRED = ("id", "node_type", "dis")


def _absent(name: str, value: Any) -> bool:
    # JSON null for a field whose default is not None means "use the default".
    return value is None and name in ("status", "tags", "refs", "properties", "capabilities")
