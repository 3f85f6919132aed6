"""The operator page in a real headless browser against a real server.

Skipped without chromium, or failed when ``OPENCRATE_REQUIRE_SERVICES=1`` (as
in CI, whose ``.ci/run`` installs it).

``test_ui.py`` checks the files and the API contract; this one checks that the
script actually runs: the tree is built with live values, the trend of the
point named in the address is drawn from its history, the open alarm is
listed and the header shows the server's health.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import trio
from bacpypes3.local.analog import AnalogInputObject, AnalogOutputObject

from opencrate.app import Services
from opencrate.clock import TrioClock
from opencrate.components.alarms.store import AlarmStore
from opencrate.components.audit.store import AuditStore
from opencrate.components.bacnet.bridge import BacnetBridge
from opencrate.components.bacnet.records import DeviceState
from opencrate.components.bacnet.store import DiscoveryStore
from opencrate.components.history.service import Sample
from opencrate.components.history.setup import Persistence
from opencrate.components.nodes.store import NodeStore
from opencrate.components.points.store import PointStore
from opencrate.components.users.auth import LOGIN_FAILED, Authenticator
from opencrate.components.users.roles import Role
from tests.api.browser import Browser, open_browser
from tests.components.bacnet.conftest import bacpypes_device, free_udp_port
from tests.conftest import require_program
from tests.harness import TEST_PASSWORD, build_tree, running_services, serving

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(autouse=True)
def chromium() -> str:
    """The browser's path; skips or fails (see ``require_program``) before any server starts."""
    return require_program("chromium", CHROMIUM)


class _Page(HTMLParser):
    """What a test needs from the rendered DOM: texts by class, attributes by id."""

    def __init__(self) -> None:
        super().__init__()
        self.by_id: dict[str, dict[str, str | None]] = {}
        self.texts: dict[str, list[str]] = {}
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._open: list[list[str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append((tag, found))
        if found.get("id"):
            self.by_id[str(found["id"])] = found
        classes = (found.get("class") or "").split()
        self._open.append(classes)

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if self._open and data.strip():
            for name in self._open[-1]:
                self.texts.setdefault(name, []).append(data.strip())


def _has_class(attrs: dict[str, str | None], name: str) -> bool:
    return name in (attrs.get("class") or "").split()


@pytest.fixture
async def page_url(services: Services) -> AsyncIterator[str]:
    """A live server on 127.0.0.1 for ``services`` (whose stores already run); its base URL."""
    async with serving(services) as url:
        yield url


_LOGIN_SHOWN = "!document.getElementById('login').hidden"


async def _log_in(browser: Browser, user: str, password: str) -> None:
    """Type into the page's login form and submit it, as a person would."""
    await browser.evaluate(
        f"document.getElementById('login-user').value = {json.dumps(user)};"
        f"document.getElementById('login-password').value = {json.dumps(password)};"
        "document.getElementById('login-form').requestSubmit(); true"
    )


async def test_an_operator_logs_in_sees_the_building_and_acknowledges_an_alarm(
    services: Services, page_url: str, chromium: str
) -> None:
    await build_tree(services)
    await services.get(Authenticator).add_user("olivia", Role.OPERATOR, TEST_PASSWORD)
    # The browser charts the last hours of its own clock: real timestamps.
    now = int(time.time() * 1000)
    (history,) = services.get(Persistence).history
    samples = [
        Sample(point_id="1001/sat", ts_ms=now - i * 60_000, value=13 + i / 10) for i in range(30)
    ]
    await history.store(samples)
    services.get(PointStore).set("1001/sat", 13.2)
    services.get(PointStore).set("1001/fan", True)
    alarm = await services.get(AlarmStore).raise_alarm("2001/zat", "high", "major", "Zone too warm")

    async with open_browser(chromium) as browser:
        await browser.goto(f"{page_url}/ui/#range=1h&points=1001/sat")
        # Nobody is logged in: the form, and nothing of the building behind it.
        await browser.wait_for(_LOGIN_SHOWN)
        assert await browser.evaluate("document.querySelectorAll('.point').length") == 0
        await browser.wait_for("document.getElementById('health').dataset.state !== 'unknown'")

        await _log_in(browser, "olivia", "not her password")
        await browser.wait_for("!document.getElementById('login-error').hidden")
        shown = await browser.evaluate("document.getElementById('login-error').textContent")
        assert shown == LOGIN_FAILED

        await _log_in(browser, "olivia", TEST_PASSWORD)
        await browser.wait_for(
            "document.getElementById('login').hidden"
            " && document.querySelectorAll('.point').length === 3"
            " && document.querySelector('path.line')"
            " && document.querySelector('.alarm-message')"
            " && document.getElementById('live').dataset.state === 'ok'"
        )
        page = _Page()
        page.feed(await browser.html())

        # Acknowledge from the page: the server takes the user from the session.
        await browser.evaluate("document.querySelector('.alarm .ack').click(); true")
        await browser.wait_for("document.querySelector('.alarm .ack') === null")

    points = [str(attrs.get("data-id")) for _, attrs in page.tags if _has_class(attrs, "point")]
    assert sorted(points) == ["1001/fan", "1001/sat", "2001/zat"]
    assert "13.2 °C" in page.texts["value"]
    assert "On" in page.texts["value"]
    assert page.texts["chip-name"] == ["AHU-1 Supply Air Temp"]
    paths = [attrs for tag, attrs in page.tags if tag == "path" and _has_class(attrs, "line")]
    assert len(paths) == 1
    assert (paths[0].get("d") or "").count("L") >= 29, "one segment per sample"
    assert page.texts["alarm-message"] == ["Zone too warm"]
    assert page.texts["severity"] == ["major"]
    assert page.texts["ack"] == ["Acknowledge"]
    assert page.by_id["alarms-panel"].get("hidden") is None
    assert page.texts["who-name"] == ["olivia · operator"]
    # The fixture's supervisor never starts, so the server reports level 0.
    assert page.by_id["health"].get("data-state") == "starting"
    assert page.texts["pill"][0] == "starting · level 0"
    assert page.by_id["live"].get("data-state") == "ok"

    acked = await services.get(AlarmStore).get(alarm.id)
    assert acked.acked_by == "olivia"
    (entry,) = [e for e in await services.get(AuditStore).tail(limit=10) if e.action == "alarm.ack"]
    assert entry.user == "olivia"


async def test_a_viewer_sees_no_acknowledge_button(
    services: Services, page_url: str, chromium: str
) -> None:
    await build_tree(services)
    await services.get(Authenticator).add_user("vera", Role.VIEWER, TEST_PASSWORD)
    await services.get(AlarmStore).raise_alarm("2001/zat", "high", "major", "Zone too warm")
    await services.get(DiscoveryStore).record_i_am(3001, address="10.0.0.5")
    async with open_browser(chromium) as browser:
        await browser.goto(f"{page_url}/ui/")
        await browser.wait_for(_LOGIN_SHOWN)
        await _log_in(browser, "vera", TEST_PASSWORD)
        await browser.wait_for(
            "document.querySelector('.alarm-message')"
            " && document.querySelector('#discovery-rows tr.device')"
        )
        assert await browser.evaluate("document.querySelectorAll('.alarm .ack').length") == 0
        # She sees what discovery found, but may neither scan nor accept.
        assert await browser.evaluate("document.getElementById('discovery-scan').hidden")
        assert await browser.evaluate("document.getElementById('discovery-parent-label').hidden")
        assert (
            await browser.evaluate("document.querySelectorAll('#discovery-rows button').length")
            == 0
        )
        assert await browser.evaluate("document.getElementById('who-name').textContent") == (
            "vera · viewer"
        )


# -- the discovery panel ----------------------------------------------------------------

_DEVICE = "#discovery-rows tr.device[data-key='3001']"


def _device_objects() -> list[Any]:
    return [
        AnalogInputObject(
            objectIdentifier=("analog-input", 1), objectName="Zone Temp", presentValue=21.5,
            statusFlags=[0, 0, 0, 0], eventState="normal", outOfService=False,
            units="degrees-celsius", covIncrement=0.1,
        ),
        AnalogOutputObject(
            objectIdentifier=("analog-output", 1), objectName="Damper Cmd", presentValue=0.0,
            statusFlags=[0, 0, 0, 0], eventState="normal", outOfService=False,
            units="percent", relinquishDefault=0.0, covIncrement=0.1,
        ),
    ]  # fmt: skip


async def test_an_admin_scans_looks_at_a_device_and_accepts_it_into_a_floor(
    tmp_path: Path, chromium: str
) -> None:
    # A server with a running BACnet bridge and a bacpypes3 device on loopback, found by
    # the directed Who-Is a scan sends to each configured device. No start-up scan: the
    # page's Scan button finds it. Real clock: the bridge waits on real sockets.
    device_port = free_udp_port()
    bacnet = {
        "address": f"127.0.0.1:{free_udp_port()}", "scan_on_start": False,
        "timeout": "500ms", "retries": 1, "scan_timeout": "500ms",
        "device": [{"instance": 3001, "address": f"127.0.0.1:{device_port}"}],
    }  # fmt: skip
    async with (
        bacpypes_device(3001, device_port, _device_objects()),
        running_services(tmp_path / "data", TrioClock(), sections={"bacnet": bacnet}) as services,
        trio.open_nursery() as nursery,
    ):
        bridge = services.get(BacnetBridge)
        await nursery.start(bridge.run)
        await build_tree(services)
        await services.get(Authenticator).add_user("ada", Role.ADMIN, TEST_PASSWORD)
        async with serving(services) as url, open_browser(chromium) as browser:
            await browser.goto(f"{url}/ui/")
            await browser.wait_for(_LOGIN_SHOWN)
            await _log_in(browser, "ada", TEST_PASSWORD)
            await browser.wait_for(
                "!document.getElementById('discovery-panel').hidden"
                " && document.querySelector('#discovery-rows td.muted')"
                " && document.querySelectorAll('#discovery-parent option').length === 4"
            )
            empty = await browser.evaluate("document.querySelector('#discovery-rows').textContent")
            assert empty == "No devices discovered yet: press Scan."

            # The click shows at once that a scan runs (the handler sets it before it awaits).
            clicked = await browser.evaluate(
                "(() => { const b = document.getElementById('discovery-scan'); b.click();"
                " return [b.textContent, b.disabled,"
                " document.getElementById('discovery-status').textContent]; })()"
            )
            assert clicked == ["Scanning…", True, "Scanning…"]
            await browser.wait_for(
                f"document.querySelector({json.dumps(_DEVICE)})"
                " && !document.getElementById('discovery-scan').disabled",
                timeout_s=30,
            )
            status = await browser.evaluate(
                "document.getElementById('discovery-status').textContent"
            )
            # "New: 3001." only when the scan's answer lists it in new_devices (the I-Am
            # intake may record the device first).
            pattern = r"Scan found 1 device and 2 point objects in [\d.]+ s\.( New: 3001\.)?"
            assert re.fullmatch(pattern, status), status
            cells = await browser.evaluate(
                f"[...document.querySelector({json.dumps(_DEVICE)}).cells]"
                ".map((c) => c.textContent)"
            )
            assert cells[1:4] == ["3001", "Discovered", f"127.0.0.1:{device_port}"]
            assert cells[4] == "device 3001"
            assert cells[7] == "4"  # the object list: device, network port and two points
            assert cells[8] == "AcceptIgnore"

            # A click on the row shows its point objects.
            await browser.evaluate(f"document.querySelector({json.dumps(_DEVICE)}).click(); true")
            await browser.wait_for("document.querySelectorAll('tr.object').length === 2")
            objects = await browser.evaluate(
                "[...document.querySelectorAll('tr.object')]"
                ".map((r) => [...r.cells].map((c) => c.textContent))"
            )
            assert objects == [
                ["analog-input-1", "Zone Temp", "", "degrees-celsius", "21.5", "no"],
                ["analog-output-1", "Damper Cmd", "", "percent", "0", "yes"],
            ]

            # Accept it into Floor 1: the tree shows the new equipment's points.
            await browser.evaluate(
                "document.getElementById('discovery-parent').value = 'floor-1';"
                f"document.querySelector({json.dumps(_DEVICE)} + ' .accept').click(); true"
            )
            await browser.wait_for(
                f"document.querySelector({json.dumps(_DEVICE)}).dataset.state === 'accepted'"
                " && document.querySelector(\".point[data-id='3001/analog-input-1']\")",
                timeout_s=30,
            )
            status = await browser.evaluate(
                "document.getElementById('discovery-status').textContent"
            )
            assert status.startswith("Accepted 3001: 3 nodes created, ")
            assert (
                await browser.evaluate(
                    f"document.querySelectorAll({json.dumps(_DEVICE)} + ' button').length"
                )
                == 0
            )
            assert await browser.evaluate("document.getElementById('discovery-error').hidden")

        device = await services.get(DiscoveryStore).get("3001")
        assert device.state is DeviceState.ACCEPTED
        equip = services.get(NodeStore).get("3001")
        assert equip.parent_id == "floor-1"
        audited = [e.action for e in await services.get(AuditStore).tail(limit=10)]
        assert {"discovery.scan", "discovery.accept"} <= set(audited)
        nursery.cancel_scope.cancel()


async def test_an_operator_may_scan_but_not_accept_and_sees_why_a_scan_failed(
    services: Services, page_url: str, chromium: str
) -> None:
    # No BACnet bridge runs: the scan is refused with the API's message.
    await services.get(Authenticator).add_user("olivia", Role.OPERATOR, TEST_PASSWORD)
    await services.get(DiscoveryStore).record_i_am(3001, address="10.0.0.5")
    async with open_browser(chromium) as browser:
        await browser.goto(f"{page_url}/ui/")
        await browser.wait_for(_LOGIN_SHOWN)
        await _log_in(browser, "olivia", TEST_PASSWORD)
        await browser.wait_for(
            f"document.querySelector({json.dumps(_DEVICE)})"
            " && !document.getElementById('discovery-scan').hidden"
        )
        assert await browser.evaluate("document.getElementById('discovery-parent-label').hidden")
        assert (
            await browser.evaluate("document.querySelectorAll('#discovery-rows button').length")
            == 0
        )
        await browser.evaluate("document.getElementById('discovery-scan').click(); true")
        await browser.wait_for("!document.getElementById('discovery-error').hidden")
        shown = await browser.evaluate("document.getElementById('discovery-error').textContent")
        assert shown.startswith("Scan failed: the BACnet bridge is not running")
        assert await browser.evaluate("document.getElementById('discovery-status').hidden")
        assert await browser.evaluate("document.getElementById('discovery-scan').textContent") == (
            "Scan"
        )


async def test_an_admin_sees_a_stale_device_and_why_accepting_it_again_failed(
    services: Services, page_url: str, chromium: str
) -> None:
    # An accepted device whose object list changed; no bridge runs, so the accept is refused.
    await services.get(Authenticator).add_user("ada", Role.ADMIN, TEST_PASSWORD)
    store = services.get(DiscoveryStore)
    await store.record_i_am(3001, address="10.0.0.5")
    await store.set_state("3001", DeviceState.ACCEPTED, node_ids=["3001"])
    await store.mark_object_list_stale("3001", 5)
    async with open_browser(chromium) as browser:
        await browser.goto(f"{page_url}/ui/")
        await browser.wait_for(_LOGIN_SHOWN)
        await _log_in(browser, "ada", TEST_PASSWORD)
        await browser.wait_for(f"document.querySelector({json.dumps(_DEVICE)} + ' .accept')")
        row = await browser.evaluate(
            f"(() => {{ const r = document.querySelector({json.dumps(_DEVICE)});"
            " return [r.dataset.state, r.querySelector('.stale').textContent,"
            " [...r.querySelectorAll('button')].map((b) => b.textContent)]; })()"
        )
        assert row == ["accepted", "stale", ["Accept again"]]
        await browser.evaluate(
            f"document.querySelector({json.dumps(_DEVICE)} + ' .accept').click(); true"
        )
        await browser.wait_for("!document.getElementById('discovery-error').hidden")
        shown = await browser.evaluate("document.getElementById('discovery-error').textContent")
        assert shown.startswith("Cannot accept 3001: the BACnet bridge is not running")
    assert (await store.get("3001")).object_list_stale
