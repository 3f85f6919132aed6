"""Write a :class:`.ServiceConfig` in openHAB's ``.persist`` syntax.

The inverse of :func:`~opencrate.components.history.config.persist_syntax.parse_persist`:
``parse_persist(render_persist(cfg), ...)`` gives back an equal model (a
property test checks it), retention excepted: the syntax has none, so it is
only mentioned in a comment. Point ids that are not plain ``.persist`` names are
quoted; numbers are written without exponents.

Raises :class:`~opencrate.errors.InvalidInput` for what the syntax cannot say:
a time filter that is not a whole number of seconds, a strategy or filter name
that is not an identifier.
"""

from __future__ import annotations

import re
from decimal import Decimal

from opencrate.components.history.config.model import (
    EqualsFilter,
    Filter,
    RangeFilter,
    Selector,
    SelectorKind,
    ServiceConfig,
    ThresholdFilter,
    TimeFilter,
)
from opencrate.errors import InvalidInput

__all__ = ["render_persist"]

_BARE = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_./:]|-(?!>))*")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000))


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _id(text: str) -> str:
    return text if _BARE.fullmatch(text) else _quote(text)


def _name(text: str, what: str) -> str:
    if not _NAME.fullmatch(text):
        raise InvalidInput(f"{what} {text!r} cannot be written in .persist (not an identifier)")
    return text


def _number(value: float) -> str:
    text = format(Decimal(repr(float(value))), "f")
    return text[:-2] if text.endswith(".0") else text


def _selector(selector: Selector) -> str:
    if selector.kind is SelectorKind.ALL:
        body = "*"
    elif selector.kind is SelectorKind.SUBTREE:
        body = _id(selector.target) + "*"
    else:
        body = _id(selector.target)
    return "!" + body if selector.exclude else body


def _filter(spec: Filter) -> str:
    if isinstance(spec, ThresholdFilter):
        return ("> % " if spec.relative else "> ") + _number(spec.value)
    if isinstance(spec, TimeFilter):
        for unit, width in _UNITS:
            if spec.interval_ms % width == 0:
                return f"T {spec.interval_ms // width} {unit}"
        raise InvalidInput(
            f"time filter {spec.name}: {spec.interval_ms} ms is not a whole number of seconds"
        )
    if isinstance(spec, EqualsFilter):
        return ("! " if spec.negate else "= ") + ", ".join(_quote(v) for v in spec.values)
    assert isinstance(spec, RangeFilter)
    return ("[] " if spec.inside else "][ ") + f"{_number(spec.lower)} {_number(spec.upper)}"


def render_persist(service: ServiceConfig) -> str:
    """The ``.persist`` text of ``service``.

    Its options (a DSN, ...) and retention are not part of the syntax; retention,
    when set, is mentioned in a comment.
    """
    out: list[str] = [f"// persistence configuration of service {service.name} ({service.kind})"]
    if service.retention is not None:
        # Not expressible in .persist; a comment, so the reader knows it exists.
        out.append("// retention is configured (TOML/JSON only, see ?format=json)")
    if service.strategies:
        out.append("Strategies {")
        for strategy in service.strategies:
            out.append(f"    {_name(strategy.name, 'strategy')} : {_quote(strategy.expression)}")
        out.append("}")
    if service.filters:
        out.append("Filters {")
        for spec in service.filters:
            out.append(f"    {_name(spec.name, 'filter')} : {_filter(spec)}")
        out.append("}")
    if service.items:
        out.append("Items {")
        for item in service.items:
            line = ", ".join(_selector(s) for s in item.selectors)
            if item.alias is not None:
                line += f" -> {_quote(item.alias)}"
            line += " : strategy = " + ", ".join(_name(s, "strategy") for s in item.strategies)
            if item.filters:
                line += " filter = " + ", ".join(_name(f, "filter") for f in item.filters)
            out.append("    " + line)
        out.append("}")
    if service.aliases:
        out.append("Aliases {")
        for point, alias in service.aliases.items():
            out.append(f"    {_id(point)} -> {_quote(alias)}")
        out.append("}")
    return "\n".join(out) + "\n"
