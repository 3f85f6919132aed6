"""Fixtures for CLI tests: a real OpenCrate API on 127.0.0.1 (port 0) over stores in tmp_path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import pytest
import trio

from opencrate.api.app import create_app
from opencrate.api.server import serve_api
from opencrate.app import Services
from opencrate.clock import TrioClock
from tests.api.conftest import running_services


@pytest.fixture
async def live_services(tmp_path: Path, clock: TrioClock) -> AsyncIterator[Services]:
    async with running_services(tmp_path / "data", clock) as svc:
        yield svc


@pytest.fixture
async def api_url(live_services: Services) -> AsyncIterator[str]:
    """The base URL of a server for ``live_services``; shut down in order after the test."""
    supervisor = live_services.supervisor
    assert supervisor is not None
    async with trio.open_nursery() as nursery:
        urls: list[str] = await nursery.start(
            partial(
                serve_api,
                create_app(live_services),
                host="127.0.0.1",
                port=0,
                shutdown_trigger=supervisor.shutdown_requested.wait,
            )
        )
        yield urls[0]
        supervisor.request_shutdown()
