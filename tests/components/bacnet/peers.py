"""A bacpypes3 client stack for tests: its own asyncio thread, its own port, a foreign device.

Tests talk to simulated devices through it the way a separate BACnet client would: a global
Who-Is goes through the simulator's BBMD, reads and writes go to each device's address.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bacpypes3.app import Application
from bacpypes3.basetypes import HostNPort, IPMode, Segmentation
from bacpypes3.local.device import DeviceObject
from bacpypes3.local.networkport import NetworkPortObject
from bacpypes3.pdu import Address

from opencrate.components.bacnet.loop import AsyncioThread

__all__ = ["Client", "close_client", "free_udp_port", "make_client", "open_client"]


from tests.components.bacnet.conftest import free_udp_port


class Client:
    """A bacpypes3 client stack on its own asyncio thread (a foreign device of the BBMD)."""

    def __init__(self, thread: AsyncioThread, app: Application) -> None:
        self.thread = thread
        self.app = app

    async def who_is(
        self,
        low: int | None = None,
        high: int | None = None,
        *,
        address: str | None = None,
        timeout: float = 1.0,
    ) -> dict[int, str]:
        async def ask() -> list[Any]:
            target = Address(address) if address else None
            return list(await self.app.who_is(low, high, address=target, timeout=timeout))

        return {i.iAmDeviceIdentifier[1]: str(i.pduSource) for i in await self.thread.run(ask)}

    async def read(self, address: str, obj: str, prop: str) -> Any:
        return await self.thread.run(self.app.read_property, Address(address), obj, prop)

    async def write(self, address: str, obj: str, value: Any, priority: int) -> None:
        await self.thread.run(
            self.app.write_property, Address(address), obj, "present-value", value, None, priority
        )


async def make_client(port: int, bbmd: str) -> Application:
    device = DeviceObject(
        objectIdentifier=("device", 599),
        objectName="test client",
        vendorIdentifier=999,
        maxApduLengthAccepted=50,  # the smallest: the device must segment its object list
        segmentationSupported=Segmentation.segmentedBoth,
    )
    port_object = NetworkPortObject(
        f"127.0.0.1/8:{port}", objectIdentifier=("network-port", 1), objectName="NetworkPort-1"
    )
    port_object.bacnetIPMode = IPMode.foreign
    port_object.fdBBMDAddress = HostNPort(bbmd)
    port_object.fdSubscriptionLifetime = 60
    return Application.from_object_list([device, port_object])


async def close_client(app: Application) -> None:
    app.close()
    for _ in range(3):
        await asyncio.sleep(0)  # the transports close their sockets on the next iterations


@asynccontextmanager
async def open_client(bbmd: str) -> AsyncIterator[Client]:
    """A client on a free port, registering with ``bbmd``; closed (sockets, thread) on exit."""
    async with AsyncioThread.open(name="bacnet-test-client") as thread:
        app = await thread.run(make_client, free_udp_port(), bbmd)
        try:
            yield Client(thread, app)
        finally:
            await thread.run(close_client, app)
