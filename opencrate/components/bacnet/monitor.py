"""The monitor loop: every accepted device checked periodically, and its object count watched.

Each cycle asks every accepted device for ``object-list[0]`` (its object
count: one small request that any BACnet device answers), all devices at
once under a limit, so a device that does not answer costs its own timeout
only. Then it publishes ``DeviceMonitorCycle`` (checked, online, offline).

A device whose count differs from the one stored at discovery has had
objects added or removed (a controller reprogrammed): the monitor publishes
``ObjectListChanged`` (old and new counts) and marks the device
``object_list_stale`` in the DiscoveryStore, so the operator sees it and can
scan and accept it again. It is published once per change (the stored count becomes the new one),
not every cycle.

The answer (or its absence) also goes into the device's health when the
bridge polls it, so a device whose points all come by COV, and which is
therefore never polled, still goes down and recovers like any other. A
device that answers with an error (Error, Reject, Abort) has answered: it
counts as online, not as a failure (its points show ``fault`` from the
poller), so a device that refuses everything is never taken for a dead one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio
from attrs import frozen

from opencrate.clock import Clock
from opencrate.components.bacnet.adapter import BacnetStack
from opencrate.components.bacnet.inventory import read_object_count
from opencrate.components.bacnet.records import DeviceState, DiscoveredDevice
from opencrate.components.bacnet.store import DiscoveryStore
from opencrate.errors import BridgeError, DeviceError
from opencrate.runtime.bus import EventBus
from opencrate.runtime.events import DeviceMonitorCycle, ObjectListChanged

__all__ = ["CheckResult", "DeviceMonitor"]

log = logging.getLogger(__name__)

_CONCURRENCY = 8


@frozen(kw_only=True)
class CheckResult:
    device_key: str
    online: bool
    object_count: int | None
    error: str | None


class DeviceMonitor:
    """Checks accepted devices every ``interval_s``; see the module docstring."""

    def __init__(
        self,
        stack: BacnetStack,
        store: DiscoveryStore,
        *,
        bus: EventBus,
        clock: Clock,
        interval_s: float,
        on_check: Callable[[str, BridgeError | None], None] | None = None,
    ) -> None:
        self.stack = stack
        self.store = store
        self.bus = bus
        self.clock = clock
        self.interval_s = interval_s
        self._on_check = on_check
        self.cycles = 0
        self.last: tuple[CheckResult, ...] = ()
        self._cycled = trio.Event()

    async def wait_cycles(self, count: int) -> None:
        """Return once at least ``count`` cycles have completed (tests)."""
        while self.cycles < count:
            await self._cycled.wait()

    async def run(self) -> None:
        """A cycle now, then every ``interval_s``, for ever."""
        while True:
            await self.cycle()
            await trio.sleep(self.interval_s)

    async def cycle(self) -> tuple[CheckResult, ...]:
        """Check every accepted device once; publish the cycle's counts."""
        devices = await self.store.list(state=DeviceState.ACCEPTED)
        results: list[CheckResult] = []
        limiter = trio.CapacityLimiter(_CONCURRENCY)

        async def check(device: DiscoveredDevice) -> None:
            async with limiter:
                results.append(await self._check(device))

        async with trio.open_nursery() as nursery:
            for device in devices:
                nursery.start_soon(check, device)
        online = sum(1 for r in results if r.online)
        self.bus.publish(
            DeviceMonitorCycle(
                ts_ms=self.clock.now_ms(),
                checked_count=len(results),
                online_count=online,
                offline_count=len(results) - online,
            )
        )
        self.last = tuple(sorted(results, key=lambda r: r.device_key))
        self.cycles += 1
        self._cycled.set()
        self._cycled = trio.Event()
        return self.last

    async def _check(self, device: DiscoveredDevice) -> CheckResult:
        key = device.device_key
        if device.device_instance is None:
            return CheckResult(device_key=key, online=False, object_count=None, error="no instance")
        try:
            count = await read_object_count(self.stack, device.address, device.device_instance)
        except DeviceError as exc:
            # It answered (with an Error, Reject or Abort): online, as the shared health model
            # has it for a device that refuses a request; its points' status says the rest.
            if self._on_check is not None:
                self._on_check(key, None)
            return CheckResult(device_key=key, online=True, object_count=None, error=str(exc))
        except BridgeError as exc:
            if self._on_check is not None:
                self._on_check(key, exc)
            return CheckResult(device_key=key, online=False, object_count=None, error=str(exc))
        if self._on_check is not None:
            self._on_check(key, None)
        if device.object_count is not None and count != device.object_count:
            # The stored count becomes the new one: the next cycle publishes only a new change.
            log.info("bacnet: device %s now lists %d objects (was %d)",
                     key, count, device.object_count)  # fmt: skip
            await self.store.mark_object_list_stale(key, count)
            self.bus.publish(
                ObjectListChanged(
                    ts_ms=self.clock.now_ms(),
                    device_key=key,
                    old_count=device.object_count,
                    new_count=count,
                )
            )
        return CheckResult(device_key=key, online=True, object_count=count, error=None)
