"""The scenario file: a building described in TOML, and its simulated signals.

A scenario lists sites, spaces and equipment, each equipment with its points,
and optionally a ``[signal]`` per point that the
:class:`~opencrate.components.scenario.simulate.Simulator` drives. The layout (see
``docs/reference/scenario.md`` for every key)::

    [scenario]
    name = "Demo office"
    seed = 42                       # the simulator's random numbers
    backfill = "24h"                # simulated history written at start (default: none)

    [[site]]
    id = "main-office"
    dis = "Main Office"

    [[space]]
    id = "floor-1"
    dis = "Floor 1"
    parent = "main-office"          # a site or another space
    tags = ["floor"]

    [[equip]]
    id = "1001"
    dis = "AHU-1"
    parent = "floor-1"              # a site, a space or another equip
    binding = { protocol = "bacnet", device_instance = 1001 }

    [[equip.point]]
    id = "analog-input-1"           # the node id becomes "1001/analog-input-1"
    dis = "Supply Air Temp"
    unit = "°C"
    binding = { object_type = "analog-input", object_instance = 1 }
    signal = { shape = "sine", mean = 13.0, amplitude = 0.8, period = "15m", interval = "5s" }

:func:`opencrate.components.scenario.parse.load_scenario` reads and checks a file into
these records. Every problem raises
:class:`~opencrate.errors.ConfigError` naming the file, the line and the key
path (``office.toml:57 [equip[0].point[3].signal.period]: ...``): unknown keys,
wrong types, duplicate or dangling ids, a signal that cannot produce the
point's kind. The records are plain data (treat their mappings as read-only);
turning them into nodes is :mod:`opencrate.components.scenario.build`'s job.
"""

from __future__ import annotations

from collections.abc import Mapping

from attrs import field, frozen

from opencrate.model.values import PointValue, ValueKind

__all__ = [
    "ConstantShape",
    "EquipSpec",
    "PointSpec",
    "RampShape",
    "RandomWalkShape",
    "Scenario",
    "ScheduleShape",
    "Shape",
    "SignalSpec",
    "SineShape",
    "SiteSpec",
    "SpaceSpec",
]


# -- signal shapes --------------------------------------------------------------
@frozen(kw_only=True)
class SineShape:
    """``mean + amplitude * sin(2π (t + phase) / period)``; numbers only."""

    mean: float
    amplitude: float
    period_s: float
    phase_s: float = 0.0


@frozen(kw_only=True)
class ScheduleShape:
    """A repeating step schedule: ``value`` holds from its ``at`` offset until the next step.

    ``steps`` are ``(offset_s, value)`` sorted by offset, the first at 0;
    the schedule repeats every ``period_s``.
    """

    steps: tuple[tuple[float, PointValue], ...]
    period_s: float


@frozen(kw_only=True)
class RandomWalkShape:
    """Starts at ``start``; each sample moves by a uniform step in ``[-step, step]``.

    ``pull`` (0..1) draws it back toward ``start`` by that fraction of the
    distance each sample, so it wanders without drifting away for good. The
    signal's ``low`` / ``high`` bound it.
    """

    start: float
    step: float
    pull: float = 0.05


@frozen(kw_only=True)
class RampShape:
    """``start + rate_per_h * hours since start``: a counter such as an energy meter."""

    start: float
    rate_per_h: float


@frozen(kw_only=True)
class ConstantShape:
    """Always ``value`` (plus noise, for numbers)."""

    value: PointValue


Shape = SineShape | ScheduleShape | RandomWalkShape | RampShape | ConstantShape


@frozen(kw_only=True)
class SignalSpec:
    """How the simulator drives one point.

    Numbers get Gaussian ``noise`` (standard deviation), are clamped to
    ``[low, high]`` when given, and rounded to ``decimals``.
    """

    shape: Shape
    interval_s: float = 5.0
    noise: float = 0.0
    decimals: int = 2
    low: float | None = None
    high: float | None = None


# -- the building -------------------------------------------------------------
@frozen(kw_only=True)
class PointSpec:
    """A point of an equipment. ``node_id`` is the full id (``"{equip}/{id}"``)."""

    node_id: str
    dis: str
    kind: ValueKind
    unit: str | None = None
    tags: frozenset[str] = frozenset()
    refs: Mapping[str, str] = field(factory=dict)
    properties: Mapping[str, object] = field(factory=dict)
    #: Capability names; ``None``: the defaults (see docs/reference/scenario.md).
    capabilities: frozenset[str] | None = None
    writable: bool = False
    #: Protocol name and config, already merged with the equipment's defaults.
    binding: Mapping[str, object] | None = None
    deadband: float | None = None
    signal: SignalSpec | None = None
    line: int | None = None


@frozen(kw_only=True)
class EquipSpec:
    id: str
    dis: str
    #: A site, a space or another equip (always set in a scenario file; ``None``
    #: for discovered equipment accepted without a place in the building).
    parent: str | None
    tags: frozenset[str] = frozenset()
    refs: Mapping[str, str] = field(factory=dict)
    properties: Mapping[str, object] = field(factory=dict)
    points: tuple[PointSpec, ...] = ()
    line: int | None = None


@frozen(kw_only=True)
class SpaceSpec:
    id: str
    dis: str
    parent: str
    tags: frozenset[str] = frozenset()
    refs: Mapping[str, str] = field(factory=dict)
    properties: Mapping[str, object] = field(factory=dict)
    line: int | None = None


@frozen(kw_only=True)
class SiteSpec:
    id: str
    dis: str
    tags: frozenset[str] = frozenset()
    refs: Mapping[str, str] = field(factory=dict)
    properties: Mapping[str, object] = field(factory=dict)
    line: int | None = None


@frozen(kw_only=True)
class Scenario:
    """A whole scenario file, checked. ``source`` is where it was read from."""

    name: str
    description: str = ""
    seed: int = 0
    #: Seconds of simulated history written before the simulator starts (0: none).
    backfill_s: float = 0.0
    sites: tuple[SiteSpec, ...] = ()
    spaces: tuple[SpaceSpec, ...] = ()
    equips: tuple[EquipSpec, ...] = ()
    source: str = "<scenario>"

    def points(self) -> tuple[PointSpec, ...]:
        """Every point of every equipment, in file order."""
        return tuple(point for equip in self.equips for point in equip.points)

    def signals(self) -> dict[str, SignalSpec]:
        """Node id -> signal, for the points that have one."""
        return {p.node_id: p.signal for p in self.points() if p.signal is not None}
