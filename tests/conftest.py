"""Shared fixtures. Tests run under pytest-trio (``trio_mode = true``)."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from quart.typing import TestClientProtocol as Client
from quart_trio import QuartTrio

from opencrate.api.app import create_app
from opencrate.app import Services
from opencrate.clock import TrioClock
from opencrate.components.users.roles import Role
from opencrate.runtime.bus import EventBus
from tests.contract import check_answers, violations
from tests.harness import client_with_token, role_tokens, running_services, serving


@pytest.fixture(autouse=True)
def _no_stored_credentials(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The CLI must never read (or write) the real user's tokens, nor a token
    # from the environment the tests were started in.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
    for name in ("OPENCRATE_TOKEN", "OPENCRATE_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)


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
async def tokens(services: Services) -> dict[Role, str]:
    """A token per role (users ``admin``, ``operator``, ``viewer``; cheap argon2)."""
    return await role_tokens(services)


@pytest.fixture
def client(app: QuartTrio, tokens: dict[Role, str]) -> Client:
    """The app's test client, as the admin (token ``tests`` of user ``admin``)."""
    return client_with_token(app, tokens[Role.ADMIN])


@pytest.fixture
def client_as(app: QuartTrio, tokens: dict[Role, str]) -> Callable[[Role | None], Client]:
    """``client_as(Role.VIEWER)``: a test client with that role's token; None: no credentials."""
    return lambda role: client_with_token(app, None if role is None else tokens[role])


# -- a real server over them (CLI tests) ---------------------------------------------
@pytest.fixture
async def live_services(tmp_path: Path, clock: TrioClock) -> AsyncIterator[Services]:
    async with running_services(tmp_path / "data", clock) as svc:
        yield svc


@pytest.fixture
async def live_tokens(live_services: Services) -> dict[Role, str]:
    """A token per role for ``live_services``, as :func:`tokens` for ``services``."""
    return await role_tokens(live_services)


@pytest.fixture
async def api_url(
    live_services: Services, live_tokens: dict[Role, str], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[str]:
    """The base URL of a server for ``live_services``; shut down in order after the test.

    The CLI (and ``ApiClient``) sends the admin token: ``OPENCRATE_TOKEN`` is set to it.
    """
    monkeypatch.setenv("OPENCRATE_TOKEN", live_tokens[Role.ADMIN])
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
