"""``opencrate nodes tree|show|import`` against a real server on loopback."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import trio
from asyncclick.testing import CliRunner

from opencrate.app import Services
from opencrate.cli.main import cli
from opencrate.components.audit.store import AuditStore
from opencrate.components.nodes.store import NodeStore
from opencrate.components.points.store import PointStore
from tests.harness import TEST_AUDIT_NAME, build_tree


async def _run(*args: str) -> tuple[int, str]:
    result = await CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


async def test_tree_prints_the_hierarchy_with_point_values(
    live_services: Services, api_url: str
) -> None:
    await build_tree(live_services)
    live_services.get(PointStore).set("1001/sat", 13.5)
    live_services.get(PointStore).set("1001/fan", True)
    code, output = await _run("nodes", "tree", "--url", api_url)
    assert code == 0, output
    assert output.splitlines() == [
        "HQ  [hq] site",
        "├── Floor 1  [floor-1] space",
        "│   └── AHU-1  [1001] equip",
        "│       ├── Fan Cmd  [1001/fan] point = true (ok)",
        "│       └── Supply Air Temp  [1001/sat] point = 13.5 °C (ok)",
        "└── Floor 2  [floor-2] space",
        "    └── VAV-1  [2001] equip",
        "        └── Zone Air Temp  [2001/zat] point = - °C (unknown)",
    ]
    code, output = await _run("nodes", "tree", "--url", api_url, "--under", "2001", "--json")
    assert code == 0, output
    (vav,) = json.loads(output)
    assert [c["id"] for c in vav["children"]] == ["2001/zat"]


async def test_show_prints_one_node_and_names_an_unknown_one(
    live_services: Services, api_url: str
) -> None:
    await build_tree(live_services)
    live_services.get(PointStore).set("1001/sat", 13.5, ts_ms=1_700_000_000_000)
    code, output = await _run("nodes", "show", "1001/sat", "--url", api_url)
    assert code == 0, output
    fields = dict(line.split(":", 1) for line in output.splitlines())
    assert {k: v.strip() for k, v in fields.items()} == {
        "id": "1001/sat",
        "dis": "Supply Air Temp",
        "type": "point",
        "parent": "1001",
        "tags": "air discharge point sensor temp",
        "capabilities": "-",
        "unit": "°C",
        "kind": "number",
        "value": "13.5",
        "status": "ok",
        "updated": "2023-11-14T22:13:20.000Z",
    }
    code, output = await _run("nodes", "show", "1001/nothing", "--url", api_url)
    assert code == 1
    assert "Error: no node '1001/nothing'" in output


async def test_import_creates_all_nodes_or_none_and_names_the_problem(
    live_services: Services, api_url: str, tmp_path: Path
) -> None:
    await build_tree(live_services)
    good = [
        {"id": "3001/zat", "node_type": "point", "dis": "Zone Temp", "parent_id": "3001"},
        {"id": "3001", "node_type": "equip", "dis": "VAV-2", "parent_id": "floor-2"},
    ]
    bad = [*good, {"id": "3002", "node_type": "equip", "dis": "VAV-3", "colour": "red"}]
    (tmp_path / "bad.json").write_text(json.dumps({"nodes": bad}))
    (tmp_path / "broken.json").write_text('[{"id": "x",\n  "dis": }]')
    (tmp_path / "good.json").write_text(json.dumps(good))

    code, output = await _run("nodes", "import", str(tmp_path / "bad.json"), "--url", api_url)
    assert code == 1
    assert "nodes[2]" in output
    assert "'colour'" in output
    code, output = await _run("nodes", "import", str(tmp_path / "broken.json"), "--url", api_url)
    assert code == 1
    assert f"{tmp_path / 'broken.json'}:2:10: not valid JSON" in output
    assert live_services.get(NodeStore).get_or_none("3001") is None
    assert await live_services.get(AuditStore).count() == 0

    code, output = await _run("nodes", "import", str(tmp_path / "good.json"), "--url", api_url)
    assert code == 0, output
    assert output.strip() == f"imported 2 nodes from {tmp_path / 'good.json'}"
    assert live_services.get(NodeStore).get("3001/zat").parent_id == "3001"
    (entry,) = await live_services.get(AuditStore).tail()
    assert (entry.user, entry.action) == (TEST_AUDIT_NAME, "node.create_many")

    code, output = await _run("nodes", "import", str(tmp_path / "missing.json"), "--url", api_url)
    assert code == 2
    assert "does not exist" in output


async def test_server_comes_from_the_settings_file_and_an_unreachable_one_is_named(
    live_services: Services, api_url: str, tmp_path: Path
) -> None:
    await build_tree(live_services)
    port = api_url.rsplit(":", 1)[1]
    config = tmp_path / "opencrate.toml"
    config.write_text(f'[server]\nhost = "127.0.0.1"\nport = {port}\n')
    code, output = await _run("--config", str(config), "nodes", "show", "hq")
    assert code == 0, output
    assert "HQ" in output

    code, output = await _run("nodes", "tree", "--url", "http://127.0.0.1:9")
    assert code == 1
    assert "cannot reach OpenCrate at http://127.0.0.1:9" in output


async def test_a_server_that_is_not_opencrate_is_named_as_such(nursery: trio.Nursery) -> None:
    async def not_opencrate(stream: trio.SocketStream) -> None:
        await stream.receive_some(65536)
        await stream.send_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n"
            b"Connection: close\r\n\r\nhello"
        )
        await stream.aclose()

    (listener,) = await nursery.start(partial(trio.serve_tcp, not_opencrate, 0, host="127.0.0.1"))
    port = listener.socket.getsockname()[1]
    code, output = await _run("nodes", "tree", "--url", f"http://127.0.0.1:{port}")
    nursery.cancel_scope.cancel()
    assert code == 1
    assert "does not look like an OpenCrate server" in output


async def test_import_of_a_scenario_file_creates_its_building(
    live_services: Services, api_url: str, tmp_path: Path
) -> None:
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(
        '[scenario]\nname = "Tiny"\n\n'
        '[[site]]\nid = "tiny"\ndis = "Tiny Site"\n\n'
        '[[equip]]\nid = "7001"\ndis = "AHU-7"\nparent = "tiny"\n\n'
        '[[equip.point]]\nid = "sat"\ndis = "Supply Air Temp"\nunit = "°C"\n'
    )
    code, output = await _run("nodes", "import", str(scenario), "--url", api_url)
    assert code == 0, output
    assert output.strip() == f"imported 3 nodes from {scenario}"
    point = live_services.get(NodeStore).get("7001/sat")
    assert point.parent_id == "7001"
    assert {"air", "temp", "sensor"} <= point.tags  # the scenario's auto-tags came along

    scenario.write_text('[scenario]\nname = "Broken"\n\n[[site]]\nid = "x"\n')
    code, output = await _run("nodes", "import", str(scenario), "--url", api_url)
    assert code == 1
    assert str(scenario) in output


async def test_import_refuses_a_bad_alarm_rule_naming_it(
    live_services: Services, api_url: str, tmp_path: Path
) -> None:
    await build_tree(live_services)
    nodes = [
        {"id": "3001", "node_type": "equip", "dis": "VAV-2", "parent_id": "floor-2"},
        {"id": "3001/zat", "node_type": "point", "dis": "Zone Temp", "parent_id": "3001",
         "kind": "number", "properties": {"alarm": {"high": 20, "low": 30}}},
    ]  # fmt: skip
    (tmp_path / "bad.json").write_text(json.dumps(nodes))
    code, output = await _run("nodes", "import", str(tmp_path / "bad.json"), "--url", api_url)
    assert code == 1
    assert "nodes[1]" in output
    assert "properties.alarm.low" in output
    assert live_services.get(NodeStore).get_or_none("3001") is None
    assert await live_services.get(AuditStore).count() == 0

    scenario = tmp_path / "tiny.toml"
    scenario.write_text(
        '[[site]]\nid = "tiny"\ndis = "Tiny Site"\n\n'
        '[[equip]]\nid = "7001"\ndis = "AHU-7"\nparent = "tiny"\n\n'
        '[[equip.point]]\nid = "sat"\ndis = "Supply Air Temp"\nunit = "°C"\n'
        'properties = { alarm = { high = 30, severity = "loud" } }\n'
    )
    code, output = await _run("nodes", "import", str(scenario), "--url", api_url)
    assert code == 1
    assert f"{scenario}:14 [equip[0].point[0].properties.alarm.severity]" in output
    assert live_services.get(NodeStore).get_or_none("tiny") is None


async def test_import_of_a_file_that_is_not_utf8_is_a_one_line_error(tmp_path: Path) -> None:
    # Refused before any request: no server needed (port 1 would refuse anyway).
    (tmp_path / "latin1.json").write_bytes('[{"dis": "Kühlung"}]'.encode("latin-1"))
    code, output = await _run(
        "nodes", "import", str(tmp_path / "latin1.json"), "--url", "http://127.0.0.1:1"
    )
    assert code == 1
    assert output.startswith(f"Error: {tmp_path / 'latin1.json'}: not UTF-8 text (byte 11")
    assert "Traceback" not in output


async def test_import_of_a_deeply_nested_file_is_a_one_line_error(tmp_path: Path) -> None:
    # json.loads raised RecursionError (a traceback) on a file nested this deep.
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    code, output = await _run("nodes", "import", str(deep), "--url", "http://127.0.0.1:1")
    assert code == 1
    assert output.startswith(f"Error: {deep} nests arrays and objects deeper than 64 levels")
    assert "Traceback" not in output


async def test_tag_suggests_and_explains_a_point_and_an_equipment(
    live_services: Services, api_url: str
) -> None:
    await build_tree(live_services)
    code, output = await _run("nodes", "tag", "1001/sat", "--url", api_url)
    assert code == 0, output
    fields = {k: v.strip() for k, v in (line.split(":", 1) for line in output.splitlines())}
    assert fields["suggested"] == "air discharge point sensor supply temp"
    assert fields["missing"] == "supply"  # seed 000's tag, not on the stored node
    assert fields["extra"] == "-"
    assert fields["review"] == "no"

    code, output = await _run("nodes", "tag", "1001/sat", "--url", api_url, "--explain")
    assert code == 0, output
    lines = output.splitlines()
    assert "read as: supply air temperature" in lines
    assert any(line.startswith("temp") and "word: the name says 'temperature'" in line
               for line in lines)  # fmt: skip
    assert lines[-1] == "verdict: ok to apply (threshold 0.60)"

    # An equipment's points are evidence too: a damper and a discharge airflow make a VAV.
    code, output = await _run("nodes", "tag", "2001", "--url", api_url, "--json")
    assert code == 0, output
    body = json.loads(output)
    assert {"vav", "equip", "hvac"} <= set(body["tags"])
    assert body["reasons"]["vav"]["rule"] == "word"
    assert body["needs_review"] is False


async def test_tag_refuses_a_space_and_names_an_unknown_node(
    live_services: Services, api_url: str
) -> None:
    await build_tree(live_services)
    code, output = await _run("nodes", "tag", "floor-1", "--url", api_url)
    assert code == 1
    assert "only points and equipment are auto-tagged" in output
    code, output = await _run("nodes", "tag", "1001/nothing", "--url", api_url)
    assert code == 1
    assert "Error: no node '1001/nothing'" in output
