"""The persistence configuration model: which points each service stores, and when.

Both file formats load into these records: openHAB's ``.persist`` syntax
(:mod:`opencrate.components.history.config.persist_syntax`) and the project's TOML
(:mod:`opencrate.components.history.config.toml`), and the API speaks the same model
as JSON (:func:`service_to_dict`; the reverse is
:func:`opencrate.components.history.config.toml.service_from_mapping`).

A :class:`ServiceConfig` holds, for one persistence service:

* named cron strategies (Quartz-style expression with a seconds field);
* named filters (threshold, time, equal / not-equal, range inside / outside);
* item lines: selectors (``*``, ``point``, ``node*``, ``!point``, ``!node*``),
  the strategies and filters that apply, an optional alias;
* aliases (point id -> storage name);
* for ``sqlite`` services, a :class:`RetentionConfig`: how long raw samples
  and rollups are kept, per selector (applied by
  :mod:`~opencrate.components.history.sqlite.retention_service`; TOML and JSON only, the
  ``.persist`` syntax has no retention).

Lines are additive as in openHAB, with one deliberate difference: a sample is
stored *once* per service even when several lines (or both ``everyUpdate`` and
``everyChange``) match it; openHAB writes it once per matching line.

Everything here is immutable; a reload builds a new :class:`PersistenceConfig`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, TypeAlias

from attrs import field, frozen
from croniter import CroniterBadDateError, CroniterError, croniter

from opencrate.clock import parse_duration_ms
from opencrate.components.history.config.redact import redact_secrets
from opencrate.errors import InvalidInput, map_exceptions
from opencrate.validation import ascii_decimal, check_ms, is_int

__all__ = [
    "BUILTIN_STRATEGIES",
    "EVERY_CHANGE",
    "EVERY_UPDATE",
    "KEEP_KEYS",
    "PG_IDENTIFIER",
    "RESTORE_ON_STARTUP",
    "SERVICE_KINDS",
    "CronStrategy",
    "EqualsFilter",
    "Filter",
    "ItemConfig",
    "PersistenceConfig",
    "Problem",
    "RangeFilter",
    "RetentionConfig",
    "RetentionOverride",
    "Selector",
    "SelectorKind",
    "ServiceConfig",
    "ThresholdFilter",
    "TimeFilter",
    "format_keep",
    "normalize_cron",
    "parse_keep",
    "retention_to_dict",
    "service_to_dict",
]

EVERY_CHANGE = "everyChange"
EVERY_UPDATE = "everyUpdate"
RESTORE_ON_STARTUP = "restoreOnStartup"
#: Strategies that exist without being declared.
BUILTIN_STRATEGIES = frozenset({EVERY_CHANGE, EVERY_UPDATE, RESTORE_ON_STARTUP})
#: The implementations a service can be (``kind``); a service's name defaults to its kind.
SERVICE_KINDS = frozenset({"sqlite", "postgresql", "memory"})
#: A schema or table name the postgresql service may interpolate into SQL: plain
#: lower case, and short enough that ``<table>_pYYYYMM`` stays within 63 bytes.
PG_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,40}")


#: Where :func:`normalize_cron` asks a schedule for its first fire time (a leap
#: year's first day, so "29 February" finds one within the four years croniter looks).
_CRON_PROBE = datetime(2000, 1, 1, tzinfo=UTC)


def normalize_cron(expression: str) -> str:
    """Turn a Quartz cron expression (seconds first, ``?``, optional year) into croniter form.

    Returns the 6-field expression (seconds first). Raises :class:`InvalidInput`
    naming the expression when it is not 6 fields (7 with a ``*`` year),
    croniter rejects it, or no date ever matches it (``0 0 0 30 2 *``).
    """
    fields = expression.split()
    if len(fields) == 7:
        if fields[6] not in ("*", "?"):
            raise InvalidInput(f"cron {expression!r}: a year field other than * is not supported")
        fields = fields[:6]
    if len(fields) != 6:
        raise InvalidInput(
            f"cron {expression!r} must have 6 fields (second minute hour day month weekday)"
        )
    normalized = " ".join("*" if f == "?" else f for f in fields)

    def refused(exc: Exception) -> InvalidInput:
        if isinstance(exc, CroniterBadDateError):  # valid, yet no date matches: 30 February
            return InvalidInput(f"cron {expression!r} never fires")
        return InvalidInput(f"cron {expression!r} is not a valid cron expression")

    # Asking for a fire time checks both: croniter accepts "0 0 0 30 2 *" as
    # valid and fails only when a scheduler asks it when to fire.
    with map_exceptions({CroniterError: refused}):
        croniter(normalized, _CRON_PROBE, second_at_beginning=True).get_next(float)
    return normalized


@frozen(kw_only=True)
class CronStrategy:
    """A named schedule: when it fires, every point its lines select is stored."""

    name: str
    #: As written (Quartz form, seconds first).
    expression: str
    #: croniter form (6 fields, seconds first); filled from ``expression``.
    cron: str = field(init=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "cron", normalize_cron(self.expression))


@frozen(kw_only=True)
class ThresholdFilter:
    """Passes when ``|new - last stored| > value`` (``relative``: as % of the last stored).

    The first value, non-numbers and a change of kind always pass.
    """

    name: str
    value: float
    relative: bool = False


@frozen(kw_only=True)
class TimeFilter:
    """Passes when at least ``interval_ms`` passed since the last stored sample."""

    name: str
    interval_ms: int


@frozen(kw_only=True)
class EqualsFilter:
    """Passes when the value's text is one of ``values`` (``negate``: is none of them)."""

    name: str
    values: tuple[str, ...]
    negate: bool = False


@frozen(kw_only=True)
class RangeFilter:
    """``inside``: passes when lower <= v <= upper; else when v <= lower or v >= upper.

    Non-numeric values pass (as openHAB, which only warns).
    """

    name: str
    lower: float
    upper: float
    inside: bool = True


Filter: TypeAlias = ThresholdFilter | TimeFilter | EqualsFilter | RangeFilter


class SelectorKind(enum.StrEnum):
    ALL = "all"  # *
    POINT = "point"  # a point id
    SUBTREE = "subtree"  # node*: every point under the node, not the node itself


@frozen(kw_only=True)
class Selector:
    kind: SelectorKind
    target: str = ""
    exclude: bool = False

    @classmethod
    def parse(cls, text: str) -> Selector:
        """``*``, ``id``, ``node*``, ``!id``, ``!node*``; InvalidInput naming the text otherwise."""
        raw = text.strip()
        exclude = raw.startswith("!")
        body = raw[1:].strip() if exclude else raw
        if body == "*":
            if exclude:
                raise InvalidInput(f"selector {text!r}: '!*' would exclude everything")
            return cls(kind=SelectorKind.ALL)
        if body.endswith("*"):
            target, kind = body[:-1], SelectorKind.SUBTREE
        else:
            target, kind = body, SelectorKind.POINT
        if not target or "*" in target or target != target.strip():
            raise InvalidInput(f"selector {text!r} is not '*', 'id', 'node*', '!id' or '!node*'")
        return cls(kind=kind, target=target, exclude=exclude)

    def __str__(self) -> str:
        body = {
            SelectorKind.ALL: "*",
            SelectorKind.POINT: self.target,
            SelectorKind.SUBTREE: self.target + "*",
        }[self.kind]
        return "!" + body if self.exclude else body


@frozen(kw_only=True)
class ItemConfig:
    """One line of the Items section: these points, with these strategies and filters."""

    selectors: tuple[Selector, ...]
    strategies: tuple[str, ...]
    filters: tuple[str, ...] = ()
    alias: str | None = None
    #: Where the line was written (for error messages); None when built in code or by the API.
    line: int | None = field(default=None, eq=False)


@frozen(kw_only=True)
class Problem:
    """A reference that does not resolve, found by :meth:`ServiceConfig.problems`."""

    item: ItemConfig | None
    token: str
    message: str


#: The keep-time keys of a retention table: raw samples, every rollup tier, one tier.
KEEP_KEYS = ("raw", "rollups", "5m", "1h")
_YEAR_MS = 365 * 86_400_000
_KEEP_UNITS = (("y", _YEAR_MS), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000))


def parse_keep(text: str) -> int | None:
    """``"forever"`` -> None; ``"30d"``, ``"5y"`` (365 days), ``"12h"`` ... -> milliseconds.

    Raises :class:`InvalidInput` naming the text when it is neither, or not positive.
    """
    raw = text.strip()
    if raw == "forever":
        return None
    message = f'not a keep time: {text!r} (use "forever" or a duration such as 30d, 5y)'
    # ASCII digits only: "²".isdigit() is true and float() then raised a bare ValueError.
    years = ascii_decimal(raw[:-1].strip()) if raw.endswith("y") else None
    try:
        ms = (
            check_ms(years * _YEAR_MS, text, message)
            if years is not None
            else parse_duration_ms(raw)
        )
    except InvalidInput:
        raise InvalidInput(message, value=text) from None
    if ms <= 0:
        raise InvalidInput(f"keep time {text!r} must be longer than zero", value=text)
    return ms


def format_keep(ms: int | None) -> str:
    """The inverse of :func:`parse_keep`: ``None`` -> ``"forever"``, else the largest whole unit."""
    if ms is None:
        return "forever"
    for unit, width in _KEEP_UNITS:
        if ms % width == 0:
            return f"{ms // width}{unit}"
    return f"{ms}ms"


def _check_keeps(keep: Mapping[str, int | None], what: str) -> None:
    for key, ms in keep.items():
        if key not in KEEP_KEYS:
            raise InvalidInput(f"{what}: {key!r} is not one of {', '.join(KEEP_KEYS)}")
        if ms is not None and not is_int(ms, minimum=1):
            raise InvalidInput(f"{what}: {key} must be a positive number of ms or None (forever)")


@frozen(kw_only=True)
class RetentionOverride:
    """A ``[[...retention.rules]]`` entry: keep times for the points its selectors match.

    Selectors are ``*``, ``prefix*`` (point ids starting with ``prefix``) or an
    exact point id. ``keep`` holds only the keys written (see :data:`KEEP_KEYS`);
    a key left out comes from the service-wide values.
    """

    points: tuple[str, ...]
    keep: Mapping[str, int | None] = field(factory=dict)
    #: Where the rule was written (for error messages).
    line: int | None = field(default=None, eq=False)

    def __attrs_post_init__(self) -> None:
        if not self.points:
            raise InvalidInput("a retention rule needs at least one selector")
        _check_keeps(self.keep, f"retention rule {list(self.points)}")


@frozen(kw_only=True)
class RetentionConfig:
    """How long a history service keeps data: service-wide keep times, then rules.

    The first rule whose selectors match a point decides its keep times; keys a
    rule leaves out, and points no rule matches, take the service-wide
    ``keep``. A key missing everywhere means forever. For a rollup tier the
    most specific key wins: the tier's own (``"5m"``, ``"1h"``), then
    ``rollups``.
    """

    keep: Mapping[str, int | None] = field(factory=dict)
    rules: tuple[RetentionOverride, ...] = ()
    #: Time between purge passes.
    interval_ms: int = 3_600_000
    #: Rows one delete command may remove (writers get in between commands).
    batch_rows: int = 2000

    def __attrs_post_init__(self) -> None:
        _check_keeps(self.keep, "retention")
        if self.interval_ms <= 0:
            raise InvalidInput(f"retention interval must be positive, got {self.interval_ms} ms")
        if self.batch_rows < 1:
            raise InvalidInput(f"retention batch_rows must be at least 1, got {self.batch_rows}")

    def resolve(self, rule: RetentionOverride | None) -> dict[str, int | None]:
        """The effective keep times ``{"raw", "5m", "1h"}`` for ``rule`` (None: the defaults)."""
        layers = [self.keep] if rule is None else [rule.keep, self.keep]

        def pick(*keys: str) -> int | None:
            # The first layer that says anything decides, most specific key first.
            for layer in layers:
                for key in keys:
                    if key in layer:
                        return layer[key]
            return None

        return {"raw": pick("raw"), "5m": pick("5m", "rollups"), "1h": pick("1h", "rollups")}

    def problems(self) -> Iterator[tuple[RetentionOverride | None, str]]:
        """Keep times that would make queries wrong: ``(rule or None, message)``.

        Queries read a coarser tier for the aligned middle of a range whenever
        it has rows, so a tier must be kept at least as long as the finer data
        below it (raw <= 5m <= 1h; forever is longest).
        """
        for rule in (None, *self.rules):
            keeps = self.resolve(rule)
            for finer, coarser in (("raw", "5m"), ("5m", "1h")):
                short, long = keeps[finer], keeps[coarser]
                if long is not None and (short is None or short > long):
                    yield (
                        rule,
                        f"{coarser} rollups kept {format_keep(long)}, less than {finer} "
                        f"({format_keep(short)}): queries over that span would miss data",
                    )


@frozen(kw_only=True)
class ServiceConfig:
    """Everything configured for one persistence service. See the module docstring."""

    name: str
    kind: str
    strategies: tuple[CronStrategy, ...] = ()
    filters: tuple[Filter, ...] = ()
    items: tuple[ItemConfig, ...] = ()
    #: point id -> storage name (an item line's own alias wins for its points).
    aliases: Mapping[str, str] = field(factory=dict)
    #: Service-specific settings (``dsn``, ``max_entries``, ...), as given: the real
    #: DSN, password included. Its repr (logs, tracebacks) masks the password.
    options: Mapping[str, Any] = field(factory=dict, repr=lambda o: redact_secrets(repr(o)))
    #: How long old data is kept (``sqlite`` services only); None: forever.
    retention: RetentionConfig | None = None
    #: The file it came from, or "api" / "settings".
    source: str | None = field(default=None, eq=False)

    def strategy(self, name: str) -> CronStrategy | None:
        return next((s for s in self.strategies if s.name == name), None)

    def filter(self, name: str) -> Filter | None:
        return next((f for f in self.filters if f.name == name), None)

    def problems(self) -> Iterator[Problem]:
        """Unknown strategy or filter names, duplicate definitions, lines with no strategy."""
        seen: set[str] = set()
        for definition in (*self.strategies, *self.filters):
            if definition.name in BUILTIN_STRATEGIES:
                yield Problem(
                    item=None, token=definition.name, message="is a built-in strategy name"
                )
            elif definition.name in seen:
                yield Problem(item=None, token=definition.name, message="is defined twice")
            seen.add(definition.name)
        cron_names = {s.name for s in self.strategies}
        filter_names = {f.name for f in self.filters}
        for item in self.items:
            if not item.selectors:
                yield Problem(item=item, token="", message="a line needs at least one selector")
            if not item.strategies:
                yield Problem(
                    item=item,
                    token=str(item.selectors[0]) if item.selectors else "",
                    message="no strategy for this line (nothing would be stored)",
                )
            for name in item.strategies:
                if name not in BUILTIN_STRATEGIES and name not in cron_names:
                    yield Problem(item=item, token=name, message=f"unknown strategy {name!r}")
            for name in item.filters:
                if name not in filter_names:
                    yield Problem(item=item, token=name, message=f"unknown filter {name!r}")

    def uses(self, strategy: str) -> bool:
        return any(strategy in item.strategies for item in self.items)


@frozen(kw_only=True)
class PersistenceConfig:
    """Every configured service, and which one answers queries that name none."""

    services: tuple[ServiceConfig, ...] = ()
    default: str | None = None

    def get(self, name: str) -> ServiceConfig | None:
        return next((s for s in self.services if s.name == name), None)

    def default_service(self) -> str | None:
        """``default`` if set, else ``sqlite`` if configured, else the only service."""
        if self.default is not None:
            return self.default
        names = [s.name for s in self.services]
        if "sqlite" in names:
            return "sqlite"
        return names[0] if len(names) == 1 else None

    def replace(self, service: ServiceConfig) -> PersistenceConfig:
        """A copy with ``service`` replacing the one of the same name (or added)."""
        others = tuple(s for s in self.services if s.name != service.name)
        return PersistenceConfig(services=(*others, service), default=self.default)


def _filter_to_dict(f: Filter) -> dict[str, Any]:
    if isinstance(f, ThresholdFilter):
        return {"threshold": f.value, **({"unit": "%"} if f.relative else {})}
    if isinstance(f, TimeFilter):
        return {"time": f"{f.interval_ms}ms"}
    if isinstance(f, EqualsFilter):
        return {"not_equal" if f.negate else "equal": list(f.values)}
    return {"inside" if f.inside else "outside": [f.lower, f.upper]}


def service_to_dict(service: ServiceConfig, *, reveal_secrets: bool = False) -> dict[str, Any]:
    """The JSON/TOML form (what ``service_from_mapping`` reads back to an equal model).

    A password in a string option (the ``dsn``) is masked
    (:func:`~opencrate.components.history.config.redact.redact_secrets`) unless
    ``reveal_secrets``: only a file the server reads back (an API-saved
    configuration) gets the real one.
    """
    items: list[dict[str, Any]] = []
    for item in service.items:
        entry: dict[str, Any] = {
            "points": [str(s) for s in item.selectors],
            "strategies": list(item.strategies),
        }
        if item.filters:
            entry["filters"] = list(item.filters)
        if item.alias is not None:
            entry["alias"] = item.alias
        items.append(entry)
    out: dict[str, Any] = {
        "kind": service.kind,
        **{
            key: value if reveal_secrets or not isinstance(value, str) else redact_secrets(value)
            for key, value in service.options.items()
        },
        "strategies": {s.name: s.expression for s in service.strategies},
        "filters": {f.name: _filter_to_dict(f) for f in service.filters},
        "items": items,
        "aliases": dict(service.aliases),
    }
    if service.retention is not None:
        out["retention"] = retention_to_dict(service.retention)
    return out


def retention_to_dict(retention: RetentionConfig) -> dict[str, Any]:
    """The TOML/JSON form of ``retention`` (read back to an equal model)."""
    rules = [
        {"points": list(rule.points), **{k: format_keep(v) for k, v in rule.keep.items()}}
        for rule in retention.rules
    ]
    return {
        **{key: format_keep(value) for key, value in retention.keep.items()},
        "interval": format_keep(retention.interval_ms),
        "batch_rows": retention.batch_rows,
        "rules": rules,
    }
