"""The openHAB ``.persist`` reader: every section, comments, and errors naming file/line/token."""

from __future__ import annotations

import pytest

from opencrate.components.history.config.model import (
    EqualsFilter,
    RangeFilter,
    Selector,
    SelectorKind,
    ThresholdFilter,
    TimeFilter,
)
from opencrate.components.history.config.persist_syntax import parse_persist
from opencrate.errors import ConfigError

FULL = """\
// persistence strategies have a name and a definition
Strategies {
    everyHour : "0 0 * * * ?"
    everyDay  : "0 0 0 * * ?"   /* seconds first, Quartz style */
    default = everyChange
}

/*
 * Filters
 */
Filters {
    tenth   : > 0.1
    fivePct : > % 5
    hourly  : T 1 h
    quarter : T 15m
    onlyOn  : = "ON", "true"
    notOff  : ! "OFF"
    comfort : [] 18 26
    extreme : ][ -10.5 40
}

Items {
    * : strategy = everyChange, everyDay, restoreOnStartup
    ahu1*, !ahu1/debug -> "ahu" : strategy = everyHour filter = tenth, hourly
    1001/ai-3 ;
    "odd point" : filter = onlyOn
}

Aliases {
    1001/ai-1 -> "outside_air_temp"
    1001/ai-2 -> supply
}
"""


def test_full_file_loads_every_section() -> None:
    cfg = parse_persist(FULL, service="sqlite", file="sqlite.persist")
    assert cfg.name == "sqlite"
    assert cfg.kind == "sqlite"
    assert [(s.name, s.cron) for s in cfg.strategies] == [
        ("everyHour", "0 0 * * * *"),
        ("everyDay", "0 0 0 * * *"),
    ]
    assert cfg.filter("tenth") == ThresholdFilter(name="tenth", value=0.1)
    assert cfg.filter("fivePct") == ThresholdFilter(name="fivePct", value=5.0, relative=True)
    assert cfg.filter("hourly") == TimeFilter(name="hourly", interval_ms=3_600_000)
    assert cfg.filter("quarter") == TimeFilter(name="quarter", interval_ms=900_000)
    assert cfg.filter("onlyOn") == EqualsFilter(name="onlyOn", values=("ON", "true"))
    assert cfg.filter("notOff") == EqualsFilter(name="notOff", values=("OFF",), negate=True)
    assert cfg.filter("comfort") == RangeFilter(name="comfort", lower=18, upper=26)
    assert cfg.filter("extreme") == RangeFilter(name="extreme", lower=-10.5, upper=40, inside=False)

    all_line, ahu_line, single, odd = cfg.items
    assert all_line.selectors == (Selector(kind=SelectorKind.ALL),)
    assert all_line.strategies == ("everyChange", "everyDay", "restoreOnStartup")
    assert all_line.line == 23
    assert [str(s) for s in ahu_line.selectors] == ["ahu1*", "!ahu1/debug"]
    assert ahu_line.alias == "ahu"
    assert ahu_line.filters == ("tenth", "hourly")
    # ';' and a line with only filters take the default strategies.
    assert single.strategies == ("everyChange",)
    assert odd.selectors[0].target == "odd point"
    assert odd.strategies == ("everyChange",)
    assert cfg.aliases == {"1001/ai-1": "outside_air_temp", "1001/ai-2": "supply"}


def test_sections_are_optional_and_any_order() -> None:
    cfg = parse_persist(
        'Items { * : strategy = everyUpdate }\nStrategies { s : "*/10 * * * * ?" }',
        service="memory",
    )
    assert cfg.kind == "memory"
    assert cfg.items[0].strategies == ("everyUpdate",)
    assert parse_persist("", service="sqlite").items == ()


@pytest.mark.parametrize(
    ("text", "line", "token", "message"),
    [
        ("Items {\n  * : strategy = everyHour\n}", 2, "everyHour", "unknown strategy"),
        ("Items {\n\n  * : strategy = everyChange filter = nope\n}", 3, "nope", "unknown filter"),
        ('Strategies {\n  bad : "61 * * * * ?"\n}', 2, "61 * * * * ?", "not a valid cron"),
        ('Strategies {\n  bad : "* * *"\n}', 2, "* * *", "6 fields"),
        ("Strategies {\n  hourly\n}", 2, "hourly", "cron strategy needs"),
        ('Strategies {\n  everyChange : "0 * * * * ?"\n}', 2, "everyChange", "built-in"),
        ("Filters {\n  f : T 5 y\n}", 2, "y", "time unit"),
        ('Filters {\n  f : > 5 "K"\n}', 2, "K", "units are not supported"),
        ("Filters {\n  f : [] 30 10\n}", 2, "[]", "above upper bound"),
        ("Filters {\n  f : ~ 3\n}", 2, "~", "unexpected character"),
        ("Items {\n  * strategy = everyChange\n}", 2, "strategy", "expected ':'"),
        ("Items {\n  !* : strategy = everyChange\n}", 2, "!", "exclude every point"),
        ("Items {\n  x : strategy = everyChange\n", 3, "end of file", "expected '}'"),
        ("Itemz {\n}", 1, "Itemz", "expected a section"),
        ("Items {\n  x ;\n}", 2, "x", "no strategy for this line"),
        ("/* never closed\nItems { }", 1, "/*", "unterminated"),
        ('Aliases {\n  a -> "x"\n  a -> "y"\n}', 3, "a", "defined twice"),
    ],
)
def test_errors_name_file_line_and_token(text: str, line: int, token: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_persist(text, service="sqlite", file="conf/sqlite.persist")
    err = info.value
    assert (err.file, err.line, err.key) == ("conf/sqlite.persist", line, token)
    assert message in str(err)
    assert str(err).startswith(f"conf/sqlite.persist:{line} [{token}]")


def test_unknown_service_kind_needs_a_kind() -> None:
    with pytest.raises(ConfigError, match="say which kind"):
        parse_persist("", service="archive", file="archive.persist")
    assert parse_persist("", service="archive", kind="postgresql").kind == "postgresql"
