"""``opencrate history ...`` against a real server, and ``opencrate persistence check``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from asyncclick.testing import CliRunner

from opencrate.app import Services
from opencrate.cli.main import cli
from opencrate.components.history.cli import read_samples
from opencrate.components.history.setup import Persistence
from opencrate.components.history.sqlite.store import HistoryStore
from opencrate.components.nodes.store import NodeStore
from opencrate.errors import InvalidInput
from opencrate.model.node import Node
from tests.harness import build_tree

NOW = 1_700_000_000_000  # the clock fixture's start


async def _run(*args: str) -> tuple[int, str]:
    result = await CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


@pytest.fixture
async def history(live_services: Services) -> HistoryStore:
    # The model's points (history is kept only for those), and one of the level-10
    # stores the fixture runs.
    await build_tree(live_services)
    mode = {"id": "1001/mode", "node_type": "point", "dis": "Mode", "parent_id": "1001"}
    await live_services.get(NodeStore).create(Node.from_dict({**mode, "kind": "str"}))
    (store,) = live_services.get(Persistence).stores()
    return store


CSV = f"""point_id,time,ts_ms,value
1001/sat,,{NOW - 3_600_000},20.0
1001/sat,,{NOW - 1_800_000},22.0
1001/fan,,{NOW - 1_800_000},true
1001/mode,,{NOW - 1_000},"""


async def test_import_show_stat_export_round_trip(
    history: HistoryStore, api_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    source.write_text(CSV + '"""auto"""\n')
    code, output = await _run("history", "import", str(source), "--url", api_url)
    assert code == 0, output
    assert "imported 4 samples into sqlite" in output

    code, output = await _run("history", "show", "1001/sat", "--since", "2h", "--url", api_url)
    assert code == 0, output
    assert output.splitlines() == [
        "2023-11-14T21:13:20.000Z  20.0",
        "2023-11-14T21:43:20.000Z  22.0",
    ]

    code, output = await _run(
        "history", "stat", "1001/sat", "average", "--since", "1h", "--url", api_url
    )
    assert code == 0, output
    value, unit = output.split()  # the point's unit follows the number
    assert float(value) == pytest.approx(21.0, abs=0.01)  # the clock moves a little
    assert unit == "°C"
    code, output = await _run(
        "history", "stat", "1001/sat", "maximum", "--since", "1d", "--url", api_url
    )
    assert code == 0, output
    assert output.strip() == "22.0 °C  at 2023-11-14T21:43:20.000Z"
    code, output = await _run("history", "stat", "1001/sat", "lastUpdate", "--url", api_url)
    assert output.strip() == "2023-11-14T21:43:20.000Z"

    exported = tmp_path / "out.csv"
    for point in ("1001/sat", "1001/fan", "1001/mode"):
        code, output = await _run("history", "export", point, "--format", "csv", "--url", api_url)
        assert code == 0, output
        assert output.startswith("point_id,time,ts_ms,value\n")
        exported.write_text(exported.read_text() + output if exported.exists() else output)
    code, output = await _run(
        "history", "export", "1001/mode", "--format", "json", "--url", api_url
    )
    assert json.loads(output) == {
        "point_id": "1001/mode",
        "ts_ms": NOW - 1_000,
        "time": "2023-11-14T22:13:19.000Z",
        "value": "auto",
    }
    # Values keep their types through export and import (JSON in the value column).
    await history.remove("1001/sat", 0, NOW)
    assert await history.samples("1001/sat", 0, NOW) == []
    clean = tmp_path / "again.csv"
    lines = exported.read_text().splitlines()
    clean.write_text(
        "\n".join([lines[0], *[x for x in lines if not x.startswith("point_id")]]) + "\n"
    )
    code, output = await _run("history", "import", str(clean), "--url", api_url)
    assert code == 0, output
    values = [s.value for s in await history.samples("1001/sat", 0, NOW)]
    assert values == [20.0, 22.0]
    assert all(type(v) is float for v in values)
    (fan,) = await history.samples("1001/fan", 0, NOW)
    assert fan.value is True


async def test_bad_import_names_file_and_line_and_stores_nothing(
    history: HistoryStore, api_url: str, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(f"point_id,ts_ms,value\n1001/sat,{NOW},1.0\n1001/sat,,2.0\n")
    code, output = await _run("history", "import", str(bad), "--url", api_url)
    assert code == 1
    assert "bad.csv:3: time is missing" in output
    refused = tmp_path / "refused.csv"
    refused.write_text(f"point_id,ts_ms,value\n1001/sat,{NOW},1.0\n1001/sat,{NOW + 1},[1]\n")
    code, output = await _run("history", "import", str(refused), "--url", api_url)
    assert code == 1
    assert "samples[1].value" in output
    assert "0 stored before" in output
    assert await history.samples("1001/sat", 0, 2 * NOW) == []
    # These were tracebacks: int("²") after str.isdigit() said yes (now the text goes to
    # the server, which names the bad time), and a file that is not UTF-8.
    assert read_samples("point_id,ts_ms,value\n1001/sat,²,1.0\n", "odd.csv") == [
        {"point_id": "1001/sat", "time": "²", "value": 1.0}
    ]
    # json.loads raised RecursionError on these: a deep JSON line is named, and a
    # deep CSV value goes as text for the server to refuse.
    deep = "[" * 10_000 + "]" * 10_000
    with pytest.raises(InvalidInput, match=r"deep\.jsonl:1 nests arrays and objects deeper"):
        read_samples(deep + "\n", "deep.jsonl")
    assert read_samples(f"point_id,ts_ms,value\n1001/sat,5,{deep}\n", "deep.csv") == [
        {"point_id": "1001/sat", "time": 5, "value": deep}
    ]
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"point_id,ts_ms,value\n1001/sat,1,\xe9\n")
    code, output = await _run("history", "import", str(latin), "--url", api_url)
    assert code == 1
    assert "latin.csv: not UTF-8 text" in output
    code, output = await _run("history", "show", "1001/sat", "--since", "soon", "--url", api_url)
    assert code == 1
    assert "'start'" in output


async def test_import_with_an_unknown_point_stores_nothing_and_names_it(
    history: HistoryStore, api_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mixed = tmp_path / "mixed.csv"
    mixed.write_text(f"point_id,ts_ms,value\n1001/sat,{NOW},1.0\nnope/x,{NOW + 1},2.0\n")
    code, output = await _run("history", "import", str(mixed), "--url", api_url)
    assert code == 1
    assert "samples[1].point_id: no point 'nope/x' in the model" in output
    assert "0 stored before" in output
    assert await history.samples("1001/sat", 0, 2 * NOW) == []
    assert await history.samples("nope/x", 0, 2 * NOW) == []
    # Over several batches the file is still all-or-nothing: every batch is checked
    # before the first is stored.
    monkeypatch.setattr("opencrate.components.history.cli.BATCH", 2)
    big = tmp_path / "big.csv"
    rows = [f"1001/sat,{NOW + i},{float(i)}" for i in range(5)]
    big.write_text("\n".join(["point_id,ts_ms,value", *rows, f"nope/x,{NOW},1.0"]) + "\n")
    code, output = await _run("history", "import", str(big), "--url", api_url)
    assert code == 1
    assert "no point 'nope/x' in the model (in samples 5..6 of big.csv; nothing stored)" in output
    assert await history.samples("1001/sat", 0, 2 * NOW) == []
    big.write_text("\n".join(["point_id,ts_ms,value", *rows]) + "\n")
    code, output = await _run("history", "import", str(big), "--url", api_url)
    assert code == 0, output
    assert "imported 5 samples into sqlite" in output
    assert len(await history.samples("1001/sat", 0, 2 * NOW)) == 5


async def test_show_and_stat_of_an_unknown_point_or_statistic_are_clear_errors(
    history: HistoryStore, api_url: str
) -> None:
    code, output = await _run("history", "show", "nope/x", "--url", api_url)
    assert code == 1
    assert "no point 'nope/x' in the model" in output
    code, output = await _run("history", "stat", "nope/x", "average", "--url", api_url)
    assert code == 1
    assert "no point 'nope/x' in the model" in output
    # It was a KeyError traceback: the unknown name read as part of the point id.
    code, output = await _run("history", "stat", "1001/sat", "averge", "--url", api_url)
    assert code == 2
    assert "Traceback" not in output
    assert "unknown statistic 'averge'; use one of: average, " in output


async def test_persistence_check(tmp_path: Path) -> None:
    good = tmp_path / "sqlite.persist"
    good.write_text(
        'Strategies { every5min : "0 */5 * * * ?" }\n'
        "Items {\n  * : strategy = everyChange, every5min\n"
        '  sp* -> "setpoints" : strategy = restoreOnStartup\n}\n'
    )
    code, output = await _run("persistence", "check", str(good))
    assert code == 0, output
    assert output.splitlines() == [
        "service sqlite [sqlite] (default)",
        "  strategy every5min: 0 */5 * * * ?",
        "  line 3: * : everyChange,every5min",
        "  line 4: sp* -> setpoints : restoreOnStartup",
        f"ok: {good}",
    ]
    bad = tmp_path / "bad.persist"
    bad.write_text("Items {\n  * : strategy = every5min\n}\n")
    code, output = await _run("persistence", "check", str(bad))
    assert code == 1
    assert "say which kind it is" in output
    code, output = await _run("persistence", "check", str(bad), "--kind", "sqlite")
    assert code == 1
    assert f"Error: {bad}:2 [every5min]: unknown strategy 'every5min'" in output
    toml = tmp_path / "p.toml"
    toml.write_text(
        '[services.sqlite]\n[[services.sqlite.items]]\npoints = ["*"]\nstrategies = ["x"]\n'
    )
    code, output = await _run("persistence", "check", str(toml))
    assert code == 1
    assert f"{toml}:4 [x]" in output


async def test_persistence_check_reads_a_settings_file_through_file(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "persistence.toml").write_text(
        'default = "central"\n\n[services.central]\nkind = "postgresql"\n'
        'dsn = "postgresql://opencrate:s3cret@db.example/history"\nschema = "building_b"\n\n'
        '[[services.central.items]]\npoints = ["*"]\nstrategies = ["everyChange"]\n'
    )
    settings = site / "opencrate.toml"
    settings.write_text('[server]\nport = 8081\n\n[persistence]\nfile = "persistence.toml"\n')
    code, output = await _run("persistence", "check", str(settings))
    assert code == 0, output
    assert output.splitlines() == [
        "service central [postgresql] (default)",
        f"  from {site / 'persistence.toml'}",
        "  options: dsn=postgresql://opencrate:********@db.example/history, schema=building_b, "
        "table=opencrate_samples, spool_max=100000, batch_max=1000",
        "  line 8: * : everyChange",
        f"ok: {settings}",
    ]
    assert "s3cret" not in output

    (site / "persistence.toml").write_text(
        (site / "persistence.toml").read_text().replace("building_b", "building-b")
    )
    code, output = await _run("persistence", "check", str(settings))
    assert code == 1
    assert f"Error: {site / 'persistence.toml'}:6 [schema]: services.central: schema" in output


def test_a_csv_field_past_the_csv_limit_is_invalid_input_naming_the_line() -> None:
    # csv raised a bare _csv.Error (a traceback from `opencrate history import`).
    huge = "x" * 200_000
    text = f"point_id,ts_ms,value\n1001/sat,5,1.0\n1001/sat,6,{huge}\n"
    with pytest.raises(InvalidInput, match=r"^big\.csv:3: not usable CSV: field larger than"):
        read_samples(text, "big.csv")


async def test_stat_says_why_a_window_is_null_and_takes_weighted(
    history: HistoryStore, api_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    source.write_text(CSV + '"""auto"""\n')
    code, output = await _run("history", "import", str(source), "--url", api_url)
    assert code == 0, output
    code, output = await _run(
        "history", "stat", "1001/sat", "averageSince", "--since", str(NOW + 3_600_000),
        "--url", api_url,
    )  # fmt: skip
    assert code == 0, output
    assert output.splitlines()[0] == "null"
    assert "in the future" in output
    unweighted = await _run(
        "history", "stat", "1001/sat", "variance", "--since", "2h", "--url", api_url
    )
    weighted = await _run(
        "history", "stat", "1001/sat", "variance", "--since", "2h", "--weighted", "--url", api_url
    )
    assert unweighted[0] == weighted[0] == 0
    # Held 20 then 22 for half an hour each: weighted 1; openHAB's over 20, 22 and the
    # boundary 22 at now, around the weighted mean 21: 1 too (the clock moves a little).
    assert float(weighted[1].split()[0]) == pytest.approx(1.0, abs=0.01)
    assert float(unweighted[1].split()[0]) == pytest.approx(1.0, abs=0.01)
    assert weighted[1].split()[1] == unweighted[1].split()[1] == "°C²"
    code, output = await _run(
        "history", "stat", "1001/sat", "nextState", "--skip-equal", "--url", api_url
    )
    assert (code, output.strip()) == (0, "null")


async def test_persist_a_time_series_from_a_file(
    history: HistoryStore, api_url: str, tmp_path: Path
) -> None:
    first = tmp_path / "forecast.csv"
    first.write_text(
        "point_id,time,ts_ms,value\n"
        f"1001/sat,,{NOW + 60_000},20.0\n1001/sat,,{NOW + 120_000},21.0\n"
        f"1001/sat,,{NOW + 180_000},22.0\n"
    )
    code, output = await _run("history", "persist", "1001/sat", str(first), "--url", api_url)
    assert (code, output.strip()) == (0, "stored 3 samples of 1001/sat in sqlite (add)")
    again = tmp_path / "again.jsonl"
    again.write_text(
        json.dumps({"point_id": "1001/sat", "ts_ms": NOW + 60_000, "value": 19.0}) + "\n"
        + json.dumps({"point_id": "1001/sat", "ts_ms": NOW + 150_000, "value": 23.0}) + "\n"
    )  # fmt: skip
    code, output = await _run(
        "history", "persist", "1001/sat", str(again), "--policy", "replace", "--url", api_url
    )
    assert code == 0, output
    kept = await history.samples("1001/sat", NOW, NOW + 600_000)
    assert [(s.ts_ms - NOW, s.value) for s in kept] == [
        (60_000, 19.0),
        (150_000, 23.0),
        (180_000, 22.0),  # after the series' last time: kept
    ]
    other = tmp_path / "other.csv"
    other.write_text(f"point_id,time,ts_ms,value\n1001/fan,,{NOW},true\n")
    code, output = await _run("history", "persist", "1001/sat", str(other), "--url", api_url)
    assert code != 0
    assert "sample 1 is for '1001/fan', not '1001/sat'" in output
