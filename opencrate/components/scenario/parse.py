"""Reading a scenario file into :mod:`opencrate.components.scenario.format` records.

Strict on purpose: an unknown key, a wrong type, a duplicate id or a parent
that is not declared (earlier in the file) is a :class:`ConfigError` naming
the file, the line and the key path, because a typo in a building description
must not quietly produce a different building.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

from opencrate.components.nodes.well_known import check_properties
from opencrate.components.scenario._reader import KeyPath, Reporter, TomlTable
from opencrate.components.scenario.format import (
    ConstantShape,
    EquipSpec,
    PointSpec,
    RampShape,
    RandomWalkShape,
    Scenario,
    ScheduleShape,
    Shape,
    SignalSpec,
    SineShape,
    SiteSpec,
    SpaceSpec,
)
from opencrate.errors import InvalidInput
from opencrate.model.binding import ProtocolBinding
from opencrate.model.ids import point_id, validate_node_id
from opencrate.model.node import CAPABILITY_NAMES
from opencrate.model.values import PointValue, ValueKind, coerce_value
from opencrate.toml_lines import TomlLines, parse_toml, read_config_text

__all__ = ["MAX_BACKFILL_S", "load_scenario", "parse_scenario"]

#: The longest ``[scenario] backfill``: a back-fill runs before the API is up.
MAX_BACKFILL_S = 30 * 86_400.0


_NUMBER_SHAPES = ("sine", "random_walk", "ramp")
_SHAPE_KEYS: dict[str, frozenset[str]] = {
    "sine": frozenset({"mean", "amplitude", "period", "phase"}),
    "schedule": frozenset({"steps", "period"}),
    "random_walk": frozenset({"start", "step", "pull"}),
    "ramp": frozenset({"start", "rate"}),
    "constant": frozenset({"value"}),
}
_SIGNAL_COMMON = frozenset({"shape", "interval", "noise", "decimals", "low", "high"})


def load_scenario(path: Path) -> Scenario:
    """Read and check the scenario file at ``path``.

    Raises :class:`ConfigError` (file, line, key) when the file is missing,
    is not TOML or breaks a rule of the format. Blocking file I/O: in async
    code call it through ``trio.to_thread.run_sync``.
    """
    return parse_scenario(read_config_text(path, what="scenario file"), source=str(path))


def parse_scenario(text: str, *, source: str = "<scenario>") -> Scenario:
    """Check a scenario given as TOML text; errors name ``source`` as the file."""
    data = parse_toml(text, file=source)
    return _Parser(Reporter(source, TomlLines(text))).scenario(data)


class _Parser:
    def __init__(self, reporter: Reporter) -> None:
        self.reporter = reporter
        self.source = reporter.source
        self.ids: dict[str, str] = {}  # node id -> what it is ("site", "space", ...)

    def fail(self, message: str, path: KeyPath) -> NoReturn:
        self.reporter.fail(message, path)

    def scenario(self, data: dict[str, Any]) -> Scenario:
        root = TomlTable(self.reporter, data, ())
        head = root.table("scenario")
        name, description, seed, backfill_s = Path(self.source).stem, "", 0, 0.0
        if head is not None:
            name = head.text("name", default=name)
            description = head.raw("description") or ""
            if not isinstance(description, str):
                head.fail("must be a string", "description")
            seed = head.integer("seed", default=0)
            backfill_s = head.duration_s("backfill", default=0.0, zero=True)
            if backfill_s > MAX_BACKFILL_S:
                head.fail(f"must be at most 30d, got {head.raw('backfill')!r}", "backfill")
            head.done()
        sites = tuple(self.site(t) for t in root.tables("site"))
        spaces = tuple(self.space(t) for t in root.tables("space"))
        equips = tuple(self.equip(t) for t in root.tables("equip"))
        root.done()
        if not sites:
            root.fail("a scenario needs at least one [[site]]")
        scenario = Scenario(
            name=name,
            description=description,
            seed=seed,
            backfill_s=backfill_s,
            sites=sites,
            spaces=spaces,
            equips=equips,
            source=self.source,
        )
        self._check_refs(scenario)
        return scenario

    # -- nodes ------------------------------------------------------------------
    def _node_id(self, table: TomlTable, key: str, value: str, what: str) -> str:
        try:
            node_id = validate_node_id(value, what="id")
        except InvalidInput as exc:
            table.fail(exc.message, key)
        if node_id in self.ids:
            table.fail(f"duplicate id {node_id!r} (already used by a {self.ids[node_id]})", key)
        self.ids[node_id] = what
        return node_id

    def _parent(self, table: TomlTable, allowed: tuple[str, ...]) -> str:
        parent = table.text("parent")
        kind = self.ids.get(parent)
        if kind is None:
            table.fail(
                f"parent {parent!r} is not declared above (it must be a {' or '.join(allowed)} "
                "that comes earlier in the file)",
                "parent",
            )
        if kind not in allowed:
            table.fail(
                f"parent {parent!r} is a {kind}; expected a {' or '.join(allowed)}", "parent"
            )
        return parent

    def _refs(self, table: TomlTable) -> dict[str, str]:
        refs = table.mapping("refs")
        for name, target in refs.items():
            if not isinstance(target, str) or not target:
                self.fail(f"must be a node id, got {target!r}", (*table.path, "refs", name))
        return refs

    def _properties(self, table: TomlTable) -> dict[str, Any]:
        # The NodeStore would refuse a bad well-known key (a point's alarm rule)
        # too, but only here can the error name the file and the line.
        properties = table.mapping("properties")
        try:
            check_properties(properties)
        except InvalidInput as exc:
            field = str(exc.detail.get("field", "properties"))
            self.fail(exc.message.removeprefix(f"{field}: "), (*table.path, *field.split(".")))
        return properties

    def site(self, table: TomlTable) -> SiteSpec:
        node_id = self._node_id(table, "id", table.text("id"), "site")
        spec = SiteSpec(id=node_id, **self._described(table))
        table.done()
        return spec

    def _described(self, table: TomlTable) -> dict[str, Any]:
        """What every site, space and equipment has: dis, tags, refs, properties, line."""
        return {
            "dis": table.text("dis"),
            "tags": table.names("tags"),
            "refs": self._refs(table),
            "properties": self._properties(table),
            "line": table.line,
        }

    def space(self, table: TomlTable) -> SpaceSpec:
        node_id = table.text("id")
        parent = self._parent(table, ("site", "space"))
        node_id = self._node_id(table, "id", node_id, "space")
        spec = SpaceSpec(id=node_id, parent=parent, **self._described(table))
        table.done()
        return spec

    def equip(self, table: TomlTable) -> EquipSpec:
        node_id = table.text("id")
        parent = self._parent(table, ("site", "space", "equip"))
        node_id = self._node_id(table, "id", node_id, "equip")
        defaults = table.mapping("binding")
        if defaults and not isinstance(defaults.get("protocol"), str):
            table.fail("an equipment binding must name its 'protocol'", "binding")
        points = tuple(self.point(t, node_id, defaults) for t in table.tables("point"))
        spec = EquipSpec(id=node_id, parent=parent, points=points, **self._described(table))
        table.done()
        return spec

    def point(self, table: TomlTable, equip_id: str, defaults: Mapping[str, Any]) -> PointSpec:
        local = table.text("id")
        if "/" in local:
            node_id = local
        else:
            try:
                node_id = point_id(equip_id, local)
            except InvalidInput as exc:
                table.fail(exc.message, "id")
        node_id = self._node_id(table, "id", node_id, "point")
        unit = table.optional_text("unit")
        signal_table = table.table("signal")
        kind = self._kind(table, unit, signal_table)
        capabilities = None
        if table.has("capabilities"):
            capabilities = table.names("capabilities")
            unknown = sorted(capabilities - set(CAPABILITY_NAMES))
            if unknown:
                table.fail(
                    f"unknown capabilities {unknown}; known: {list(CAPABILITY_NAMES)}",
                    "capabilities",
                )
        deadband = table.optional_number("deadband")
        if deadband is not None and (deadband < 0 or kind is not ValueKind.NUMBER):
            table.fail("a deadband must be >= 0 and is only for number points", "deadband")
        spec = PointSpec(
            node_id=node_id,
            dis=table.text("dis"),
            kind=kind,
            unit=unit,
            tags=table.names("tags"),
            refs=self._refs(table),
            properties=self._properties(table),
            capabilities=capabilities,
            writable=table.flag("writable", default=False),
            binding=self._binding(table, defaults),
            deadband=deadband,
            signal=None if signal_table is None else self.signal(signal_table, kind),
            line=table.line,
        )
        table.done()
        return spec

    def _kind(self, table: TomlTable, unit: str | None, signal: TomlTable | None) -> ValueKind:
        raw = table.raw("kind")
        if raw is not None:
            try:
                return ValueKind(raw)
            except ValueError:
                table.fail(f"must be one of {[k.value for k in ValueKind]}, got {raw!r}", "kind")
        if unit is not None or signal is None:
            return ValueKind.NUMBER
        # No unit: take the kind from the values the signal produces.
        sample: Any = signal.data.get("value")
        steps = signal.data.get("steps")
        if sample is None and isinstance(steps, list) and steps and isinstance(steps[0], dict):
            sample = steps[0].get("value")
        if isinstance(sample, bool):
            return ValueKind.BOOL
        if isinstance(sample, int):
            return ValueKind.ENUM
        if isinstance(sample, str):
            return ValueKind.STR
        return ValueKind.NUMBER

    def _binding(self, table: TomlTable, defaults: Mapping[str, Any]) -> dict[str, Any] | None:
        own = table.mapping("binding")
        if not own:
            return None
        protocol = own.get("protocol", defaults.get("protocol"))
        if not isinstance(protocol, str):
            table.fail("the binding needs a 'protocol' (here or on the equipment)", "binding")
        config = {k: v for k, v in defaults.items() if k != "protocol"}
        if defaults.get("protocol") != protocol:
            config = {}
        config.update({k: v for k, v in own.items() if k != "protocol"})
        try:
            ProtocolBinding(protocol=protocol, config=config)
        except InvalidInput as exc:
            key = exc.detail.get("field")
            self.fail(exc.message, (*table.path, "binding", *([key] if key else [])))
        return {"protocol": protocol, **config}

    # -- signals ------------------------------------------------------------------
    def signal(self, table: TomlTable, kind: ValueKind) -> SignalSpec:
        shape_name = table.text("shape")
        if shape_name not in _SHAPE_KEYS:
            table.fail(f"shape must be one of {sorted(_SHAPE_KEYS)}, got {shape_name!r}", "shape")
        if shape_name in _NUMBER_SHAPES and kind is not ValueKind.NUMBER:
            table.fail(f"a {shape_name} signal makes numbers; this point's kind is {kind}", "shape")
        for key in table.data:
            if key not in _SIGNAL_COMMON and key not in _SHAPE_KEYS[shape_name]:
                table.fail(f"unknown key {key!r} for a {shape_name} signal", key)
        numeric_only = ("noise", "low", "high", "decimals")
        if kind is not ValueKind.NUMBER:
            for key in numeric_only:
                if table.has(key):
                    table.fail(f"{key!r} is only for number points", key)
        shape = self._shape(table, shape_name, kind)
        spec = SignalSpec(
            shape=shape,
            interval_s=table.duration_s("interval", default=5.0),
            noise=table.number("noise", default=0.0),
            decimals=table.integer("decimals", default=2),
            low=table.optional_number("low"),
            high=table.optional_number("high"),
        )
        if spec.noise < 0:
            table.fail("noise is a standard deviation and must be >= 0", "noise")
        if not 0 <= spec.decimals <= 9:
            table.fail("decimals must be 0..9", "decimals")
        if spec.low is not None and spec.high is not None and spec.low > spec.high:
            table.fail(f"low ({spec.low}) is above high ({spec.high})", "low")
        table.done()
        return spec

    def _shape(self, table: TomlTable, name: str, kind: ValueKind) -> Shape:
        if name == "sine":
            return SineShape(
                mean=table.number("mean"),
                amplitude=table.number("amplitude"),
                period_s=table.duration_s("period"),
                phase_s=table.duration_s("phase", default=0.0, zero=True),
            )
        if name == "random_walk":
            shape = RandomWalkShape(
                start=table.number("start"),
                step=table.number("step"),
                pull=table.number("pull", default=0.05),
            )
            if not 0 <= shape.pull <= 1:
                table.fail("pull must be between 0 and 1", "pull")
            return shape
        if name == "ramp":
            return RampShape(start=table.number("start"), rate_per_h=table.number("rate"))
        if name == "constant":
            return ConstantShape(value=self._value(table, kind))
        return self._schedule(table, kind)

    def _schedule(self, table: TomlTable, kind: ValueKind) -> ScheduleShape:
        period = table.duration_s("period")
        raw_steps = table.raw("steps")
        if not isinstance(raw_steps, list) or not raw_steps:
            table.fail("must be a non-empty array of {at = ..., value = ...}", "steps")
        steps: list[tuple[float, PointValue]] = []
        for i, raw in enumerate(raw_steps):
            step = TomlTable(self.reporter, raw, (*table.path, "steps", i))
            at = step.duration_s("at", zero=True)
            value = self._value(step, kind)
            step.done()
            if steps and at <= steps[-1][0]:
                step.fail("steps must be in increasing order of 'at'", "at")
            if at >= period:
                step.fail(f"'at' ({at:g}s) must be inside the period ({period:g}s)", "at")
            steps.append((at, value))
        if steps[0][0] != 0:
            table.fail(
                "the first step must be at 0 (the schedule must say where it starts)", "steps"
            )
        return ScheduleShape(steps=tuple(steps), period_s=period)

    def _value(self, table: TomlTable, kind: ValueKind) -> PointValue:
        """The table's ``value``, converted to the point's kind."""
        raw = table.raw("value")
        if raw is None:
            table.fail("'value' is required", "value")
        try:
            return coerce_value(raw, kind)
        except InvalidInput as exc:
            table.fail(f"{exc.message} (the point's kind is {kind})", "value")

    # -- cross references -----------------------------------------------------------
    def _check_refs(self, scenario: Scenario) -> None:
        groups: list[tuple[str, list[Any]]] = [
            ("site", list(scenario.sites)),
            ("space", list(scenario.spaces)),
            ("equip", list(scenario.equips)),
        ]
        for key, specs in groups:
            for index, spec in enumerate(specs):
                self._check_ref_targets((key, index), spec.refs)
                if key == "equip":
                    for p_index, point in enumerate(spec.points):
                        self._check_ref_targets((key, index, "point", p_index), point.refs)

    def _check_ref_targets(self, path: KeyPath, refs: Mapping[str, str]) -> None:
        for name, target in refs.items():
            if target not in self.ids:
                self.fail(
                    f"ref {name} names {target!r}, which is not in the scenario",
                    (*path, "refs", name),
                )
