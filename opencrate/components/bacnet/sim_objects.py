"""What the BACnet simulator serves: a scenario's devices and their objects, as records.

:func:`scenario_devices` reads every equipment whose binding's protocol is ``bacnet`` into a
:class:`SimDevice` (instance ``device_instance``, name the equipment's ``dis``, vendor and model
from its ``manufacturer`` / ``vendor_id`` / ``model`` properties), with a :class:`SimObject` per
BACnet-bound point. :func:`extra_objects` makes filler objects (benchmarks);
:mod:`.sim_classes` turns a device into bacpypes3 objects.

Object types and the point kinds they hold: ``analog-*`` numbers, ``binary-*`` booleans,
``multi-state-*`` enums (1..N; the point's ``enum`` property ``"1=occupied,2=unoccupied"``
names the states). Outputs are always commandable (priority array, relinquish default), values
when the point is ``writable``; inputs never, and a client's write to anything but a
commandable object's present value is refused (write-access-denied). Every object has status
flags, reliability ``no-fault-detected`` and COV support (``covIncrement`` on analog objects:
the point's ``deadband``, else one step of its signal's ``decimals``).
"""

from __future__ import annotations

from collections.abc import Mapping

from attrs import frozen

from opencrate.components.scenario.format import PointSpec, Scenario, SignalSpec
from opencrate.errors import ConfigError
from opencrate.model.binding import BACNET
from opencrate.model.values import PointValue, ValueKind

__all__ = [
    "DEFAULT_VENDOR_ID",
    "EXTRA_FIRST_INSTANCE",
    "OBJECT_KINDS",
    "SimDevice",
    "SimObject",
    "extra_objects",
    "scenario_devices",
]

#: bacpypes3's sample-application vendor id (no registered vendor is implied).
DEFAULT_VENDOR_ID = 999
DEFAULT_VENDOR_NAME = "OpenCrate"

#: Object type -> (the point kind it holds, whether it can be commandable). Outputs always are;
#: values when their point is writable; inputs never.
OBJECT_KINDS: Mapping[str, tuple[ValueKind, bool]] = {
    "analog-input": (ValueKind.NUMBER, False),
    "analog-output": (ValueKind.NUMBER, True),
    "analog-value": (ValueKind.NUMBER, True),
    "binary-input": (ValueKind.BOOL, False),
    "binary-output": (ValueKind.BOOL, True),
    "binary-value": (ValueKind.BOOL, True),
    "multi-state-input": (ValueKind.ENUM, False),
    "multi-state-output": (ValueKind.ENUM, True),
    "multi-state-value": (ValueKind.ENUM, True),
}


@frozen(kw_only=True)
class SimObject:
    """One simulated object; ``node_id`` and ``signal`` are ``None`` for filler objects."""

    object_type: str
    instance: int
    name: str
    description: str
    kind: ValueKind
    commandable: bool
    initial: PointValue
    unit: str | None = None
    states: tuple[str, ...] = ()
    cov_increment: float | None = None
    node_id: str | None = None
    signal: SignalSpec | None = None

    @property
    def object_id(self) -> tuple[str, int]:
        return (self.object_type, self.instance)


@frozen(kw_only=True)
class SimDevice:
    """One simulated device: its identity and its objects (the device object is implied)."""

    instance: int
    name: str
    vendor_name: str = DEFAULT_VENDOR_NAME
    vendor_id: int = DEFAULT_VENDOR_ID
    model: str = "OpenCrate simulator"
    objects: tuple[SimObject, ...] = ()


def scenario_devices(scenario: Scenario) -> list[SimDevice]:
    """The scenario's BACnet devices, in file order.

    Raises ConfigError (file, line, key) for an object type that is not simulated, a point
    whose kind the object type cannot hold, a multi-state ``enum`` property that cannot be
    read, two objects with one id or one name in a device, or a device instance used twice.
    """
    devices: list[SimDevice] = []
    seen: dict[int, str] = {}
    for e, equip in enumerate(scenario.equips):
        points = [
            (p, point)
            for p, point in enumerate(equip.points)
            if (point.binding or {}).get("protocol") == BACNET
        ]
        instance = _equip_instance(points)
        if instance is None:
            continue
        if instance in seen:
            raise ConfigError(
                f"BACnet device {instance} is both {seen[instance]!r} and {equip.id!r}",
                file=scenario.source,
                line=equip.line,
                key=f"equip[{e}].binding.device_instance",
            )
        seen[instance] = equip.id
        objects: list[SimObject] = []
        ids: set[tuple[str, int]] = set()
        names: set[str] = set()
        for p, point in points:
            key = f"equip[{e}].point[{p}]"
            obj = _scenario_object(scenario, point, key, equip.dis)
            clash = (
                f"object {obj.object_type},{obj.instance}" if obj.object_id in ids else
                f"object name {obj.name!r}" if obj.name in names else None
            )  # fmt: skip
            if clash is not None:
                raise ConfigError(
                    f"{clash} is used twice in BACnet device {instance}",
                    file=scenario.source,
                    line=point.line,
                    key=f"{key}.binding",
                    node_id=point.node_id,
                )
            ids.add(obj.object_id)
            names.add(obj.name)
            objects.append(obj)
        props = equip.properties
        devices.append(
            SimDevice(
                instance=instance,
                name=equip.dis,
                vendor_name=str(props.get("manufacturer", DEFAULT_VENDOR_NAME)),
                vendor_id=_int_property(props, "vendor_id", DEFAULT_VENDOR_ID),
                model=str(props.get("model", "OpenCrate simulator")),
                objects=tuple(objects),
            )
        )
    return devices


def _equip_instance(points: list[tuple[int, PointSpec]]) -> int | None:
    # The parser merges the equip binding's device_instance into every point's binding.
    for _, point in points:
        value = (point.binding or {}).get("device_instance")
        if isinstance(value, int):
            return value
    return None


def _int_property(props: Mapping[str, object], name: str, default: int) -> int:
    value = props.get(name, default)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _scenario_object(scenario: Scenario, point: PointSpec, key: str, equip_dis: str) -> SimObject:
    binding = point.binding or {}
    object_type = str(binding.get("object_type"))
    instance = binding.get("object_instance")
    assert isinstance(instance, int)  # ProtocolBinding checked it when the scenario was read
    known = OBJECT_KINDS.get(object_type)
    if known is None:
        raise ConfigError(
            f"BACnet object type {object_type!r} is not simulated "
            f"(one of: {', '.join(OBJECT_KINDS)})",
            file=scenario.source,
            line=point.line,
            key=f"{key}.binding.object_type",
            node_id=point.node_id,
        )
    kind, can_command = known
    if point.kind is not kind:
        raise ConfigError(
            f"a {object_type} holds {kind} values, but {point.node_id} is a {point.kind} point",
            file=scenario.source,
            line=point.line,
            key=f"{key}.kind",
            node_id=point.node_id,
        )
    states: tuple[str, ...] = ()
    if kind is ValueKind.ENUM:
        states = _states(scenario, point, key)
    commandable = can_command and (object_type.endswith("-output") or point.writable)
    description = point.properties.get("description")
    return SimObject(
        object_type=object_type,
        instance=instance,
        name=point.dis,
        description=str(description) if description is not None else f"{equip_dis} {point.dis}",
        kind=kind,
        commandable=commandable,
        initial=_zero(kind),
        unit=point.unit,
        states=states,
        cov_increment=_cov_increment(point) if kind is ValueKind.NUMBER else None,
        node_id=point.node_id,
        signal=point.signal,
    )


def _cov_increment(point: PointSpec) -> float:
    if point.deadband is not None and point.deadband > 0:
        return point.deadband
    decimals = point.signal.decimals if point.signal is not None else 2
    return float(10 ** -max(0, decimals))


def _states(scenario: Scenario, point: PointSpec, key: str) -> tuple[str, ...]:
    """State texts 1..N from the ``enum`` property (``"1=occupied,2=unoccupied"``)."""
    raw = point.properties.get("enum")
    if raw is None:
        return tuple(f"state {n}" for n in range(1, _highest_state(point.signal) + 1))
    texts: dict[int, str] = {}
    for item in str(raw).split(","):
        number, sep, text = item.partition("=")
        if not sep or not number.strip().isdigit() or not text.strip():
            raise ConfigError(
                f"enum {raw!r}: {item.strip()!r} is not 'number=name'",
                file=scenario.source,
                line=point.line,
                key=f"{key}.properties.enum",
                node_id=point.node_id,
            )
        texts[int(number)] = text.strip()
    if sorted(texts) != list(range(1, len(texts) + 1)):
        raise ConfigError(
            f"enum {raw!r}: a multi-state object's states are numbered 1..N without gaps",
            file=scenario.source,
            line=point.line,
            key=f"{key}.properties.enum",
            node_id=point.node_id,
        )
    return tuple(texts[n] for n in range(1, len(texts) + 1))


def _highest_state(signal: SignalSpec | None) -> int:
    values: list[PointValue] = []
    if signal is not None:
        shape = signal.shape
        values = [v for _, v in getattr(shape, "steps", ())] + [getattr(shape, "value", 1)]
    numbers = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
    return max([2, *numbers])


def _zero(kind: ValueKind) -> PointValue:
    if kind is ValueKind.BOOL:
        return False
    if kind is ValueKind.ENUM:
        return 1
    return 0.0


#: Filler object types, in turn (a mix like a real controller's).
_EXTRA_TYPES = ("analog-value", "analog-input", "binary-value", "multi-state-value")
#: Filler objects start at this instance, clear of any scenario object's.
EXTRA_FIRST_INSTANCE = 10_000


def extra_objects(count: int) -> tuple[SimObject, ...]:
    """``count`` filler objects (no signal): analog, binary and multi-state values and inputs."""
    objects = []
    for n in range(count):
        object_type = _EXTRA_TYPES[n % len(_EXTRA_TYPES)]
        kind = OBJECT_KINDS[object_type][0]
        instance = EXTRA_FIRST_INSTANCE + n
        objects.append(
            SimObject(
                object_type=object_type,
                instance=instance,
                name=f"Extra {object_type} {instance}",
                description=f"filler object {n + 1} of {count}",
                kind=kind,
                commandable=object_type.endswith("-value"),
                initial=float(n) if kind is ValueKind.NUMBER else _zero(kind),
                unit="%" if kind is ValueKind.NUMBER else None,
                states=("low", "medium", "high") if kind is ValueKind.ENUM else (),
                cov_increment=0.1 if kind is ValueKind.NUMBER else None,
            )
        )
    return tuple(objects)
