"""Shared fixtures. Tests run under pytest-trio (``trio_mode = true``)."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from quart.typing import TestClientProtocol as Client
from quart_trio import QuartTrio

from opencrate.api.app import create_app
from opencrate.app import Services
from opencrate.clock import TrioClock
from opencrate.runtime.bus import EventBus
from tests.contract import check_answers, violations
from tests.harness import running_services, serving


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


@pytest.fixture
async def clock() -> TrioClock:
    # Wall time that moves with trio's clock (virtual under autojump_clock).
    # Async so pytest-trio creates it inside the test's trio run: TrioClock reads
    # trio.current_time() when it is made.
    return TrioClock(start_ms=1_700_000_000_000)


# -- real stores in tmp_path, the real app and its test client (API tests) ----------
@pytest.fixture
async def services(tmp_path: Path, clock: TrioClock) -> AsyncIterator[Services]:
    async with running_services(tmp_path / "data", clock) as svc:
        yield svc


@pytest.fixture
def app(services: Services) -> Iterator[QuartTrio]:
    app = create_app(services)
    check_answers(app)
    yield app
    found = violations(app)
    assert not found, f"answers that do not match the OpenAPI document: {found}"


@pytest.fixture
def client(app: QuartTrio) -> Client:
    return app.test_client()


# -- a real server over them (CLI tests) ---------------------------------------------
@pytest.fixture
async def live_services(tmp_path: Path, clock: TrioClock) -> AsyncIterator[Services]:
    async with running_services(tmp_path / "data", clock) as svc:
        yield svc


@pytest.fixture
async def api_url(live_services: Services) -> AsyncIterator[str]:
    """The base URL of a server for ``live_services``; shut down in order after the test."""
    async with serving(live_services) as url:
        yield url


def service_reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip (or, in CI, fail) when a local service the test needs is not reachable."""
    if service_reachable(host, port):
        return
    _missing(
        f"{name} is not reachable at {host}:{port}",
        "set it up or point the tests at one (see docs/how-to/testing.md)",
    )


def require_program(name: str, path: str | None) -> str:
    """``path`` (a ``shutil.which`` result) if found; else skip (or, in CI, fail)."""
    if path is not None:
        return path
    _missing(f"{name} is not installed", "install it (see docs/how-to/testing.md)")


def _missing(message: str, hint: str) -> NoReturn:
    if os.environ.get("OPENCRATE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message} and OPENCRATE_REQUIRE_SERVICES=1 (as in CI)")
    pytest.skip(f"{message}; {hint}")
