"""The operator page in a real headless browser against a real server.

Skipped without chromium, or failed when ``OPENCRATE_REQUIRE_SERVICES=1`` (as
in CI, whose ``.ci/run`` installs it).

``test_ui.py`` checks the files and the API contract; this one checks that the
script actually runs: the tree is built with live values, the trend of the
point named in the address is drawn from its history, the open alarm is
listed and the header shows the server's health.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
import trio

from opencrate.app import Services
from opencrate.clock import TrioClock
from opencrate.components.alarms.store import AlarmStore
from opencrate.components.history.service import Sample
from opencrate.components.history.setup import Persistence
from opencrate.components.points.store import PointStore
from tests.conftest import require_program
from tests.harness import build_tree, running_services, serving

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
async def services(tmp_path: Path, clock: TrioClock) -> AsyncIterator[Services]:
    # The page reads only: the read-only anonymous viewer is enough to render it.
    async with running_services(tmp_path / "data", clock, users={"anonymous_viewer": True}) as svc:
        yield svc


@pytest.fixture
async def page_url(services: Services) -> AsyncIterator[str]:
    """A live server on 127.0.0.1 for ``services`` (whose stores already run); its base URL."""
    async with serving(services) as url:
        yield url


async def _render(url: str) -> _Page:
    with tempfile.TemporaryDirectory() as profile:
        assert CHROMIUM is not None
        done = await trio.run_process(
            [
                CHROMIUM,
                *("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"),
                *("--disable-background-networking", "--disable-component-update"),
                *("--disable-sync", f"--user-data-dir={profile}", "--window-size=1400,900"),
                *("--virtual-time-budget=5000", "--dump-dom", url),
            ],
            capture_stdout=True,
            capture_stderr=True,
        )
    page = _Page()
    page.feed(done.stdout.decode())
    return page


async def test_the_page_renders_tree_trend_alarms_and_health(
    services: Services, page_url: str
) -> None:
    await build_tree(services)
    # The browser charts the last hours of its own clock: real timestamps.
    now = int(time.time() * 1000)
    (history,) = services.get(Persistence).history
    samples = [
        Sample(point_id="1001/sat", ts_ms=now - i * 60_000, value=13 + i / 10) for i in range(30)
    ]
    await history.store(samples)
    services.get(PointStore).set("1001/sat", 13.2)
    services.get(PointStore).set("1001/fan", True)
    await services.get(AlarmStore).raise_alarm("2001/zat", "high", "major", "Zone too warm")

    page = await _render(f"{page_url}/ui/#range=1h&points=1001/sat")

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
    assert page.by_id["alarms-panel"].get("hidden") is None
    # The fixture's supervisor never starts, so the server reports level 0.
    assert page.by_id["health"].get("data-state") == "starting"
    assert page.texts["pill"][0] == "starting · level 0"
    assert page.by_id["live"].get("data-state") == "ok"
