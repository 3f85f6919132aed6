"""The ``retention`` table of a sqlite service: reading, errors with file/line/key, round trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from opencrate.components.history.config.model import (
    RetentionConfig,
    RetentionOverride,
    format_keep,
    parse_keep,
    service_to_dict,
)
from opencrate.components.history.config.persist_render import render_persist
from opencrate.components.history.config.persist_syntax import parse_persist
from opencrate.components.history.config.toml import (
    load_config_file,
    parse_config_text,
    service_from_mapping,
)
from opencrate.components.history.config_cli import summary
from opencrate.components.history.service import Resolution
from opencrate.components.history.sqlite.retention import DAY_MS, RetentionPolicy
from opencrate.errors import ConfigError, InvalidInput

YEAR_MS = 365 * DAY_MS

TOML = """\
[[services.sqlite.items]]
points = ["*"]
strategies = ["everyChange"]

[services.sqlite.retention]
raw = "90d"
rollups = "5y"
"1h" = "forever"
interval = "30m"
batch_rows = 500

[[services.sqlite.retention.rules]]
points = ["meter-1*", "1001/rat"]
raw = "2y"

[[services.sqlite.retention.rules]]
points = ["debug*"]
raw = "12h"
rollups = "7d"
"""


def test_the_table_reads_into_the_model_and_resolves_rule_by_rule() -> None:
    (service,) = parse_config_text(TOML, file="p.toml").services
    retention = service.retention
    assert retention == RetentionConfig(
        keep={"raw": 90 * DAY_MS, "rollups": 5 * YEAR_MS, "1h": None},
        rules=(
            RetentionOverride(points=("meter-1*", "1001/rat"), keep={"raw": 2 * YEAR_MS}),
            RetentionOverride(points=("debug*",), keep={"raw": DAY_MS // 2, "rollups": 7 * DAY_MS}),
        ),
        interval_ms=30 * 60_000,
        batch_rows=500,
    )
    assert retention.rules[0].line == 12  # the [[...rules]] header
    # Keys a rule leaves out come from the service-wide ones; a tier's own key wins.
    assert retention.resolve(retention.rules[0]) == {
        "raw": 2 * YEAR_MS,
        "5m": 5 * YEAR_MS,
        "1h": None,
    }
    assert retention.resolve(retention.rules[1]) == {
        "raw": DAY_MS // 2,
        "5m": 7 * DAY_MS,
        "1h": 7 * DAY_MS,
    }
    policy = RetentionPolicy.from_config(retention)
    meter = policy.rule_for("meter-1/active-power")
    assert meter is not None
    assert meter.raw_ms == 2 * YEAR_MS
    other = policy.rule_for("2001/ai-1")
    assert other is not None
    assert (other.raw_ms, other.rollup_ms[Resolution.HOUR]) == (90 * DAY_MS, None)


def test_no_table_means_keep_forever_and_defaults_fill_interval_and_batch() -> None:
    text = TOML.split("[services.sqlite.retention]")[0]
    assert parse_config_text(text).services[0].retention is None
    minimal = parse_config_text(text + '[services.sqlite.retention]\nraw = "30d"\n')
    assert minimal.services[0].retention == RetentionConfig(keep={"raw": 30 * DAY_MS})
    assert minimal.services[0].retention.interval_ms == 3_600_000
    assert minimal.services[0].retention.batch_rows == 2000


@pytest.mark.parametrize(
    ("fragment", "line", "key", "message"),
    [
        ('raw = "a while"', 6, "a while", r"raw: not a keep time: 'a while'"),
        ("raw = 30", 6, "raw", r'raw must be "forever" or a duration in quotes'),
        ('raw = "0d"', 6, "0d", "must be longer than zero"),
        ('raws = "30d"', 6, "raws", r"unknown key 'raws' \(allowed: 1h, 5m, batch_rows"),
        ('interval = "forever"', 6, "interval", "interval is a duration"),
        ("batch_rows = 0", 6, "batch_rows", r"batch_rows must be an integer 1\.\.100000"),
        # A coarser tier kept shorter than the finer data would make queries miss data.
        ('raw = "30d"\nrollups = "7d"', 7, "rollups", "rollups kept 7d, less than raw"),
        (
            'raw = "30d"\n"5m" = "400d"\n"1h" = "30d"',
            8,
            "1h",
            r"1h rollups kept 30d, less than 5m \(400d\)",
        ),
        ('"5m" = "400d"', 6, "5m", r"less than raw \(forever\)"),
    ],
)
def test_bad_values_name_file_line_and_key(
    fragment: str, line: int, key: str, message: str
) -> None:
    text = TOML.split("[services.sqlite.retention]")[0] + "[services.sqlite.retention]\n" + fragment
    with pytest.raises(ConfigError, match=message) as caught:
        parse_config_text(text + "\n", file="p.toml")
    assert (caught.value.file, caught.value.line, caught.value.key) == ("p.toml", line, key)
    assert "services.sqlite.retention" in str(caught.value)


@pytest.mark.parametrize(
    ("rule", "line", "key", "message"),
    [
        ('points = ["!meter*"]\nraw = "1d"', 7, "!meter*", r"use '\*', 'prefix\*' or a point id"),
        ('points = ["me*ter"]\nraw = "1d"', 7, "me*ter", "use '"),
        ('points = []\nraw = "1d"', 7, "points", r"needs points = \["),
        ('points = ["meter*"]', 7, "points", "at least one of raw, rollups, 5m, 1h"),
        ('points = ["meter*"]\nraw = "1d"\nrollup = "1y"', 9, "rollup", "unknown key 'rollup'"),
        ('points = ["meter*"]\nraw = "3y"', 8, "raw", "rollups kept 1y, less than raw"),
    ],
)
def test_bad_rules_name_the_line_of_the_rule(rule: str, line: int, key: str, message: str) -> None:
    text = (
        '[services.sqlite]\n[services.sqlite.retention]\nraw = "30d"\nrollups = "1y"\n\n'
        f"[[services.sqlite.retention.rules]]\n{rule}\n"
    )
    with pytest.raises(ConfigError, match=message) as caught:
        parse_config_text(text, file="p.toml")
    assert (caught.value.line, caught.value.key) == (line, key)
    assert "services.sqlite.retention.rules[0]" in str(caught.value)


@pytest.mark.parametrize(("kind", "why"), [("memory", "max_entries"), ("postgresql", "shared")])
def test_retention_on_other_kinds_is_refused_with_the_reason(kind: str, why: str) -> None:
    dsn = 'dsn = "postgresql://x@127.0.0.1/x"\n' if kind == "postgresql" else ""
    text = f'[services.other]\nkind = "{kind}"\n{dsn}[services.other.retention]\nraw = "1d"\n'
    with pytest.raises(ConfigError, match=f"sqlite services only.*{why}") as caught:
        parse_config_text(text, file="p.toml")
    assert caught.value.key == "retention"


def test_json_round_trip_is_equal() -> None:
    (service,) = parse_config_text(TOML).services
    data = service_to_dict(service)
    assert data["retention"] == {
        "raw": "90d",
        "rollups": "5y",
        "1h": "forever",
        "interval": "30m",
        "batch_rows": 500,
        "rules": [
            {"points": ["meter-1*", "1001/rat"], "raw": "2y"},
            {"points": ["debug*"], "raw": "12h", "rollups": "7d"},
        ],
    }
    assert service_from_mapping("sqlite", data) == service


def test_keep_texts() -> None:
    assert parse_keep("forever") is None
    assert parse_keep(" 2y ") == 2 * YEAR_MS
    assert parse_keep("1.5d") == 36 * 3_600_000
    for ms in (None, YEAR_MS, 400 * DAY_MS, 90_000, 1_500):
        assert parse_keep(format_keep(ms)) == ms
    with pytest.raises(InvalidInput, match="not a keep time"):
        parse_keep("y")


@pytest.mark.parametrize("text", ["²y", "\u0661y", "9" * 400 + "y", "9" * 400 + "d", "1e3y"])
def test_keep_texts_with_unicode_digits_or_beyond_64_bits_are_invalid_input(text: str) -> None:
    # "²".isdigit() is true and float("²") then raised a bare ValueError; "999...y"
    # overflowed round(float) with an OverflowError.
    with pytest.raises(InvalidInput, match="not a keep time"):
        parse_keep(text)


def test_persist_has_no_retention_section_and_says_where_it_goes(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"no Retention section.*services\.<name>\.retention"
    ) as caught:
        parse_persist(
            'Items { * : strategy = everyChange }\nRetention { * : "30d" }\n',
            service="sqlite",
            file="s.persist",
        )
    assert (caught.value.file, caught.value.line, caught.value.key) == ("s.persist", 2, "Retention")
    # Beside a .persist file, the retention table stays in the TOML.
    (tmp_path / "s.persist").write_text("Items { * : strategy = everyChange }\n")
    (tmp_path / "p.toml").write_text(
        '[services.sqlite]\npersist = "s.persist"\n[services.sqlite.retention]\nraw = "30d"\n'
    )
    (service,) = load_config_file(tmp_path / "p.toml").services
    assert service.retention == RetentionConfig(keep={"raw": 30 * DAY_MS})
    assert len(service.items) == 1
    # Rendering to .persist mentions it in a comment and parses back to the item model.
    text = render_persist(service)
    assert "// retention is configured" in text
    again = parse_persist(text, service="sqlite")
    assert again.items == service.items
    assert again.retention is None


def test_persistence_check_prints_the_resolved_keep_times() -> None:
    lines = summary(parse_config_text(TOML, file="p.toml"))
    assert lines[-3:] == [
        "  retention: raw 90d, 5m 5y, 1h forever (every 30m, 500 rows a batch)",
        "  retention line 12: meter-1*, 1001/rat : raw 2y, 5m 5y, 1h forever",
        "  retention line 16: debug* : raw 12h, 5m 7d, 1h 7d",
    ]


def test_records_built_in_code_are_checked_too() -> None:
    with pytest.raises(InvalidInput, match="'2m' is not one of raw, rollups, 5m, 1h"):
        RetentionConfig(keep={"2m": DAY_MS})
    with pytest.raises(InvalidInput, match="raw must be a positive number"):
        RetentionOverride(points=("*",), keep={"raw": 0})
    with pytest.raises(InvalidInput, match="at least one selector"):
        RetentionOverride(points=(), keep={"raw": DAY_MS})
    with pytest.raises(InvalidInput, match="batch_rows must be at least 1"):
        RetentionConfig(batch_rows=0)
    with pytest.raises(InvalidInput, match="interval must be positive"):
        RetentionConfig(interval_ms=0)
