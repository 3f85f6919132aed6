"""Read the project's TOML persistence configuration (and its JSON twin from the API).

The ``[persistence]`` section of ``opencrate.toml``, or a file of its own with
the same content (optionally wrapped in ``[persistence]``)::

    default = "sqlite"                      # the service queries use when none is named

    [services.sqlite]                       # the name; kind defaults to the name
    persist = "sqlite.persist"              # optional: take the model from an openHAB file

    [services.sqlite.strategies]
    every5min = "0 */5 * * * ?"

    [services.sqlite.filters]
    tenth   = { threshold = 0.1 }
    fivePct = { threshold = 5, unit = "%" }
    hourly  = { time = "1h" }
    onlyOn  = { equal = ["ON", "true"] }
    notOff  = { not_equal = ["OFF"] }
    comfort = { inside = [18, 26] }
    extreme = { outside = [0, 40] }

    [[services.sqlite.items]]
    points = ["*"]
    strategies = ["everyChange", "every5min"]

    [[services.sqlite.items]]
    points = ["ahu1*", "!ahu1/debug"]
    strategies = ["restoreOnStartup"]
    filters = ["tenth"]
    alias = "ahu"

    [services.sqlite.aliases]
    "1001/ai-1" = "outside_air_temp"

    [services.sqlite.retention]             # sqlite services only; optional
    raw = "90d"                             # "forever" or a duration (s, m, h, d, w, y)
    rollups = "forever"                     # both tiers; "5m" / "1h" set one tier
    interval = "1h"                         # time between purge passes
    batch_rows = 2000                       # rows per delete command

    [[services.sqlite.retention.rules]]     # first match wins; keys left out: as above
    points = ["meter-1*"]                   # "*", "prefix*" or a point id
    raw = "2y"

    [services.forecast]
    kind = "memory"
    max_entries = 512

Unknown keys are errors. tomllib gives no positions for values, so
:meth:`~opencrate.toml_lines.TomlLines.line_of_token` finds the line of an
offending token by scanning the text under the right table header; every
:class:`~opencrate.errors.ConfigError` names the file, that line and the token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from attrs import evolve

from opencrate.clock import parse_duration_ms
from opencrate.components.history.config.model import (
    KEEP_KEYS,
    PG_IDENTIFIER,
    SERVICE_KINDS,
    CronStrategy,
    EqualsFilter,
    Filter,
    ItemConfig,
    PersistenceConfig,
    RangeFilter,
    RetentionConfig,
    RetentionOverride,
    Selector,
    ServiceConfig,
    ThresholdFilter,
    TimeFilter,
    parse_keep,
)
from opencrate.components.history.config.persist_syntax import parse_persist
from opencrate.config import settings_sections
from opencrate.errors import ConfigError, InvalidInput
from opencrate.toml_lines import (
    KeyPath,
    TokenLocator,
    TomlLines,
    parse_toml,
    read_config_text,
)

__all__ = [
    "COMMON_OPTIONS",
    "OPTIONS",
    "load_config_file",
    "parse_config_mapping",
    "parse_config_text",
    "parse_section",
    "service_from_mapping",
]

#: Options every kind takes. ``accept_unknown_points``: the history API reads and
#: writes ids the node model does not know (a PostgreSQL table shared by several
#: sites holds the others' points); false refuses them (404 / 400 naming the id).
#: Unlike a kind's options they are in ``ServiceConfig.options`` only when written.
COMMON_OPTIONS: dict[str, tuple[type, Any]] = {"accept_unknown_points": (bool, False)}
#: Service options per kind: key -> (type, default). Anything else is an error.
OPTIONS: dict[str, dict[str, tuple[type, Any]]] = {
    "sqlite": {**COMMON_OPTIONS},
    "memory": {"max_entries": (int, 512), **COMMON_OPTIONS},
    "postgresql": {
        "dsn": (str, None),
        "schema": (str, "public"),
        "table": (str, "opencrate_samples"),
        "spool_max": (int, 100_000),
        "batch_max": (int, 1000),
        **COMMON_OPTIONS,
    },
}
_MODEL_KEYS = frozenset(
    {"kind", "persist", "strategies", "filters", "items", "aliases", "retention"}
)
_FILTER_KINDS = ("threshold", "time", "equal", "not_equal", "inside", "outside")
_ITEM_KEYS = frozenset({"points", "strategies", "filters", "alias"})
_RETENTION_KEYS = frozenset({*KEEP_KEYS, "interval", "batch_rows", "rules"})
_RETENTION_RULE_KEYS = frozenset({"points", *KEEP_KEYS})
_MAX_BATCH_ROWS = 100_000
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: postgresql options that become SQL identifiers (schema and table names).
_PG_IDENTIFIERS = frozenset({"schema", "table"})

PathKey = KeyPath
Locate = TokenLocator


class _Reader:
    """Converts one service's table, raising ConfigError with file, line and token."""

    def __init__(self, file: str | None, locate: Locate | None) -> None:
        self.file = file
        self.locate = locate

    def fail(self, path: PathKey, token: object, message: str) -> NoReturn:
        text = None if token is None else str(token)
        line = self.locate(path, text) if self.locate else None
        where = ".".join(f"[{p}]" if isinstance(p, int) else p for p in path).replace(".[", "[")
        raise ConfigError(
            f"{where}: {message}" if where else message, file=self.file, line=line, key=text
        )

    def table(self, path: PathKey, value: object) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            self.fail(path, path[-1] if path else None, "must be a table")
        return value

    def strings(self, path: PathKey, value: object, what: str) -> list[str]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(path, value, f"must be a list of {what} (strings)")
        return list(value)

    def service(self, name: str, table: Mapping[str, Any], base: Path | None) -> ServiceConfig:
        path: PathKey = ("services", name)
        kind = table.get("kind", name if name in SERVICE_KINDS else None)
        if kind not in SERVICE_KINDS:
            self.fail(
                path,
                kind if kind is not None else name,
                (
                    f"unknown service kind {kind!r}; use one of {', '.join(sorted(SERVICE_KINDS))}"
                    if kind is not None
                    else 'say which kind it is: kind = "sqlite", "postgresql" or "memory"'
                ),
            )
        options = self.options(path, kind, table)
        retention = self.retention(path, kind, table.get("retention"))
        persist = table.get("persist")
        if persist is not None:
            service = self.from_persist_file(path, name, kind, table, persist, base, options)
            # Retention is a service setting, not part of the item model: it stays here.
            return evolve(service, retention=retention)
        service = ServiceConfig(
            name=name,
            kind=kind,
            strategies=self.strategies(path, table.get("strategies", {})),
            filters=tuple(
                self.filter((*path, "filters"), fname, spec)
                for fname, spec in self.table((*path, "filters"), table.get("filters", {})).items()
            ),
            items=tuple(
                self.item((*path, "items", i), entry)
                for i, entry in enumerate(self.item_list(path, table.get("items", [])))
            ),
            aliases=self.aliases(path, table.get("aliases", {})),
            options=options,
            retention=retention,
            source=self.file,
        )
        for problem in service.problems():
            if problem.item is not None:
                index = service.items.index(problem.item)
                self.fail((*path, "items", index), problem.token, problem.message)
            self.fail(path, problem.token, problem.message)
        return service

    def from_persist_file(
        self,
        path: PathKey,
        name: str,
        kind: str,
        table: Mapping[str, Any],
        persist: object,
        base: Path | None,
        options: dict[str, Any],
    ) -> ServiceConfig:
        if not isinstance(persist, str):
            self.fail(path, persist, "persist must be a file name")
        both = sorted(k for k in ("strategies", "filters", "items", "aliases") if k in table)
        if both:
            self.fail(path, both[0], "give the model either in a .persist file or here, not both")
        file = (base / persist) if base is not None else Path(persist)
        try:
            text = read_config_text(file, what=str(file))
        except ConfigError as exc:
            self.fail(path, persist, exc.reason)
        parsed = parse_persist(text, service=name, kind=kind, file=str(file))
        return ServiceConfig(
            name=parsed.name,
            kind=parsed.kind,
            strategies=parsed.strategies,
            filters=parsed.filters,
            items=parsed.items,
            aliases=parsed.aliases,
            options=options,
            source=str(file),
        )

    def options(self, path: PathKey, kind: str, table: Mapping[str, Any]) -> dict[str, Any]:
        known = OPTIONS[kind]
        options: dict[str, Any] = {}
        for key, value in table.items():
            if key in _MODEL_KEYS:
                continue
            if key not in known:
                allowed = sorted(_MODEL_KEYS | set(known))
                self.fail(path, key, f"unknown key {key!r} (allowed: {', '.join(allowed)})")
            kind_type = known[key][0]
            # bool is an int in Python: true is not a count, and 1 is not a flag.
            if not isinstance(value, kind_type) or isinstance(value, bool) != (kind_type is bool):
                self.fail(path, key, f"{key} must be {kind_type.__name__}, got {value!r}")
            if isinstance(value, int) and not isinstance(value, bool) and value <= 0:
                self.fail(path, key, f"{key} must be positive, got {value}")
            if key in _PG_IDENTIFIERS and not PG_IDENTIFIER.fullmatch(str(value)):
                # Interpolated into SQL by the service: refuse it here, with the line.
                self.fail(
                    path,
                    key,
                    f"{key} {value!r}: use a lower-case identifier ([a-z_][a-z0-9_]*, "
                    "at most 41 characters)",
                )
            options[key] = value
        for key, (_type, default) in known.items():
            # A common option stays out unless written: shown configurations do not
            # grow a line for every service (readers use ``options.get(key, default)``).
            if key not in options and key not in COMMON_OPTIONS:
                if default is None:
                    self.fail(path, path[-1], f"a {kind} service needs {key!r}")
                options[key] = default
        return options

    def retention(self, path: PathKey, kind: str, value: object) -> RetentionConfig | None:
        if value is None:
            return None
        where = (*path, "retention")
        if kind != "sqlite":
            self.fail(
                where,
                "retention",
                f"retention applies to sqlite services only (a {kind} service: "
                + (
                    "max_entries bounds it)"
                    if kind == "memory"
                    else "its table is shared by many nodes; expire it on the server)"
                ),
            )
        table = self.table(where, value)
        extra = sorted(set(table) - _RETENTION_KEYS)
        if extra:
            allowed = ", ".join(sorted(_RETENTION_KEYS))
            self.fail(where, extra[0], f"unknown key {extra[0]!r} (allowed: {allowed})")
        interval = 3_600_000
        if "interval" in table:
            every = self.keep_time(where, "interval", table["interval"])
            if every is None:
                self.fail(where, "interval", 'interval is a duration such as "1h", not forever')
            interval = every
        batch_rows = table.get("batch_rows", 2000)
        if (
            not isinstance(batch_rows, int)
            or isinstance(batch_rows, bool)
            or not 1 <= batch_rows <= _MAX_BATCH_ROWS
        ):
            self.fail(where, "batch_rows", f"batch_rows must be an integer 1..{_MAX_BATCH_ROWS}")
        rules = table.get("rules", [])
        if not isinstance(rules, list):
            self.fail(where, "rules", "rules must be an array of tables ([[...retention.rules]])")
        config = RetentionConfig(
            keep=self.keeps(where, table),
            rules=tuple(
                self.retention_rule((*where, "rules", i), entry) for i, entry in enumerate(rules)
            ),
            interval_ms=interval,
            batch_rows=batch_rows,
        )
        for rule, message in config.problems():
            layer = config.keep if rule is None else rule.keep
            token = next((k for k in ("1h", "5m", "rollups", "raw") if k in layer), None)
            if rule is None:
                self.fail(where, token, message)
            self.fail((*where, "rules", config.rules.index(rule)), token, message)
        return config

    def retention_rule(self, path: PathKey, entry: object) -> RetentionOverride:
        table = self.table(path, entry)
        extra = sorted(set(table) - _RETENTION_RULE_KEYS)
        if extra:
            allowed = ", ".join(sorted(_RETENTION_RULE_KEYS))
            self.fail(path, extra[0], f"unknown key {extra[0]!r} (allowed: {allowed})")
        points = self.strings(path, table.get("points", []), "selectors")
        if not points:
            self.fail(path, "points", 'a retention rule needs points = ["..."]')
        for text in points:
            star = text.find("*")
            if not text or text.startswith("!") or star not in (-1, len(text) - 1):
                self.fail(
                    path, text, f"selector {text!r}: use '*', 'prefix*' or a point id (no '!')"
                )
        keep = self.keeps(path, table)
        if not keep:
            self.fail(path, "points", f"a rule needs at least one of {', '.join(KEEP_KEYS)}")
        return RetentionOverride(
            points=tuple(points),
            keep=keep,
            line=self.locate(path, None) if self.locate else None,
        )

    def keeps(self, path: PathKey, table: Mapping[str, Any]) -> dict[str, int | None]:
        return {key: self.keep_time(path, key, table[key]) for key in KEEP_KEYS if key in table}

    def keep_time(self, path: PathKey, key: str, value: object) -> int | None:
        if not isinstance(value, str):
            self.fail(path, key, f'{key} must be "forever" or a duration in quotes, got {value!r}')
        try:
            return parse_keep(value)
        except InvalidInput as exc:
            self.fail(path, value, f"{key}: {exc.message}")

    def strategies(self, path: PathKey, value: object) -> tuple[CronStrategy, ...]:
        where = (*path, "strategies")
        out = []
        for name, expression in self.table(where, value).items():
            self.identifier(where, name, "a strategy")
            if not isinstance(expression, str):
                self.fail(where, name, "a cron strategy is a cron expression in quotes")
            try:
                out.append(CronStrategy(name=name, expression=expression))
            except InvalidInput as exc:
                self.fail(where, expression, exc.message)
        return tuple(out)

    def identifier(self, path: PathKey, name: str, what: str) -> None:
        # The same names .persist allows, so every configuration can be written in both.
        if not _IDENTIFIER.fullmatch(name):
            self.fail(path, name, f"{what} name must be an identifier ([A-Za-z_][A-Za-z0-9_]*)")

    def filter(self, path: PathKey, name: str, spec: object) -> Filter:
        self.identifier(path, name, "a filter")
        spec = self.table((*path, name), spec)
        kinds = [k for k in _FILTER_KINDS if k in spec]
        extra = sorted(set(spec) - set(_FILTER_KINDS) - {"unit"})
        if extra:
            self.fail(path, extra[0], f"filter {name}: unknown key {extra[0]!r}")
        if len(kinds) != 1:
            self.fail(path, name, f"filter {name} needs exactly one of {', '.join(_FILTER_KINDS)}")
        kind = kinds[0]
        value = spec[kind]
        unit = spec.get("unit")
        if unit is not None and not (kind == "threshold" and unit == "%"):
            self.fail(path, unit, f'filter {name}: only unit = "%" on a threshold is supported')
        if kind == "threshold":
            if not _is_number(value) or value < 0:
                self.fail(path, name, f"filter {name}: threshold must be a number >= 0")
            return ThresholdFilter(name=name, value=float(value), relative=unit == "%")
        if kind == "time":
            if not isinstance(value, str):
                self.fail(path, name, f'filter {name}: time is a duration such as "15m"')
            try:
                interval = parse_duration_ms(value)
            except InvalidInput as exc:
                self.fail(path, value, f"filter {name}: {exc.message}")
            return TimeFilter(name=name, interval_ms=interval)
        if kind in ("equal", "not_equal"):
            values = value if isinstance(value, list) else [value]
            if not values or not all(isinstance(v, str | int | float) for v in values):
                self.fail(path, name, f"filter {name}: {kind} takes a list of values")
            return EqualsFilter(
                name=name, values=tuple(str(v) for v in values), negate=kind == "not_equal"
            )
        if not (isinstance(value, list) and len(value) == 2 and all(map(_is_number, value))):
            self.fail(path, name, f"filter {name}: {kind} takes [lower, upper]")
        lower, upper = float(value[0]), float(value[1])
        if lower > upper:
            self.fail(path, name, f"filter {name}: lower bound {lower:g} is above {upper:g}")
        return RangeFilter(name=name, lower=lower, upper=upper, inside=kind == "inside")

    def item_list(self, path: PathKey, value: object) -> Sequence[object]:
        if not isinstance(value, list):
            self.fail(path, "items", "items must be an array of tables ([[...items]])")
        return value

    def item(self, path: PathKey, entry: object) -> ItemConfig:
        table = self.table(path, entry)
        extra = sorted(set(table) - _ITEM_KEYS)
        if extra:
            self.fail(path, extra[0], f"unknown key {extra[0]!r} (allowed: {sorted(_ITEM_KEYS)})")
        if "points" not in table:
            self.fail(path, None, "an item line needs points = [...]")
        selectors = []
        for text in self.strings(path, table["points"], "selectors"):
            try:
                selectors.append(Selector.parse(text))
            except InvalidInput as exc:
                self.fail(path, text, exc.message)
        alias = table.get("alias")
        if alias is not None and (not isinstance(alias, str) or not alias):
            self.fail(path, alias, "alias must be a non-empty string")
        return ItemConfig(
            selectors=tuple(selectors),
            strategies=tuple(self.strings(path, table.get("strategies", []), "strategy names")),
            filters=tuple(self.strings(path, table.get("filters", []), "filter names")),
            alias=alias,
            line=self.locate(path, None) if self.locate else None,
        )

    def aliases(self, path: PathKey, value: object) -> dict[str, str]:
        where = (*path, "aliases")
        out: dict[str, str] = {}
        for point, alias in self.table(where, value).items():
            if not isinstance(alias, str) or not alias:
                self.fail(where, point, "an alias is a non-empty string")
            out[point] = alias
        return out


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def service_from_mapping(
    name: str,
    table: Mapping[str, Any],
    *,
    file: str | None = None,
    base: Path | None = None,
    locate: Locate | None = None,
) -> ServiceConfig:
    """One service's table (TOML or API JSON) -> :class:`ServiceConfig`; ConfigError if bad."""
    reader = _Reader(file, locate)
    return reader.service(name, reader.table(("services", name), table), base)


def parse_config_mapping(
    data: Mapping[str, Any],
    *,
    file: str | None = None,
    base: Path | None = None,
    locate: Locate | None = None,
) -> PersistenceConfig:
    """The ``[persistence]`` content -> :class:`PersistenceConfig`; ConfigError if bad."""
    reader = _Reader(file, locate)
    extra = sorted(set(data) - {"default", "services"})
    if extra:
        reader.fail((), extra[0], f"unknown key {extra[0]!r} (allowed: default, services)")
    services = tuple(
        service_from_mapping(name, table, file=file, base=base, locate=locate)
        for name, table in reader.table(("services",), data.get("services", {})).items()
    )
    default = data.get("default")
    if default is not None and default not in {s.name for s in services}:
        reader.fail((), default, f"default service {default!r} is not configured")
    return PersistenceConfig(services=services, default=default)


def parse_section(
    section: Mapping[str, Any],
    *,
    file: str | None = None,
    base: Path | None = None,
    locate: Locate | None = None,
    follow: bool = True,
) -> PersistenceConfig:
    """A ``[persistence]`` section: its content, or ``file = "..."`` naming the file that has it.

    ``file`` names a ``.toml`` or ``.persist`` file, relative to ``base`` (the
    settings file's directory; absolute paths as they are). Nothing else may
    stand beside it, and the named file may not use ``file =`` again
    (``follow=False`` is how it is read). Raises :class:`ConfigError` naming
    the file, line and key.
    """
    if "file" not in section:
        return parse_config_mapping(section, file=file, base=base, locate=locate)
    reader = _Reader(file, locate)
    if not follow:
        reader.fail((), "file", "file = ... names a file that uses file = again")
    extra = sorted(set(section) - {"file"})
    if extra:
        reader.fail((), extra[0], "with file = ..., put everything in that file")
    target = section["file"]
    if not isinstance(target, str) or not target:
        reader.fail((), "file", "file must be the name of a .toml or .persist file")
    path = Path(target) if base is None else base / target  # an absolute target stays
    return load_config_file(path, follow=False)


def parse_config_text(
    text: str, *, file: str | None = None, follow: bool = True
) -> PersistenceConfig:
    """A TOML document (``[persistence]`` section or the bare content) -> model.

    A settings file (``opencrate.toml``) works too: its ``[persistence]``
    section is read, following ``file = "..."`` relative to the file.
    """
    data = parse_toml(text, file=file)
    prefix: PathKey = ()
    if "persistence" in data:
        data, prefix = data["persistence"], ("persistence",)
    elif set(data) & settings_sections() and not set(data) & {"default", "services"}:
        raise ConfigError(
            "a settings file without a [persistence] section: the server uses the default "
            "(one sqlite service storing every change); nothing here to check",
            file=file,
        )
    base = Path(file).parent if file else None
    locate = TomlLines(text).token_locator(prefix)
    reader = _Reader(file, locate)
    return parse_section(
        reader.table(prefix, data), file=file, base=base, locate=locate, follow=follow
    )


def load_config_file(
    path: Path, *, kind: str | None = None, follow: bool = True
) -> PersistenceConfig:
    """Read a ``.persist`` file (one service, named after the file) or a TOML file.

    ``kind`` is the kind of a ``.persist`` file's service when its name is not one.
    A TOML file may be a settings file: see :func:`parse_config_text`
    (``follow=False``: one that uses ``file =`` is an error).

    Raises :class:`ConfigError` naming the file, line and token on any problem.
    """
    text = read_config_text(path)
    if path.suffix == ".persist":
        service = parse_persist(text, service=path.stem, kind=kind, file=str(path))
        return PersistenceConfig(services=(service,))
    if path.suffix == ".toml":
        return parse_config_text(text, file=str(path), follow=follow)
    raise ConfigError("expected a .persist or .toml file", file=str(path), key=path.suffix)
