"""The operator page: served files, and a page that cannot drift from the API.

* ``/`` redirects to ``/ui/``; the HTML names its script and style, which are
  served with their content types (and nothing else from the directory is);
* every ``/api/...`` path in ``app.js`` is a route of the real app, and the
  routes answer the exact queries the page sends with the fields it reads;
* the chart maths in ``app.js`` (round tick steps, local-time ticks across a
  DST change, downsampling for drawing) run under node, when node is there.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import shutil
import subprocess
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from quart.typing import TestClientProtocol as Client
from quart_trio import QuartTrio
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.exceptions import NotFound as RouteNotFound
from werkzeug.routing.exceptions import WebsocketMismatch

from opencrate.api.routes.ui import ASSETS, STATIC_DIR
from opencrate.app import Services
from opencrate.components.bacnet.records import DiscoveredPoint
from opencrate.components.bacnet.store import DiscoveryStore
from opencrate.runtime.events import EVENT_TYPES
from tests.harness import build_tree

APP_JS = (STATIC_DIR / "app.js").read_text(encoding="utf-8")


class _Refs(HTMLParser):
    """The ``src`` of scripts and ``href`` of stylesheets in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.styles: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script" and found.get("src"):
            self.scripts.append(str(found["src"]))
        if tag == "link" and found.get("rel") == "stylesheet":
            self.styles.append(str(found["href"]))


# -- serving ------------------------------------------------------------------------


async def test_root_redirects_to_the_page(client: Client) -> None:
    response = await client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/ui/"


async def test_the_page_references_its_script_and_style(client: Client) -> None:
    response = await client.get("/ui/")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    # Nothing from another origin: plant rooms have no internet.
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    refs = _Refs()
    refs.feed(await response.get_data(as_text=True))
    assert refs.scripts == ["app.js"]
    assert refs.styles == ["app.css"]
    for ref in refs.scripts + refs.styles:  # relative, so they resolve under /ui/
        assert (await client.get(f"/ui/{ref}")).status_code == 200


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("app.js", "text/javascript; charset=utf-8"), ("app.css", "text/css; charset=utf-8")],
)
async def test_assets_are_served_with_their_content_types(
    client: Client, name: str, content_type: str
) -> None:
    response = await client.get(f"/ui/{name}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert await response.get_data() == (STATIC_DIR / name).read_bytes()
    # Revalidation is a cheap 304, and a changed file gets a new ETag.
    etag = response.headers["ETag"]
    again = await client.get(f"/ui/{name}", headers={"If-None-Match": etag})
    assert again.status_code == 304


async def test_only_the_page_files_are_served(client: Client) -> None:
    assert set(ASSETS) == {"index.html", "app.js", "app.css", "docs.html", "docs.js"}
    for name in ("ui.py", "..%2Fapp.py", "missing.js"):
        response = await client.get(f"/ui/{name}")
        assert response.status_code == 404, name
        assert (await response.get_json())["error"]["code"] == "not_found"
    # The API keeps its prefix: the page did not take over /api.
    assert (await client.get("/api/health")).status_code == 200


# -- the page matches the API -------------------------------------------------------


def _js_api_paths() -> set[str]:
    """Every ``/api/...`` path written in app.js (up to a quote, ``?`` or ``${``)."""
    return set(re.findall(r"""["'`](/api/[A-Za-z0-9_./-]*)""", APP_JS))


async def test_every_api_path_in_the_script_is_a_route(app: QuartTrio) -> None:
    paths = _js_api_paths()
    # The parser must find what the page uses, or the check below proves nothing.
    assert {"/api/health", "/api/nodes", "/api/history/", "/api/alarms", "/api/ws"} <= paths
    assert {"/api/me", "/api/login", "/api/logout"} <= paths
    assert {"/api/discovery/scan", "/api/discovery/devices"} <= paths
    adapter = app.url_map.bind("localhost")
    for path in sorted(paths):
        # A path ending in "/" is followed by a node id (which contains "/").
        concrete = path + "1001/analog-input-1" if path.endswith("/") else path
        try:
            endpoint, _ = adapter.match(concrete, method="GET")
        except MethodNotAllowed:  # a write: login, logout
            endpoint, _ = adapter.match(concrete, method="POST")
        except WebsocketMismatch:
            endpoint, _ = adapter.match(concrete, method="GET", websocket=True)
        except RouteNotFound:
            pytest.fail(f"app.js calls {path!r}, which no route of the app serves")
        assert not endpoint.startswith("ui."), path


def test_every_element_the_script_looks_up_is_in_the_page() -> None:
    ids_used = set(re.findall(r'\$\("([\w-]+)"\)', APP_JS))
    assert {"tree", "chart", "legend", "health", "live", "lag-notice", "alarms-panel"} <= ids_used
    assert {"discovery-panel", "discovery-rows", "discovery-scan", "discovery-parent"} <= ids_used
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    ids_in_page = set(re.findall(r'\bid="([\w-]+)"', html))
    # "readout" is created by the script itself when the mouse first hovers the chart.
    missing = ids_used - ids_in_page - {"readout"}
    assert not missing, f"app.js looks up elements index.html does not have: {sorted(missing)}"


def test_the_live_stream_asks_for_real_event_types() -> None:
    found = re.search(r'const LIVE_TYPES = "([^"]+)"', APP_JS)
    assert found is not None
    types = found.group(1).split(",")
    assert types == [
        "ValueChanged", "StatusChanged", "AlarmRaised", "AlarmCleared",
        "DiscoveryScanComplete", "DeviceAccepted", "ObjectListChanged",
    ]  # fmt: skip
    assert set(types) <= set(EVENT_TYPES)


async def test_the_routes_answer_what_the_page_sends_with_what_it_reads(
    client: Client, services: Services
) -> None:
    await build_tree(services)
    health = await (await client.get("/api/health")).get_json()
    assert {"status", "level"} <= set(health)

    tree = await (await client.get("/api/nodes?view=tree")).get_json()
    (site,) = tree["items"]
    assert {"id", "dis", "node_type", "children"} <= set(site)
    nodes = {node["id"]: node for node in _walk(site)}
    point = nodes["1001/sat"]
    assert point["node_type"] == "point"
    assert {"id", "dis", "unit", "kind", "tags"} <= set(point)

    alarms = await client.get("/api/alarms?limit=500")
    assert alarms.status_code == 200
    assert (await alarms.get_json())["items"] == []

    now = services.clock.now_ms()
    put = await client.put(f"/api/history/{point['id']}", json={"value": 21.5, "time": now})
    assert put.status_code == 200, await put.get_data(as_text=True)
    query = f"start={now - 3_600_000}&end={now + 1}&resolution=auto&limit=10000"
    response = await client.get(f"/api/history/{point['id']}?{query}")
    assert response.status_code == 200, await response.get_data(as_text=True)
    body = await response.get_json()
    assert body["resolution"] == "raw"
    assert body["next_cursor"] is None
    assert [(s["ts_ms"], s["value"]) for s in body["samples"]] == [(now, 21.5)]


async def test_the_discovery_routes_answer_what_the_panel_sends_with_what_it_reads(
    client: Client, services: Services
) -> None:
    store = services.get(DiscoveryStore)
    await store.record_i_am(3001, address="10.0.0.5", vendor_id=15)
    await store.describe("3001", vendor_name="Acme", model_name="VAV-9", device_name="VAV 3001")
    point = DiscoveredPoint(
        device_key="3001", object_type="analog-input", object_instance=1,
        object_name="Zone Temp", units="degrees-celsius", present_value=21.5, writable=False,
    )  # fmt: skip
    await store.replace_points("3001", [point], object_count=2)

    listing = await (await client.get("/api/discovery/devices")).get_json()
    (device,) = listing["items"]
    read = {"device_key", "state", "address", "device_name", "vendor_name", "vendor_id"}
    assert read | {"model_name", "object_count", "object_list_stale"} <= set(device)
    assert (device["state"], device["object_count"], device["object_list_stale"]) == (
        "discovered",
        2,
        False,
    )
    detail = await (await client.get("/api/discovery/devices/3001")).get_json()
    (obj,) = detail["points"]
    read = {"object_type", "object_instance", "object_name", "description", "units"}
    assert read | {"present_value", "writable"} <= set(obj)

    # Without a running bridge, scan and accept fail with a message the panel shows.
    for path, sent in (("/api/discovery/scan", {}), ("/api/discovery/devices/3001/accept", {})):
        refused = await client.post(path, json=sent)
        assert refused.status_code == 409, path
        assert "BACnet bridge is not running" in (await refused.get_json())["error"]["message"]

    ignored = await client.post("/api/discovery/devices/3001/ignore", json={})
    assert ignored.status_code == 200
    assert (await ignored.get_json())["state"] == "ignored"
    assert (await (await client.get("/api/discovery/devices")).get_json())["items"] == []
    shown = await client.get("/api/discovery/devices?include_ignored=true")
    assert [d["device_key"] for d in (await shown.get_json())["items"]] == ["3001"]


def _walk(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(n for child in node["children"] for n in _walk(child))]


# -- chart maths under node ---------------------------------------------------------

NODE = shutil.which("node")
BERLIN = ZoneInfo("Europe/Berlin")

_RUNNER = """
const maths = require(process.argv[1]);
const calls = JSON.parse(require("fs").readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(calls.map(([name, ...args]) => maths[name](...args))));
"""


def run_maths(*calls: list[Any]) -> list[Any]:
    """Call ChartMath functions of app.js under node (in Berlin time); their results."""
    if NODE is None:
        pytest.skip("node is not installed")
    done = subprocess.run(
        [NODE, "-e", _RUNNER, str(STATIC_DIR / "app.js")],
        input=json.dumps(calls),
        capture_output=True,
        text=True,
        timeout=30,
        env={"TZ": "Europe/Berlin", "PATH": "/usr/bin:/bin"},
        check=True,
    )
    results: list[Any] = json.loads(done.stdout)
    return results


def _mantissa(step: float) -> float:
    exponent = 0
    while step >= 10:
        step, exponent = step / 10, exponent + 1
    while step < 1:
        step, exponent = step * 10, exponent - 1
    return round(step, 6)


def test_nice_steps_are_one_two_five_and_the_smallest_that_fits() -> None:
    rng = random.Random(7)
    cases = [(10 ** rng.uniform(-3, 7), rng.randint(2, 12)) for _ in range(300)]
    steps = run_maths(*(["niceStep", span, ticks] for span, ticks in cases))
    for (span, ticks), step in zip(cases, steps, strict=True):
        mantissa = _mantissa(step)
        assert mantissa in (1, 2, 5), (span, ticks, step)
        assert span / step <= ticks * (1 + 1e-9), (span, ticks, step)
        smaller = step / 2.5 if mantissa == 5 else step / 2  # the nice step below
        assert span / smaller > ticks, (span, ticks, step)


def test_nice_scales_cover_the_data_on_round_ticks() -> None:
    ranges = [(13.2, 22.9), (-3.7, 12.1), (0.0012, 0.0047), (125_000, 125_900), (5, 5), (0, 0)]
    scales = run_maths(*(["niceScale", lo, hi, 6] for lo, hi in ranges))
    assert scales[0] == {"lo": 12, "hi": 24, "step": 2, "ticks": [12, 14, 16, 18, 20, 22, 24]}
    for (lo, hi), scale in zip(ranges, scales, strict=True):
        ticks, step = scale["ticks"], scale["step"]
        assert ticks[0] <= lo, (lo, hi, scale)
        assert ticks[-1] >= hi, (lo, hi, scale)
        assert ticks[-1] > ticks[0], "a flat range is widened"
        assert len(ticks) <= 6 + 2
        for a, b in itertools.pairwise(ticks):
            assert b - a == pytest.approx(step)
        for tick in ticks:  # printed without float noise (0.30000000000000004)
            assert tick == round(tick / step) * step or tick == pytest.approx(
                round(tick / step) * step, abs=step * 1e-9
            )
            assert len(repr(tick)) <= 12, tick
    labels = run_maths(
        ["formatTick", 0.3, 0.1], ["formatTick", 12, 2], ["formatTick", 0.0025, 0.0005]
    )
    assert labels == ["0.3", "12", "0.0025"]


def _berlin_ms(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, second, tzinfo=BERLIN).timestamp() * 1000)


def _local(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(BERLIN)


@pytest.mark.parametrize("day", [(10, 24), (3, 28)], ids=["clocks-go-back", "clocks-go-forward"])
def test_hour_ticks_stay_on_round_local_hours_across_a_dst_change(day: tuple[int, int]) -> None:
    t0 = _berlin_ms(2026, *day, 12, 17)
    t1 = t0 + 86_400_000
    (result,) = run_maths(["timeTicks", t0, t1, 8])
    step, ticks = result["step"], result["ticks"]
    assert (step["unit"], step["count"]) == ("h", 3)
    local = [_local(t) for t in ticks]
    assert all(t.hour % 3 == 0 and t.minute == 0 and t.second == 0 for t in local), local
    assert all(t0 <= t <= t1 for t in ticks)
    gaps = {b - a for a, b in itertools.pairwise(ticks)}
    assert len(gaps) == 2, "one gap is an hour longer or shorter: the DST change"
    assert _local(ticks[0]).hour == 15


def test_ticks_for_each_range_button() -> None:
    t1 = _berlin_ms(2026, 11, 23, 4, 43, 12)
    hour, six, day, week = run_maths(
        *(
            ["timeTicks", t1 - span, t1, 8]
            for span in (3_600_000, 21_600_000, 86_400_000, 604_800_000)
        )
    )
    assert (hour["step"]["unit"], hour["step"]["count"]) == ("m", 10)
    assert [(_local(t).minute, _local(t).second) for t in hour["ticks"]][:2] == [(50, 0), (0, 0)]
    assert (six["step"]["unit"], six["step"]["count"]) == ("h", 1)
    assert day["step"]["count"] == 3
    assert week["step"]["unit"] == "d"
    assert all(_local(t).hour == 0 and _local(t).minute == 0 for t in week["ticks"])
    assert len(week["ticks"]) == 7
    labels = run_maths(
        ["formatTimeTick", week["ticks"][0], week["step"]],
        ["formatTimeTick", hour["ticks"][0], hour["step"]],
        ["formatTimeTick", _berlin_ms(2026, 11, 23, 4, 43, 15), {"unit": "s", "count": 5}],
    )
    assert labels == ["Tue 17 Nov", "03:50", "04:43:15"]


def test_downsampling_keeps_every_peak_in_order() -> None:
    rng = random.Random(3)
    points = [{"t": i * 1000, "v": rng.gauss(20, 1)} for i in range(20_000)]
    points[12_345]["v"] = 99.0  # a spike one pixel column wide
    points[777]["v"] = -50.0
    small = points[:300]
    drawn, untouched = run_maths(
        ["downsample", points, 0, 20_000_000, 400], ["downsample", small, 0, 300_000, 400]
    )
    assert untouched == small
    assert len(drawn) <= 4 * 400
    assert {"t": 12_345_000, "v": 99.0} in drawn
    assert {"t": 777_000, "v": -50.0} in drawn
    times = [p["t"] for p in drawn]
    assert times == sorted(set(times))
    assert (drawn[0], drawn[-1]) == (points[0], points[-1])
    by_time = {p["t"]: p["v"] for p in points}
    assert all(by_time[p["t"]] == p["v"] for p in drawn), "only real samples are drawn"


def test_band_columns_keep_the_extremes_of_every_window() -> None:
    rng = random.Random(5)
    windows = []
    for i in range(2016):  # a week of 5-minute windows
        mean = 30 + rng.uniform(-5, 5)
        windows.append({"t": i * 300_000 + 150_000, "min": mean - rng.random(), "max": mean + 1})
    windows[1000]["max"] = 80.0
    merged, few = run_maths(
        ["bandColumns", windows, 0, 2016 * 300_000, 600],
        ["bandColumns", windows[:100], 0, 100 * 300_000, 600],
    )
    assert few == windows[:100]
    assert len(merged) <= 600
    assert max(c["max"] for c in merged) == 80.0
    assert min(c["min"] for c in merged) == min(w["min"] for w in windows)
    # Each column is exactly the windows whose time falls in its pixel.
    width = 2016 * 300_000 / 600
    columns: dict[int, list[dict[str, float]]] = {}
    for w in windows:
        columns.setdefault(int(w["t"] // width), []).append(w)
    expected = [
        (sum(w["t"] for w in ws) / len(ws), min(w["min"] for w in ws), max(w["max"] for w in ws))
        for _, ws in sorted(columns.items())
    ]
    got = [(c["t"], c["min"], c["max"]) for c in merged]
    assert len(got) == len(expected)
    for column, want in zip(got, expected, strict=True):
        assert column == pytest.approx(want)


def test_nearest_index_and_value_formatting() -> None:
    points = [{"t": t, "v": 0} for t in (0, 10, 20, 40)]
    results = run_maths(
        ["nearestIndex", points, -5],
        ["nearestIndex", points, 14],
        ["nearestIndex", points, 16],
        ["nearestIndex", points, 31],
        ["nearestIndex", points, 99],
        ["nearestIndex", [], 5],
        ["formatValue", 13.544, "number"],
        ["formatValue", 258.0, "number"],
        ["formatValue", 125_000.0, "number"],
        ["formatValue", 0.9543, "number"],
        ["formatValue", True, "bool"],
        ["formatValue", 0, "bool"],
        ["formatValue", None, "number"],
        ["formatValue", 2, "enum"],
    )
    assert results == [
        0, 1, 2, 3, 3, -1,
        "13.54", "258", "125\u202f000", "0.954", "On", "Off", "\u2013", "2",
    ]  # fmt: skip
