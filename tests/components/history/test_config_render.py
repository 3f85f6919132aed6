"""``render_persist`` is the inverse of ``parse_persist`` (property test), and what it refuses."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opencrate.components.history.config.model import (
    BUILTIN_STRATEGIES,
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
from opencrate.components.history.config.persist_render import render_persist
from opencrate.components.history.config.persist_syntax import parse_persist
from opencrate.components.history.config.toml import service_from_mapping
from opencrate.errors import ConfigError, InvalidInput

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True).filter(
    lambda n: n not in BUILTIN_STRATEGIES and n not in ("default", "strategy", "filter", "T")
)
# Point ids: plain ones, ids with / - . :, and odd ones that must be quoted.
point_ids = st.one_of(
    st.from_regex(r"[0-9]{1,4}/[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True),
    st.from_regex(r"[a-z][a-z0-9_.:]{0,8}", fullmatch=True),
    st.text(
        st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="*\n"),
        min_size=1,
        max_size=8,
    ).filter(lambda t: t.strip() == t and t and not t.startswith("!")),
)
texts = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=6)
numbers = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)
crons = st.sampled_from(["0 */5 * * * ?", "*/10 * * * * *", "0 0 0 * * ?", "30 15 8 ? * MON-FRI"])


@st.composite
def filters(draw: st.DrawFn, name: str) -> Filter:
    kind = draw(st.sampled_from(["threshold", "time", "equal", "range"]))
    if kind == "threshold":
        value = draw(st.floats(min_value=0, max_value=1e6, allow_nan=False))
        return ThresholdFilter(name=name, value=value, relative=draw(st.booleans()))
    if kind == "time":
        unit = draw(st.sampled_from([1000, 60_000, 3_600_000, 86_400_000]))
        return TimeFilter(name=name, interval_ms=unit * draw(st.integers(1, 500)))
    if kind == "equal":
        values = tuple(draw(st.lists(texts, min_size=1, max_size=3)))
        return EqualsFilter(name=name, values=values, negate=draw(st.booleans()))
    lo, hi = sorted((draw(numbers), draw(numbers)))
    return RangeFilter(name=name, lower=lo, upper=hi, inside=draw(st.booleans()))


@st.composite
def selectors(draw: st.DrawFn) -> Selector:
    kind = draw(st.sampled_from(list(SelectorKind)))
    if kind is SelectorKind.ALL:
        return Selector(kind=kind)
    return Selector(kind=kind, target=draw(point_ids), exclude=draw(st.booleans()))


@st.composite
def services(draw: st.DrawFn) -> ServiceConfig:
    strategy_names = draw(st.lists(names, max_size=3, unique=True))
    filter_names = draw(
        st.lists(names.filter(lambda n: n not in strategy_names), max_size=3, unique=True)
    )
    strategies = tuple(CronStrategy(name=n, expression=draw(crons)) for n in strategy_names)
    specs = tuple(draw(filters(n)) for n in filter_names)
    usable = sorted(BUILTIN_STRATEGIES) + strategy_names
    items = tuple(
        ItemConfig(
            selectors=tuple(draw(st.lists(selectors(), min_size=1, max_size=3))),
            strategies=tuple(draw(st.lists(st.sampled_from(usable), min_size=1, max_size=3))),
            filters=tuple(
                draw(st.lists(st.sampled_from(filter_names), max_size=2)) if filter_names else ()
            ),
            alias=draw(st.none() | texts.filter(bool)),
        )
        for _ in range(draw(st.integers(0, 4)))
    )
    aliases = draw(st.dictionaries(point_ids, texts.filter(bool), max_size=3))
    return ServiceConfig(
        name="sqlite",
        kind="sqlite",
        strategies=strategies,
        filters=specs,
        items=items,
        aliases=aliases,
    )


@settings(max_examples=150, deadline=None)
@given(services())
def test_render_then_parse_gives_the_same_model(service: ServiceConfig) -> None:
    text = render_persist(service)
    assert parse_persist(text, service="sqlite") == service


def test_a_rendered_example_reads_well() -> None:
    service = service_from_mapping(
        "sqlite",
        {
            "strategies": {"every5min": "0 */5 * * * ?"},
            "filters": {
                "tenth": {"threshold": 0.1},
                "day": {"time": "1d"},
                "x": {"outside": [-1e-7, 40]},
            },
            "items": [
                {"points": ["*"], "strategies": ["everyChange", "every5min"]},
                {
                    "points": ["ahu1*", "!my point"],
                    "strategies": ["restoreOnStartup"],
                    "alias": "a",
                },
            ],
            "aliases": {"1001/ai-1": "oat"},
        },
    )
    assert render_persist(service).splitlines() == [
        "// persistence configuration of service sqlite (sqlite)",
        "Strategies {",
        '    every5min : "0 */5 * * * ?"',
        "}",
        "Filters {",
        "    tenth : > 0.1",
        "    day : T 1 d",
        "    x : ][ -0.0000001 40",
        "}",
        "Items {",
        "    * : strategy = everyChange, every5min",
        '    ahu1*, !"my point" -> "a" : strategy = restoreOnStartup',
        "}",
        "Aliases {",
        '    1001/ai-1 -> "oat"',
        "}",
    ]


def test_what_cannot_be_written_is_refused() -> None:
    odd = ServiceConfig(
        name="memory", kind="memory", filters=(TimeFilter(name="t", interval_ms=1500),)
    )
    with pytest.raises(InvalidInput, match="whole number of seconds"):
        render_persist(odd)
    # Names are identifiers in both formats, so everything one reads the other can say.
    with pytest.raises(ConfigError, match="identifier"):
        service_from_mapping("sqlite", {"strategies": {"every 5": "0 * * * * ?"}})
    with pytest.raises(ConfigError, match="identifier") as info:
        parse_persist('Strategies {\n  5min : "0 */5 * * * ?"\n}', service="sqlite", file="f")
    assert (info.value.line, info.value.key) == (2, "5min")
