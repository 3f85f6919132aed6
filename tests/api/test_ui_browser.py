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
import shutil
import time
from collections.abc import AsyncIterator
from html.parser import HTMLParser

import pytest

from opencrate.app import Services
from opencrate.components.alarms.store import AlarmStore
from opencrate.components.audit.store import AuditStore
from opencrate.components.history.service import Sample
from opencrate.components.history.setup import Persistence
from opencrate.components.points.store import PointStore
from opencrate.components.users.auth import LOGIN_FAILED, Authenticator
from opencrate.components.users.roles import Role
from tests.api.browser import Browser, open_browser
from tests.conftest import require_program
from tests.harness import TEST_PASSWORD, build_tree, serving

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
    async with open_browser(chromium) as browser:
        await browser.goto(f"{page_url}/ui/")
        await browser.wait_for(_LOGIN_SHOWN)
        await _log_in(browser, "vera", TEST_PASSWORD)
        await browser.wait_for("document.querySelector('.alarm-message')")
        assert await browser.evaluate("document.querySelectorAll('.alarm .ack').length") == 0
        assert await browser.evaluate("document.getElementById('who-name').textContent") == (
            "vera · viewer"
        )
