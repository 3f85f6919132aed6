"""How a node maps to a field device: :class:`ProtocolBinding` (seed 000).

A binding is a protocol name and an untyped JSON ``config``, which keeps the
node model protocol-agnostic. For the protocols OpenCrate knows, the config's
required keys are checked when a binding is built, so a typo fails at the edge
(API, scenario file, import) rather than silently in a poll loop:

========== ===================================================================
protocol   required config keys (optional ones in brackets)
========== ===================================================================
bacnet     ``device_instance`` int, ``object_type`` str, ``object_instance`` int,
           [``network_id`` str]
modbus     ``device_id`` str, ``register_type`` (``coil``, ``discrete_input``,
           ``input``, ``holding``), ``address`` int 0..65535, ``data_type`` str,
           [``byte_order`` str, default ``"big-endian"``], [anything else]
virtual    [``expression`` str]
others     any JSON object
========== ===================================================================

``data_type`` and ``byte_order`` are checked by the Modbus bridge, which owns
the codecs; the model only checks that they are strings.

:meth:`ProtocolBinding.from_dict` also reads the legacy tagged-enum form that
older OpenCrate versions wrote: ``{"Bacnet": {...}}``, ``{"Modbus": {...}}``,
``{"Virtual": {...}}`` (or the bare string ``"Virtual"``). :meth:`to_dict`
always writes the current form ``{"protocol": ..., "config": {...}}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from attrs import field, frozen

from opencrate.errors import InvalidInput

__all__ = [
    "BACNET",
    "MODBUS",
    "MODBUS_REGISTER_TYPES",
    "VIRTUAL",
    "ProtocolBinding",
    "freeze_json",
    "thaw_json",
]

BACNET = "bacnet"
MODBUS = "modbus"
VIRTUAL = "virtual"

#: The four Modbus data tables.
MODBUS_REGISTER_TYPES = frozenset({"coil", "discrete_input", "input", "holding"})

#: BACnet object and device instances are 22-bit numbers.
_BACNET_MAX_INSTANCE = 4_194_303

#: Legacy tagged-enum variant names (compared case-insensitively) -> protocol.
_LEGACY_VARIANTS = {"bacnet": BACNET, "modbus": MODBUS, "virtual": VIRTUAL}


def freeze_json(value: Any, *, what: str) -> Mapping[str, Any]:
    """A read-only deep copy of a JSON object; InvalidInput naming ``what`` otherwise.

    The JSON round trip both proves the value can be stored and detaches it from
    the caller's dict, so later changes to that dict cannot reach a frozen record.
    """
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{what} must be a JSON object, got {type(value).__name__}", field=what)
    try:
        copied = json.loads(json.dumps(dict(value), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what} is not valid JSON: {exc}", field=what) from None
    for key in copied:
        if not key:
            raise InvalidInput(f"{what} has an empty key", field=what)
    return MappingProxyType(copied)


def _require_int(config: Mapping[str, Any], key: str, lo: int, hi: int, protocol: str) -> None:
    if key not in config:
        raise InvalidInput(f"{protocol} binding config is missing {key!r}", field=key)
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(
            f"{protocol} binding {key!r} must be an integer, got {value!r}", field=key
        )
    if not lo <= value <= hi:
        raise InvalidInput(
            f"{protocol} binding {key!r} must be in {lo}..{hi}, got {value}", field=key
        )


def _require_str(
    config: Mapping[str, Any], key: str, protocol: str, *, optional: bool = False
) -> None:
    if key not in config:
        if optional:
            return
        raise InvalidInput(f"{protocol} binding config is missing {key!r}", field=key)
    value = config[key]
    if optional and value is None:
        return
    if not isinstance(value, str) or not value:
        raise InvalidInput(
            f"{protocol} binding {key!r} must be a non-empty string, got {value!r}", field=key
        )


def _check_config(protocol: str, config: Mapping[str, Any]) -> None:
    if protocol == BACNET:
        _require_int(config, "device_instance", 0, _BACNET_MAX_INSTANCE, protocol)
        _require_str(config, "object_type", protocol)
        _require_int(config, "object_instance", 0, _BACNET_MAX_INSTANCE, protocol)
        _require_str(config, "network_id", protocol, optional=True)
    elif protocol == MODBUS:
        _require_str(config, "device_id", protocol)
        _require_str(config, "register_type", protocol)
        if config["register_type"] not in MODBUS_REGISTER_TYPES:
            raise InvalidInput(
                f"modbus binding 'register_type' must be one of "
                f"{sorted(MODBUS_REGISTER_TYPES)}, got {config['register_type']!r}",
                field="register_type",
            )
        _require_int(config, "address", 0, 65535, protocol)
        _require_str(config, "data_type", protocol)
        _require_str(config, "byte_order", protocol, optional=True)
    elif protocol == VIRTUAL:
        _require_str(config, "expression", protocol, optional=True)


def thaw_json(value: Mapping[str, Any]) -> dict[str, Any]:
    """A fresh, mutable deep copy of a JSON object (the inverse of :func:`freeze_json`)."""
    thawed: dict[str, Any] = json.loads(json.dumps(dict(value)))
    return thawed


def _to_config(value: Any) -> Mapping[str, Any]:
    return freeze_json(value, what="config")


def _check_protocol(protocol: str) -> str:
    if (
        not isinstance(protocol, str)
        or not protocol
        or not protocol[0].isalpha()
        or not all(c.isascii() and (c.isalnum() or c in "_-") for c in protocol)
        or protocol != protocol.lower()
    ):
        raise InvalidInput(
            f"binding protocol must be a lower-case name like 'bacnet', got {protocol!r}",
            field="protocol",
        )
    return protocol


@frozen(kw_only=True, unsafe_hash=False)
class ProtocolBinding:
    """A protocol name and its JSON config; validated when built.

    Raises :class:`~opencrate.errors.InvalidInput` with ``detail["field"]``
    naming the bad key (``protocol``, ``config``, or a config key such as
    ``object_type``). ``config`` is a read-only deep copy of what was passed.
    Not hashable (its config is a JSON object).
    """

    protocol: str = field(converter=_check_protocol)
    config: Mapping[str, Any] = field(factory=dict, converter=_to_config)

    def __attrs_post_init__(self) -> None:
        _check_config(self.protocol, self.config)

    # -- constructors for the common cases ----------------------------------------
    @classmethod
    def bacnet(
        cls,
        device_instance: int,
        object_type: str,
        object_instance: int,
        network_id: str | None = None,
    ) -> ProtocolBinding:
        """A BACnet object, e.g. ``bacnet(1001, "analog-input", 1, "ip-main")``."""
        config: dict[str, Any] = {
            "device_instance": device_instance,
            "object_type": object_type,
            "object_instance": object_instance,
        }
        if network_id is not None:
            config["network_id"] = network_id
        return cls(protocol=BACNET, config=config)

    @classmethod
    def modbus(
        cls,
        device_id: str,
        register_type: str,
        address: int,
        data_type: str,
        byte_order: str = "big-endian",
        **extra: Any,
    ) -> ProtocolBinding:
        """A Modbus register; ``extra`` keys (``scale``, ``word_order``...) go into config."""
        config: dict[str, Any] = {
            **extra,
            "device_id": device_id,
            "register_type": register_type,
            "address": address,
            "data_type": data_type,
            "byte_order": byte_order,
        }
        return cls(protocol=MODBUS, config=config)

    @classmethod
    def virtual_binding(cls, expression: str | None = None) -> ProtocolBinding:
        """A calculated point; ``expression`` is kept for the engine that evaluates it."""
        return cls(
            protocol=VIRTUAL, config={} if expression is None else {"expression": expression}
        )

    # -- JSON ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """``{"protocol": ..., "config": {...}}`` (a fresh, mutable deep copy)."""
        return {"protocol": self.protocol, "config": thaw_json(self.config)}

    @classmethod
    def from_dict(cls, data: Any) -> ProtocolBinding:
        """Read the current form or the legacy tagged-enum form.

        Current: ``{"protocol": "bacnet", "config": {...}}``. Legacy:
        ``{"Bacnet": {...}}``, ``{"Modbus": {...}}``, ``{"Virtual": {...}}`` or
        ``"Virtual"``. Raises :class:`~opencrate.errors.InvalidInput` naming
        what is wrong.
        """
        if isinstance(data, ProtocolBinding):
            return data
        if isinstance(data, str):
            if data.lower() == VIRTUAL:
                return cls(protocol=VIRTUAL)
            raise InvalidInput(
                f"binding must be an object, got the string {data!r}", field="protocol_binding"
            )
        if not isinstance(data, Mapping):
            raise InvalidInput(
                f"binding must be an object, got {type(data).__name__}", field="protocol_binding"
            )
        if "protocol" in data:
            unknown = set(data) - {"protocol", "config"}
            if unknown:
                raise InvalidInput(
                    f"binding has unknown keys {sorted(unknown)} (expected protocol, config)",
                    field=sorted(unknown)[0],
                )
            config = data.get("config")
            return cls(protocol=data["protocol"], config={} if config is None else config)
        if len(data) == 1:
            (variant, config) = next(iter(data.items()))
            protocol = _LEGACY_VARIANTS.get(str(variant).lower())
            if protocol is not None:
                return cls(protocol=protocol, config={} if config is None else config)
        raise InvalidInput(
            "binding must be {'protocol': ..., 'config': {...}} or a legacy "
            f"{{'Bacnet'|'Modbus'|'Virtual': {{...}}}}, got keys {sorted(map(str, data))}",
            field="protocol",
        )
