"""``/api/history`` and ``/api/persistence``: paging, extensions, writes, config, bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from opencrate.api.access import PERSIST_TEXT
from opencrate.api.app import create_app
from opencrate.app import Services
from opencrate.clock import TrioClock, ms_to_iso
from opencrate.components.history.config.toml import parse_config_mapping
from opencrate.components.history.routes import iso_ms
from opencrate.components.history.setup import Persistence
from opencrate.components.history.sqlite.store import HistoryStore
from opencrate.components.users.roles import Role
from opencrate.errors import ConfigError
from tests.contract import check_answers, violations
from tests.harness import build_tree, client_with_token, role_tokens, running_services

START = 1_700_000_000_000  # the clock fixture's start


@pytest.fixture
async def history(services: Services) -> HistoryStore:
    # The model's points (history is kept only for those), and one of the level-10
    # stores the API fixture runs.
    await build_tree(services)
    (store,) = services.get(Persistence).stores()
    return store


async def _ok(response: Any) -> Any:
    assert response.status_code == 200, await response.get_data(as_text=True)
    return await response.get_json()


async def _error(response: Any, status: int, *words: str) -> dict[str, Any]:
    assert response.status_code == status, await response.get_data(as_text=True)
    error: dict[str, Any] = (await response.get_json())["error"]
    for word in words:
        assert word in error["message"], error["message"]
    return error


async def test_put_then_page_through_history(history: HistoryStore, client: Client) -> None:
    for i in range(5):
        await _ok(
            await client.put("/api/history/1001/sat", json={"value": 20 + i, "time": START + i})
        )
    first = await _ok(
        await client.get(f"/api/history/1001/sat?start={START}&end={START + 10}&limit=2")
    )
    assert first["service"] == "sqlite"
    assert [(s["ts_ms"], s["value"]) for s in first["samples"]] == [(START, 20), (START + 1, 21)]
    assert first["samples"][0]["time"] == "2023-11-14T22:13:20.000Z"
    window = f"start={START}&end={START + 10}"
    rest = await _ok(
        await client.get(f"/api/history/1001/sat?{window}&limit=2&cursor={first['next_cursor']}")
    )
    assert [s["value"] for s in rest["samples"]] == [22, 23]
    desc = await _ok(
        await client.get(f"/api/history/1001/sat?start={START}&end={START + 10}&order=desc&limit=1")
    )
    assert [s["value"] for s in desc["samples"]] == [24]
    # Default window: the last day up to now.
    default = await _ok(await client.get("/api/history/1001/sat"))
    assert len(default["samples"]) == 5


async def test_extensions(history: HistoryStore, client: Client, clock: TrioClock) -> None:
    now = clock.now_ms()
    body = {
        "samples": [
            {"point_id": "2001/zat", "time": now - 3_600_000, "value": 20.0},
            {"point_id": "2001/zat", "time": now - 1_800_000, "value": 22.0},
        ]
    }
    assert (await _ok(await client.post("/api/history", json=body)))["stored"] == 2
    avg = await _ok(await client.get("/api/history/2001/zat/averageSince?since=1h"))
    assert avg["result"] == pytest.approx(21.0, abs=0.01)  # the clock moves a little
    assert avg["form"] == "since"
    same = await _ok(await client.get("/api/history/2001/zat/average_since?since=1h&riemann=right"))
    assert same["extension"] == "average"
    assert same["result"] == pytest.approx(22.0, abs=0.01)
    top = await _ok(
        await client.get(f"/api/history/2001/zat/maximum?begin={now - 7_200_000}&end={now}")
    )
    assert top["result"]["value"] == 22.0
    count = await _ok(await client.get("/api/history/2001/zat/count?since=2h"))
    assert count["result"] == 2
    at = await _ok(await client.get(f"/api/history/2001/zat/persistedState?at={now - 2_000_000}"))
    assert at["result"]["value"] == 20.0
    last = await _ok(await client.get("/api/history/2001/zat/lastUpdate"))
    assert last["result"] == now - 1_800_000
    await _error(await client.get("/api/history/2001/zat/average"), 400, "exactly one of")
    await _error(await client.get("/api/history/2001/zat/average?since=1h&until=2h"), 400)
    await _error(
        await client.get("/api/history/2001/zat/average?since=1h&riemann=up"), 400, "riemann"
    )
    await _error(await client.get("/api/history/2001/zat/persistedState"), 400, "at=")
    await _error(await client.get("/api/history/2001/zat/averageSince?until=1h"), 400, "?since=")
    await _error(await client.get("/api/history/2001/zat/average?since=soon"), 400, "'since'")


async def test_bad_writes_store_nothing(history: HistoryStore, client: Client) -> None:
    await _ok(await client.put("/api/history/1001/sat", json={"value": 1.5, "time": START}))
    await _error(await client.put("/api/history/1001/sat", json={"vlaue": 2}), 400, "vlaue")
    await _error(await client.put("/api/history/1001/sat", json={"value": [1]}), 400)
    await _error(await client.put("/api/history/1001/sat", json={"value": 1, "time": "later"}), 400)
    await _error(
        await client.put("/api/history/1001/sat?x", json={"value": 1, "service": "nope"}), 404
    )
    bad_batch = {
        "samples": [
            {"point_id": "1001/sat", "time": START + 1, "value": 3.0},
            {"point_id": "1001/sat", "time": START + 2, "value": {"no": 1}},
        ]
    }
    await _error(await client.post("/api/history", json=bad_batch), 400, "samples[1].value")
    await _error(await client.post("/api/history", json={"samples": []}), 400)
    await _error(await client.put("/api/history/1001/sat", json={"value": 1, "time": 2**70}), 400)
    await _error(await client.delete(f"/api/history/1001/sat?start={START}"), 400, "end")
    await _error(await client.delete(f"/api/history/1001/sat?start={START + 5}&end={START}"), 400)
    await _error(await client.get("/api/history/1001/sat?resolution=2m"), 400, "resolution")
    await _error(await client.get("/api/history/1001/sat?limit=0"), 400, "limit")
    await _error(await client.get("/api/history/1001/sat?cursor=abc"), 400, "cursor")
    # Not ASCII digits, though str.isdigit() says they are (these were a 500).
    await _error(await client.get("/api/history/1001/sat?limit=%C2%B2"), 400, "limit")
    await _error(await client.get("/api/history/1001/sat?cursor=%C2%B2"), 400, "cursor")
    await _error(await client.get("/api/history/1001/sat?cursor=--5"), 400, "cursor")
    got = await _ok(await client.get(f"/api/history/1001/sat?start={START}&end={START + 10}"))
    assert [(s["ts_ms"], s["value"]) for s in got["samples"]] == [(START, 1.5)]
    removed = await _ok(
        await client.delete(f"/api/history/1001/sat?start={START}&end={START + 10}")
    )
    assert removed["removed"] == 1


async def test_persistence_config_get_put_and_hot_alias(
    services: Services, history: HistoryStore, client: Client
) -> None:
    listing = await _ok(await client.get("/api/persistence"))
    assert listing["default"] == "sqlite"
    config = await _ok(await client.get("/api/persistence/sqlite"))
    assert config["items"] == [{"points": ["*"], "strategies": ["everyChange", "restoreOnStartup"]}]

    persist = 'Items { * : strategy = everyUpdate }\nAliases { 1001/sat -> "supply" }'
    put = await _ok(
        await client.put(
            "/api/persistence/sqlite", data=persist, headers={"Content-Type": PERSIST_TEXT}
        )
    )
    assert put["aliases"] == {"1001/sat": "supply"}
    assert put["source"] == "api"
    text = await (await client.get("/api/persistence/sqlite?format=persist")).get_data(as_text=True)
    assert 'Aliases {\n    1001/sat -> "supply"\n}' in text
    await _error(await client.get("/api/persistence/sqlite?format=yaml"), 400, "format")
    assert (services.settings.data_dir / "persistence" / "sqlite.json").is_file()
    # The alias is applied by the routes: stored as "supply", read back as 1001/sat.
    await _ok(await client.put("/api/history/1001/sat", json={"value": 9.0, "time": START}))
    assert [s.point_id for s in (await history.last_states()).values()] == ["supply"]
    got = await _ok(await client.get(f"/api/history/1001/sat?start={START}&end={START}"))
    assert got["samples"][0]["point_id"] == "1001/sat"

    # Bad configurations are refused with file/line/token, and the old one stays.
    error = await _error(
        await client.put(
            "/api/persistence/sqlite",
            data="Items {\n * : strategy = hourly\n}",
            headers={"Content-Type": PERSIST_TEXT},
        ),
        400,
        "request body:2 [hourly]",
        "unknown strategy",
    )
    assert error["code"] == "config_error"
    await _error(
        await client.put("/api/persistence/sqlite", json={"items": [{"points": ["*"]}]}), 400
    )
    await _error(await client.put("/api/persistence/sqlite", json={"persist": "/etc/passwd"}), 400)
    await _error(await client.put("/api/persistence/sqlite", json={"kind": "memory"}), 409)
    await _error(await client.put("/api/persistence/archive", json={}), 404)
    still = await _ok(await client.get("/api/persistence/sqlite"))
    assert still["aliases"] == {"1001/sat": "supply"}

    json_put = await _ok(
        await client.put(
            "/api/persistence/sqlite",
            json={"items": [{"points": ["1001*"], "strategies": ["everyChange"]}]},
        )
    )
    assert json_put["aliases"] == {}
    health = await _ok(await client.get("/api/persistence/health"))
    assert health["services"]["sqlite"]["kind"] == "sqlite"
    assert health["config_version"] == 2


async def test_values_take_the_points_kind(
    services: Services, history: HistoryStore, client: Client
) -> None:
    await _ok(await client.put("/api/history/1001/sat", json={"value": "21.5", "time": START}))
    await _ok(await client.put("/api/history/1001/fan", json={"value": 1, "time": START}))
    await _error(
        await client.put("/api/history/1001/sat", json={"value": "warm", "time": START + 1}), 400
    )
    (sat,) = await history.samples("1001/sat", 0, 2 * START)
    (fan,) = await history.samples("1001/fan", 0, 2 * START)
    assert (sat.value, fan.value) == (21.5, True)


async def test_delete_needs_start_and_end_and_says_which_is_missing(
    history: HistoryStore, client: Client
) -> None:
    await _ok(await client.put("/api/history/1001/sat", json={"value": 1.5, "time": START}))
    error = await _error(
        await client.delete(f"/api/history/1001/sat?end={START}"), 400, "missing 'start'"
    )
    assert error["detail"]["field"] == "start"
    error = await _error(
        await client.delete(f"/api/history/1001/sat?start={START}"), 400, "missing 'end'"
    )
    assert error["detail"]["field"] == "end"
    assert (await _ok(await client.get("/api/history/1001/sat?start=0")))["samples"]


async def test_a_rollup_page_sends_each_window_once(history: HistoryStore, client: Client) -> None:
    body = {
        "samples": [
            {"point_id": "1001/sat", "time": START + i * 60_000, "value": float(i)}
            for i in range(12)
        ]
    }
    assert (await _ok(await client.post("/api/history", json=body)))["stored"] == 12
    window = f"start={START}&end={START + 12 * 60_000}"
    page = await _ok(await client.get(f"/api/history/1001/sat?{window}&resolution=5m&limit=2"))
    assert page["resolution"] == "5m"
    assert page["samples"] == []  # the windows are in buckets only
    first = START - START % 300_000  # START is 200 s into its window: 2 samples there
    assert [(b["start_ms"], b["count"]) for b in page["buckets"]] == [
        (first, 2),
        (first + 300_000, 5),
    ]
    assert page["next_cursor"] is not None
    raw = await _ok(await client.get(f"/api/history/1001/sat?{window}&limit=3"))
    assert "buckets" not in raw
    assert [s["time"] for s in raw["samples"]] == [
        "2023-11-14T22:13:20.000Z", "2023-11-14T22:14:20.000Z", "2023-11-14T22:15:20.000Z",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "ts", [0, 1, 999, 3_599_999, 3_600_000, START + 123, -1, -3_600_001, 4_102_444_800_000]
)
def test_page_times_match_ms_to_iso(ts: int) -> None:
    assert iso_ms(ts) == ms_to_iso(ts)


async def test_openhab_parity_over_http(
    services: Services, history: HistoryStore, client: Client, clock: TrioClock
) -> None:
    now = clock.now_ms()  # the fixture's tree: 1001/sat is in °C
    series = {
        "samples": [
            {"time": now - 3_600_000, "value": 20.0},
            {"time": now - 600_000, "value": 24.0},
            {"time": now + 3_600_000, "value": 30.0},  # a forecast
        ]
    }
    stored = await _ok(await client.post("/api/history/1001/sat/timeseries", json=series))
    assert stored == {"point_id": "1001/sat", "service": "sqlite", "policy": "ADD", "stored": 3}

    avg = await _ok(await client.get("/api/history/1001/sat/averageSince?since=2h"))
    assert avg["unit"] == "°C"
    var = await _ok(await client.get("/api/history/1001/sat/varianceSince?since=2h"))
    assert var["unit"] == "°C²"
    # openHAB's: the boundary at now (24) plus the two samples around the weighted mean.
    mean = avg["result"]
    assert var["result"] == pytest.approx(((20 - mean) ** 2 + 2 * (24 - mean) ** 2) / 3, rel=1e-3)
    weighted = await _ok(
        await client.get("/api/history/1001/sat/varianceSince?since=2h&weighted=true")
    )
    assert weighted["result"] == pytest.approx(
        (50 * (20 - mean) ** 2 + 10 * (24 - mean) ** 2) / 60, rel=1e-2
    )
    dev = await _ok(await client.get("/api/history/1001/sat/deviationSince?since=2h"))
    assert (dev["unit"], dev["result"]) == ("°C", pytest.approx(var["result"] ** 0.5, rel=1e-3))
    energy = await _ok(await client.get("/api/history/1001/sat/riemannSumSince?since=2h"))
    assert energy["unit"] == "°C·s"
    count = await _ok(await client.get("/api/history/1001/sat/countSince?since=2h"))
    assert "unit" not in count

    # A Since in the future / an Until in the past: null, and why.
    future = await _ok(await client.get(f"/api/history/1001/sat/averageSince?since={now + 60_000}"))
    assert future["result"] is None
    assert "in the future" in future["reason"]
    past = await _ok(await client.get("/api/history/1001/sat/countUntil?until=1h"))
    assert (past["result"], "in the past" in past["reason"]) == (None, True)

    nxt = await _ok(await client.get("/api/history/1001/sat/nextState"))
    assert (nxt["result"]["value"], nxt["unit"]) == (30.0, "°C")

    # REPLACE drops what lay between the series' first and last time.
    replace = {"samples": [{"time": now - 3_000_000, "value": 21.0},
                           {"time": now - 60_000, "value": 22.0}], "policy": "replace"}  # fmt: skip
    await _ok(await client.post("/api/history/1001/sat/timeseries", json=replace))
    kept = await history.samples("1001/sat", 0, now + 7_200_000)
    assert [s.value for s in kept] == [20.0, 21.0, 22.0, 30.0]
    await _error(
        await client.post(
            "/api/history/1001/sat/timeseries", json={"samples": [], "policy": "MERGE"}
        ),
        400,
        "policy",
        "MERGE",
    )


async def test_unknown_points_are_404_and_a_batch_naming_one_stores_nothing(
    history: HistoryStore, client: Client
) -> None:
    for url in ("/api/history/nope/x", "/api/history/nope/x/averageSince?since=1h"):
        error = await _error(await client.get(url), 404, "no point 'nope/x' in the model")
        assert error["code"] == "not_found"
        assert error["detail"] == {"point_id": "nope/x", "service": "sqlite"}
    put = client.put("/api/history/nope/x", json={"value": 1.0, "time": START})
    await _error(await put, 404, "no point 'nope/x'")
    # A node that is not a point is no history target either.
    not_a_point = "'1001' is not a point (node type equip)"
    await _error(await client.get("/api/history/1001"), 404, not_a_point)
    # A misspelt extension reads as a longer point id: the message says both.
    await _error(
        await client.get("/api/history/1001/sat/averge?since=1h"),
        404,
        "no point '1001/sat/averge' in the model",
        "'averge' is not a persistence extension of '1001/sat'",
    )
    mixed = {
        "samples": [
            {"point_id": "1001/sat", "time": START, "value": 1.0},
            {"point_id": "nope/x", "time": START + 1, "value": 2.0},
        ]
    }
    error = await _error(
        await client.post("/api/history", json=mixed),
        400,
        "samples[1].point_id: no point 'nope/x' in the model",
    )
    assert error["detail"] == {"field": "samples[1].point_id", "point_id": "nope/x"}
    # All or nothing: the known point's sample is not stored either.
    assert await history.samples("1001/sat", 0, 2 * START) == []
    assert await history.samples("nope/x", 0, 2 * START) == []
    # A dry run checks the same way and stores nothing even when every sample is good.
    await _error(await client.post("/api/history", json={**mixed, "dry_run": True}), 400, "nope/x")
    good = {"samples": mixed["samples"][:1], "dry_run": True}
    assert await _ok(await client.post("/api/history", json=good)) == {
        "service": "sqlite",
        "stored": 0,
        "checked": 1,
    }
    assert await history.samples("1001/sat", 0, 2 * START) == []
    # DELETE takes any id: it is how history left by a deleted point is removed.
    gone = await _ok(await client.delete(f"/api/history/nope/x?start=0&end={START}"))
    assert gone["removed"] == 0


async def test_a_service_with_accept_unknown_points_stores_and_answers_foreign_ids(
    tmp_path: Path, clock: TrioClock
) -> None:
    # The multi-site case: a shared service holds points of other sites' models.
    everything = [{"points": ["*"], "strategies": ["everyChange"]}]
    persistence = {
        "services": {
            "sqlite": {"items": everything},
            "shared": {"kind": "memory", "accept_unknown_points": True, "items": everything},
        }
    }
    async with running_services(
        tmp_path / "data", clock, sections={"persistence": persistence}
    ) as services:
        app = create_app(services)
        check_answers(app)
        client = client_with_token(app, (await role_tokens(services))[Role.ADMIN])
        batch = {"samples": [{"point_id": "site-b/x", "time": START, "value": 1.5}]}
        await _error(await client.post("/api/history", json=batch), 400, "'site-b/x'")
        stored = await _ok(await client.post("/api/history", json={**batch, "service": "shared"}))
        assert stored["stored"] == 1
        page = await _ok(
            await client.get(f"/api/history/site-b/x?service=shared&start=0&end={START}")
        )
        assert [(s["ts_ms"], s["value"]) for s in page["samples"]] == [(START, 1.5)]
        await _error(await client.get("/api/history/site-b/x"), 404, "no point 'site-b/x'")
        config = await _ok(await client.get("/api/persistence/shared"))
        assert config["accept_unknown_points"] is True
        assert "accept_unknown_points" not in await _ok(await client.get("/api/persistence/sqlite"))
        assert not violations(app)


def test_accept_unknown_points_is_a_boolean() -> None:
    with pytest.raises(ConfigError, match="accept_unknown_points must be bool, got 1"):
        parse_config_mapping({"services": {"sqlite": {"accept_unknown_points": 1}}})
    config = parse_config_mapping({"services": {"sqlite": {"accept_unknown_points": False}}})
    (sqlite,) = config.services
    assert sqlite.options == {"accept_unknown_points": False}
