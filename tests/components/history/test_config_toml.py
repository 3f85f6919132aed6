"""The TOML reader: same model as ``.persist``, JSON round trip, errors with file/line/token."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from opencrate.components.history.config.model import ServiceConfig, service_to_dict
from opencrate.components.history.config.persist_syntax import parse_persist
from opencrate.components.history.config.toml import (
    load_config_file,
    parse_config_text,
    service_from_mapping,
)
from opencrate.components.history.selectors import IdHierarchy
from opencrate.components.history.strategies import compile_plan
from opencrate.errors import ConfigError
from tests.harness import REPO_ROOT

TOML = """\
default = "sqlite"

[services.sqlite.strategies]
everyHour = "0 0 * * * ?"

[services.sqlite.filters]
tenth = { threshold = 0.1 }
pct = { threshold = 5, unit = "%" }
hourly = { time = "1h" }
onlyOn = { equal = ["ON"] }
comfort = { inside = [18, 26] }

[[services.sqlite.items]]
points = ["*"]
strategies = ["everyChange", "restoreOnStartup"]

[[services.sqlite.items]]
points = ["ahu1*", "!ahu1/debug"]
strategies = ["everyHour"]
filters = ["tenth", "hourly"]
alias = "ahu"

[services.sqlite.aliases]
"1001/ai-1" = "outside_air_temp"

[services.forecast]
kind = "memory"
max_entries = 100
"""

PERSIST = """\
Strategies { everyHour : "0 0 * * * ?" }
Filters {
    tenth : > 0.1
    pct : > % 5
    hourly : T 1 h
    onlyOn : = "ON"
    comfort : [] 18 26
}
Items {
    * : strategy = everyChange, restoreOnStartup
    ahu1*, !ahu1/debug -> "ahu" : strategy = everyHour filter = tenth, hourly
}
Aliases { 1001/ai-1 -> "outside_air_temp" }
"""


def test_toml_and_persist_load_the_same_model() -> None:
    cfg = parse_config_text(TOML, file="p.toml")
    from_persist = parse_persist(PERSIST, service="sqlite")
    assert cfg.get("sqlite") == from_persist
    assert cfg.default_service() == "sqlite"
    forecast = cfg.get("forecast")
    assert forecast is not None
    assert forecast.kind == "memory"
    assert forecast.options == {"max_entries": 100}


def test_json_round_trip_gives_an_equal_model() -> None:
    service = parse_persist(PERSIST, service="sqlite")
    again = service_from_mapping("sqlite", service_to_dict(service))
    assert again == service


def test_persistence_section_wrapper_and_persist_file(tmp_path: Path) -> None:
    (tmp_path / "sqlite.persist").write_text(PERSIST)
    conf = tmp_path / "opencrate.toml"
    conf.write_text('[persistence.services.sqlite]\npersist = "sqlite.persist"\n')
    cfg = load_config_file(conf)
    service = cfg.get("sqlite")
    assert service is not None
    assert service.items == parse_persist(PERSIST, service="sqlite").items
    assert service.source == str(tmp_path / "sqlite.persist")
    # A .persist file on its own is one service named after the file.
    assert load_config_file(tmp_path / "sqlite.persist").get("sqlite") == service


@pytest.mark.parametrize(
    ("edit", "line", "token", "message"),
    [
        (
            ('filters = ["tenth", "hourly"]', 'filters = ["tenth", "daily"]'),
            20,
            "daily",
            "unknown filter",
        ),
        (
            ('strategies = ["everyHour"]', 'strategies = ["weekly"]'),
            19,
            "weekly",
            "unknown strategy",
        ),
        (('everyHour = "0 0 * * * ?"', 'everyHour = "0 0 * *"'), 4, "0 0 * *", "6 fields"),
        (
            ('pct = { threshold = 5, unit = "%" }', 'pct = { threshold = 5, unit = "K" }'),
            8,
            "K",
            "unit",
        ),
        (('hourly = { time = "1h" }', 'hourly = { time = "soon" }'), 9, "soon", "not a duration"),
        (
            ("comfort = { inside = [18, 26] }", "comfort = { inside = [30, 26] }"),
            11,
            "comfort",
            "above",
        ),
        (('points = ["ahu1*", "!ahu1/debug"]', 'points = ["ahu1*", "!*"]'), 18, "!*", "exclude"),
        (("max_entries = 100", "max_entries = 0"), 28, "max_entries", "positive"),
        (("max_entries = 100", "max_enties = 100"), 28, "max_enties", "unknown key"),
        (('kind = "memory"', 'kind = "redis"'), 27, "redis", "unknown service kind"),
        (('default = "sqlite"', 'default = "influx"'), 1, "influx", "not configured"),
        (('alias = "ahu"', 'alias = "ahu"\ncolour = "red"'), 22, "colour", "unknown key"),
    ],
)
def test_errors_name_file_line_and_token(
    edit: tuple[str, str], line: int, token: str, message: str
) -> None:
    text = TOML.replace(*edit)
    assert text != TOML
    with pytest.raises(ConfigError) as info:
        parse_config_text(text, file="conf/p.toml")
    err = info.value
    assert (err.file, err.line, err.key) == ("conf/p.toml", line, token)
    assert message in str(err)


def test_syntax_error_names_the_line() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config_text('default = "sqlite"\n[services.sqlite\n', file="p.toml")
    assert info.value.line == 2
    assert "not valid TOML" in str(info.value)


def test_postgresql_needs_a_dsn_and_unknown_file_types_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs 'dsn'"):
        parse_config_text("[services.postgresql]\n", file="p.toml")
    other = tmp_path / "p.yaml"
    other.write_text("")
    with pytest.raises(ConfigError, match=r"\.persist or \.toml"):
        load_config_file(other)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config_file(tmp_path / "missing.persist")


def test_the_two_example_files_mean_the_same_for_every_demo_point() -> None:
    root = REPO_ROOT
    from_toml = load_config_file(root / "examples" / "persistence.toml").get("sqlite")
    from_persist = load_config_file(root / "examples" / "persistence.persist", kind="sqlite").get(
        "persistence"
    )
    assert from_toml is not None
    assert from_persist is not None
    office = tomllib.loads((root / "examples" / "office.toml").read_text())
    points = [f"{e['id']}/{p['id']}" for e in office["equip"] for p in e.get("point", [])]
    assert len(points) > 50

    def meaning(service: ServiceConfig, point: str) -> tuple[object, ...]:
        plan = compile_plan(service, point, IdHierarchy().ancestors(point))
        rules = (plan.on_update, plan.on_change)
        return (
            plan.storage_id,
            plan.restore,
            [[r.filters for r in group] for group in rules],
            {name: [r.filters for r in group] for name, group in plan.on_cron.items()},
        )

    restored = [p for p in points if compile_plan(from_toml, p, frozenset()).restore]
    assert len(restored) == 16
    for point in points:
        assert meaning(from_toml, point) == meaning(from_persist, point), point


PG_SERVICE = """\
[services.central]
kind = "postgresql"
dsn = "postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3Dschema"
{extra}
"""


@pytest.mark.parametrize(
    ("extra", "line", "key", "message"),
    [
        ('schema = "building-b"', 4, "schema", "schema 'building-b': use a lower-case identifier"),
        ('table = "Samples"', 4, "table", "table 'Samples': use a lower-case identifier"),
        ('schema = "' + "s" * 42 + '"', 4, "schema", "at most 41 characters"),
        # A retention table is refused at its own line, whichever way it is written.
        ('\n[services.central.retention]\nraw = "30d"', 5, "retention", "sqlite services only"),
        ('\n[[services.central.retention.rules]]\npoints = ["*"]', 5, "retention", "sqlite"),
        ('retention = { raw = "30d" }', 4, "retention", "sqlite services only"),
    ],
)
def test_postgresql_settings_are_checked_at_their_line(
    extra: str, line: int, key: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config_text(PG_SERVICE.format(extra=extra), file="p.toml")
    err = info.value
    assert (err.file, err.line, err.key) == ("p.toml", line, key)
    assert message in str(err)


def test_a_plain_schema_and_table_are_accepted() -> None:
    text = PG_SERVICE.format(extra='schema = "building_b"\ntable = "samples_2"')
    service = parse_config_text(text, file="p.toml").get("central")
    assert service is not None
    assert (service.options["schema"], service.options["table"]) == ("building_b", "samples_2")


def test_a_settings_file_is_read_through_file_relative_to_it(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "central.persist").write_text("Items {\n    * : strategy = everyChange\n}\n")
    (site / "persistence.toml").write_text(
        'default = "central"\n'
        + PG_SERVICE.format(extra='schema = "building_b"\npersist = "central.persist"')
    )
    settings = site / "opencrate.toml"
    settings.write_text('[server]\nport = 8081\n\n[persistence]\nfile = "persistence.toml"\n')
    config = load_config_file(settings)
    assert config.default == "central"
    central = config.get("central")
    assert central is not None
    assert central.source == str(site / "central.persist")
    assert central.items[0].line == 2

    # An error in the followed file names that file and its line.
    (site / "persistence.toml").write_text(
        'default = "central"\n' + PG_SERVICE.format(extra='schema = "building-b"')
    )
    with pytest.raises(ConfigError) as info:
        load_config_file(settings)
    assert (info.value.file, info.value.line, info.value.key) == (
        str(site / "persistence.toml"),
        5,
        "schema",
    )


@pytest.mark.parametrize(
    ("settings", "message", "line"),
    [
        ('[persistence]\nfile = "p.toml"\ndefault = "x"\n', "put everything in that file", 3),
        ("[persistence]\nfile = 3\n", "file must be the name", 2),
        ('[persistence]\nfile = "self.toml"\n', "uses file = again", 2),
        ("[server]\nport = 1\n", "without a [persistence] section", None),
    ],
)
def test_settings_files_that_cannot_be_checked_say_why(
    tmp_path: Path, settings: str, message: str, line: int | None
) -> None:
    path = tmp_path / "self.toml"
    path.write_text(settings)
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        load_config_file(path)
    assert (info.value.file, info.value.line) == (str(path), line)
