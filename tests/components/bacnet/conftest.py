"""Fixtures for BACnet tests: free UDP ports on loopback and a small bacpypes3 device."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from opencrate.components.bacnet.adapter import StackSettings, make_application
from opencrate.components.bacnet.loop import AsyncioThread


def free_udp_port() -> int:
    """A UDP port nobody on 127.0.0.1 holds now (bacpypes3 binds with SO_REUSEPORT:
    a port still held by a stale stack would silently share its traffic)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def udp_port() -> Iterator[int]:
    return free_udp_port()


@asynccontextmanager
async def bacpypes_device(
    instance: int, port: int, objects: list[Any] | None = None, host: str = "127.0.0.1"
) -> AsyncIterator[tuple[Any, AsyncioThread]]:
    """A bare bacpypes3 device at ``host:port`` with ``objects``, and its loop thread
    (change its objects there: bacpypes3's COV detection runs on that loop)."""
    async with AsyncioThread.open(name=f"device-{instance}") as loop:

        def build() -> Any:
            app = make_application(
                StackSettings(
                    address=f"{host}:{port}", device_instance=instance,
                    device_name=f"device {instance}",
                )
            )  # fmt: skip
            for obj in objects or ():
                app.add_object(obj)
            return app

        app = await loop.call(build)
        try:
            yield app, loop
        finally:
            await loop.call(app.close)
