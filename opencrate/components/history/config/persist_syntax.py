"""Read openHAB's ``.persist`` syntax into a :class:`.ServiceConfig`.

::

    // comments: line and /* block */
    Strategies {
        every5min : "0 */5 * * * ?"          // Quartz cron, seconds first
        default = everyChange                // used by lines that name no strategy
    }
    Filters {
        tenth   : > 0.1                      // threshold, absolute
        fivePct : > % 5                      // threshold, % of the last stored value
        hourly  : T 1 h                      // time: s, m, h or d
        onlyOn  : = "ON", "true"             // equal (any of)
        notOff  : ! "OFF"                    // not equal (none of)
        comfort : [] 18 26                   // inside the range (inclusive)
        extreme : ][ 0 40                    // outside the range
    }
    Items {
        * : strategy = everyChange, every5min
        ahu1*, !ahu1/debug -> "ahu" : strategy = restoreOnStartup filter = tenth
        1001/ai-3 ;                          // ';': the default strategies
    }
    Aliases {
        1001/ai-1 -> "outside_air_temp"
    }

Point ids may contain ``/ . : -`` (``1001/ai-1``); ids with other characters
are written as strings (``"my point"``). The sections may come in any order
and each is optional.

Every error is a :class:`~opencrate.errors.ConfigError` naming the file, the
line and the offending token.

Retention (how long history is kept) is not part of this syntax: it is set in
the TOML or JSON form next to the ``.persist`` file (``persist = "..."`` plus
``[services.<name>.retention]``); a ``Retention`` section is an error saying so.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NoReturn

from attrs import frozen

from opencrate.components.history.config.model import (
    BUILTIN_STRATEGIES,
    SERVICE_KINDS,
    CronStrategy,
    EqualsFilter,
    Filter,
    ItemConfig,
    RangeFilter,
    Selector,
    SelectorKind,
    ServiceConfig,
    ThresholdFilter,
    TimeFilter,
)
from opencrate.errors import ConfigError, InvalidInput

__all__ = ["parse_persist"]

_TIME_UNITS_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@frozen
class _Token:
    kind: str  # "id", "number", "string", "punct", "end"
    text: str
    line: int


_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r\n]+)
  | (?P<line_comment>//[^\n]*)
  | (?P<block_comment>/\*.*?\*/)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<punct>->|\[\]|\]\[|[{}:,=;>%!*])
  | (?P<number>-?\d+(?:\.\d+)?(?![A-Za-z0-9_./:]|-(?!>)))
  | (?P<id>[A-Za-z0-9_](?:[A-Za-z0-9_./:]|-(?!>))*)
    """,
    re.VERBOSE | re.DOTALL,
)


def _tokenize(text: str, file: str | None) -> list[_Token]:
    tokens: list[_Token] = []
    pos, line = 0, 1
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            if text.startswith("/*", pos):
                raise ConfigError("unterminated /* comment", file=file, line=line, key="/*")
            if text[pos] in "\"'":
                raise ConfigError("unterminated string", file=file, line=line, key=text[pos])
            bad = text[pos:].split(None, 1)[0]
            raise ConfigError("unexpected character", file=file, line=line, key=bad)
        kind = match.lastgroup
        assert kind is not None
        raw = match.group()
        if kind == "string":
            body = raw[1:-1]
            tokens.append(_Token("string", re.sub(r"\\(.)", r"\1", body), line))
        elif kind in ("punct", "number", "id"):
            tokens.append(_Token(kind, raw, line))
        line += raw.count("\n")
        pos = match.end()
    tokens.append(_Token("end", "end of file", line))
    return tokens


class _Parser:
    def __init__(self, text: str, file: str | None) -> None:
        self.file = file
        self.tokens = _tokenize(text, file)
        self.pos = 0
        self.strategies: list[CronStrategy] = []
        self.default_tokens: list[_Token] = []
        self.filters: list[Filter] = []
        self.items: list[tuple[ItemConfig, list[_Token], list[_Token]]] = []
        self.aliases: dict[str, str] = {}

    # -- token helpers -----------------------------------------------------------
    @property
    def tok(self) -> _Token:
        return self.tokens[self.pos]

    def fail(self, message: str, token: _Token | None = None) -> NoReturn:
        token = token or self.tok
        raise ConfigError(message, file=self.file, line=token.line, key=token.text)

    def take(self) -> _Token:
        token = self.tok
        if token.kind != "end":
            self.pos += 1
        return token

    def at(self, text: str) -> bool:
        return self.tok.kind in ("punct", "id") and self.tok.text == text

    def accept(self, text: str) -> bool:
        if self.at(text):
            self.pos += 1
            return True
        return False

    def expect(self, text: str, what: str) -> _Token:
        if not self.at(text):
            self.fail(f"expected {text!r} {what}")
        return self.take()

    def name(self, what: str) -> _Token:
        if self.tok.kind != "id":
            self.fail(f"expected {what}")
        return self.take()

    def identifier(self, token: _Token, what: str) -> None:
        if not _IDENTIFIER.fullmatch(token.text):
            self.fail(f"{what} name must be an identifier ([A-Za-z_][A-Za-z0-9_]*)", token)

    def number(self, what: str) -> float:
        token = self.tok
        if token.kind != "number":
            self.fail(f"expected a number for {what}")
        self.pos += 1
        return float(token.text)

    def name_list(self, what: str) -> list[_Token]:
        names = [self.name(what)]
        while self.accept(","):
            names.append(self.name(what))
        return names

    # -- grammar -----------------------------------------------------------------
    def model(self) -> None:
        sections: dict[str, Callable[[], None]] = {
            "Strategies": self.strategies_section,
            "Filters": self.filters_section,
            "Items": self.items_section,
            "Aliases": self.aliases_section,
        }
        seen: set[str] = set()
        while self.tok.kind != "end":
            token = self.tok
            section = sections.get(token.text) if token.kind == "id" else None
            if section is None and token.text == "Retention":
                # openHAB's syntax has no retention; say where it goes instead.
                self.fail(
                    ".persist has no Retention section: set it in TOML "
                    '([services.<name>.retention]) or in the API\'s JSON ("retention")'
                )
            if section is None:
                self.fail("expected a section: Strategies, Filters, Items or Aliases")
            if token.text in seen:
                self.fail(f"section {token.text} appears twice")
            seen.add(token.text)
            self.take()
            self.expect("{", f"after {token.text}")
            section()
            self.expect("}", f"to close {token.text}")

    def strategies_section(self) -> None:
        while not self.at("}") and self.tok.kind != "end":
            name = self.name("a strategy name")
            if name.text == "default" and self.accept("="):
                self.default_tokens = self.name_list("a strategy name")
                continue
            if not self.accept(":"):
                if name.text in BUILTIN_STRATEGIES:
                    continue  # declaring a built-in is allowed and means nothing
                self.fail(f'a cron strategy needs ": "<cron>"" after its name {name.text!r}', name)
            expr = self.tok
            if expr.kind != "string":
                self.fail('expected a cron expression in quotes, e.g. "0 */5 * * * ?"')
            self.take()
            if name.text in BUILTIN_STRATEGIES:
                self.fail("is a built-in strategy and cannot be redefined", name)
            if any(s.name == name.text for s in self.strategies):
                self.fail("strategy is defined twice", name)
            self.identifier(name, "a strategy")
            try:
                self.strategies.append(CronStrategy(name=name.text, expression=expr.text))
            except InvalidInput as exc:
                self.fail(exc.message, expr)

    def filters_section(self) -> None:
        while not self.at("}") and self.tok.kind != "end":
            name = self.name("a filter name")
            self.expect(":", f"after filter name {name.text!r}")
            if any(f.name == name.text for f in self.filters):
                self.fail("filter is defined twice", name)
            self.identifier(name, "a filter")
            self.filters.append(self.filter_details(name.text))

    def filter_details(self, name: str) -> Filter:
        start = self.tok
        if self.accept(">"):
            relative = self.accept("%")
            value = self.number("the threshold")
            relative = self._unit(relative_allowed=not relative) or relative
            if value < 0:
                self.fail("a threshold must not be negative", start)
            return ThresholdFilter(name=name, value=value, relative=relative)
        if self.at("T"):
            self.take()
            return TimeFilter(name=name, interval_ms=self._duration())
        if self.at("=") or self.at("!"):
            negate = self.take().text == "!"
            values = [self._literal()]
            while self.accept(","):
                values.append(self._literal())
            return EqualsFilter(name=name, values=tuple(values), negate=negate)
        if self.at("[]") or self.at("]["):
            inside = self.take().text == "[]"
            lower = self.number("the lower bound")
            upper = self.number("the upper bound")
            self._unit(relative_allowed=False)
            if lower > upper:
                self.fail(f"lower bound {lower:g} is above upper bound {upper:g}", start)
            return RangeFilter(name=name, lower=lower, upper=upper, inside=inside)
        self.fail("expected a filter: > (threshold), T (time), =, !, [] or ][")

    def _unit(self, *, relative_allowed: bool) -> bool:
        """An optional unit string; only "%" (on a threshold) is understood."""
        if self.tok.kind != "string":
            return False
        unit = self.tok
        if unit.text == "%" and relative_allowed:
            self.take()
            return True
        self.fail("units are not supported (values are compared in the point's own unit)", unit)

    def _duration(self) -> int:
        token = self.tok
        if token.kind == "id" and re.fullmatch(r"\d+[smhd]", token.text):
            self.take()
            return int(token.text[:-1]) * _TIME_UNITS_MS[token.text[-1]]
        amount = self.tok
        if amount.kind != "number" or "." in amount.text or amount.text.startswith("-"):
            self.fail("expected a whole number for the time filter, e.g. T 15 m")
        self.take()
        unit = self.tok
        if unit.kind != "id" or unit.text not in _TIME_UNITS_MS:
            self.fail("expected a time unit: s, m, h or d")
        self.take()
        return int(amount.text) * _TIME_UNITS_MS[unit.text]

    def _literal(self) -> str:
        token = self.tok
        if token.kind not in ("string", "number", "id"):
            self.fail("expected a value in quotes")
        self.take()
        return token.text

    def items_section(self) -> None:
        while not self.at("}") and self.tok.kind != "end":
            first = self.tok
            selectors = [self.selector()]
            while self.accept(","):
                selectors.append(self.selector())
            alias = None
            if self.accept("->"):
                alias = self._alias_target()
            strategies: list[_Token] = []
            filters: list[_Token] = []
            if self.accept(":"):
                if self.accept("strategy"):
                    self.expect("=", "after 'strategy'")
                    strategies = self.name_list("a strategy name")
                if self.accept("filter"):
                    self.expect("=", "after 'filter'")
                    filters = self.name_list("a filter name")
            elif not self.accept(";"):
                self.fail("expected ':' (strategies and filters) or ';' after the points")
            item = ItemConfig(
                selectors=tuple(selectors),
                strategies=tuple(t.text for t in strategies),
                filters=tuple(t.text for t in filters),
                alias=alias,
                line=first.line,
            )
            self.items.append((item, strategies, filters))

    def selector(self) -> Selector:
        start = self.tok
        exclude = self.accept("!")
        if self.accept("*"):
            if exclude:
                self.fail("'!*' would exclude every point", start)
            return Selector(kind=SelectorKind.ALL)
        target = self.tok
        if target.kind not in ("id", "string", "number"):
            self.fail("expected a point id, 'node*', '!id' or '*'")
        self.take()
        kind = SelectorKind.SUBTREE if self.accept("*") else SelectorKind.POINT
        return Selector(kind=kind, target=target.text, exclude=exclude)

    def _alias_target(self) -> str:
        token = self.tok
        if token.kind not in ("string", "id") or not token.text:
            self.fail("expected an alias name after '->'")
        self.take()
        return token.text

    def aliases_section(self) -> None:
        while not self.at("}") and self.tok.kind != "end":
            point = self.tok
            if point.kind not in ("id", "string", "number"):
                self.fail("expected a point id")
            self.take()
            self.expect("->", f"after {point.text!r}")
            if point.text in self.aliases:
                self.fail("alias is defined twice for this point", point)
            self.aliases[point.text] = self._alias_target()

    # -- references ----------------------------------------------------------------
    def _check_strategy_refs(self, names: list[_Token]) -> None:
        known = BUILTIN_STRATEGIES | {s.name for s in self.strategies}
        for token in names:
            if token.text not in known:
                self.fail(f"unknown strategy {token.text!r}", token)

    def resolve(self, *, service: str, kind: str, source: str | None) -> ServiceConfig:
        filter_names = {f.name for f in self.filters}
        self._check_strategy_refs(self.default_tokens)
        defaults = tuple(t.text for t in self.default_tokens)
        items: list[ItemConfig] = []
        for item, strategy_tokens, filter_tokens in self.items:
            self._check_strategy_refs(strategy_tokens)
            for token in filter_tokens:
                if token.text not in filter_names:
                    self.fail(f"unknown filter {token.text!r}", token)
            if not item.strategies:
                if not defaults:
                    raise ConfigError(
                        "no strategy for this line and no 'default =' in Strategies "
                        "(nothing would be stored)",
                        file=self.file,
                        line=item.line,
                        key=str(item.selectors[0]),
                    )
                item = ItemConfig(
                    selectors=item.selectors,
                    strategies=defaults,
                    filters=item.filters,
                    alias=item.alias,
                    line=item.line,
                )
            items.append(item)
        return ServiceConfig(
            name=service,
            kind=kind,
            strategies=tuple(self.strategies),
            filters=tuple(self.filters),
            items=tuple(items),
            aliases=dict(self.aliases),
            source=source,
        )


def parse_persist(
    text: str, *, service: str, kind: str | None = None, file: str | None = None
) -> ServiceConfig:
    """Parse ``.persist`` text into the configuration of ``service``.

    ``kind`` (sqlite, postgresql, memory) defaults to ``service`` when that is
    a known kind. Raises :class:`ConfigError` naming file, line and token.
    """
    kind = kind or (service if service in SERVICE_KINDS else None)
    if kind not in SERVICE_KINDS:
        raise ConfigError(
            f"service {service!r}: say which kind it is ({', '.join(sorted(SERVICE_KINDS))})",
            file=file,
            key=service,
        )
    parser = _Parser(text, file)
    parser.model()
    return parser.resolve(service=service, kind=kind, source=file)
