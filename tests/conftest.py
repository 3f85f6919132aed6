"""Shared fixtures. Tests run under pytest-trio (``trio_mode = true``)."""

from __future__ import annotations

import os
import socket

import pytest

from opencrate.clock import TrioClock
from opencrate.runtime.bus import EventBus


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


@pytest.fixture
async def clock() -> TrioClock:
    # Wall time that moves with trio's clock (virtual under autojump_clock).
    # Async so pytest-trio creates it inside the test's trio run: TrioClock reads
    # trio.current_time() when it is made.
    return TrioClock(start_ms=1_700_000_000_000)


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
    message = f"{name} is not reachable at {host}:{port}"
    if os.environ.get("OPENCRATE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message} and OPENCRATE_REQUIRE_SERVICES=1 (as in CI)")
    pytest.skip(f"{message}; set it up or point the tests at one (see docs/how-to/testing.md)")
