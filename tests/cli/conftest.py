"""Fixtures for CLI tests: a real OpenCrate API on 127.0.0.1 (port 0) over stores in tmp_path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from opencrate.app import Services
from opencrate.clock import TrioClock
from tests.api.conftest import running_services, serving


@pytest.fixture
async def live_services(tmp_path: Path, clock: TrioClock) -> AsyncIterator[Services]:
    async with running_services(tmp_path / "data", clock) as svc:
        yield svc


@pytest.fixture
async def api_url(live_services: Services) -> AsyncIterator[str]:
    """The base URL of a server for ``live_services``; shut down in order after the test."""
    async with serving(live_services) as url:
        yield url
