"""``Watch`` (latest value with a version) and ``Broadcast`` (change notices).

A :class:`Watch` holds the current version of some configuration. Waiters ask
for "something newer than the version I have" and always get the newest
value, never a backlog: ten quick edits wake a hot-reloading engine once, with
the tenth. A :class:`Broadcast` is the opposite: every notice matters (which
program changed), so each receiver gets each notice, with the same
drop-and-report rule as the event bus when it falls far behind.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import trio
from attrs import frozen

from opencrate.runtime.fanout import FanOut, FanOutStatistics, Subscription

__all__ = ["Broadcast", "Watch", "WatchStatistics"]

T = TypeVar("T")


@frozen(kw_only=True)
class WatchStatistics:
    version: int
    waiting: int


class Watch(Generic[T]):
    """The latest value of something, with a version that grows on every ``set``."""

    def __init__(self, initial: T) -> None:
        self._value = initial
        self._version = 0
        self._changed = trio.Event()
        self._waiting = 0

    @property
    def value(self) -> T:
        return self._value

    @property
    def version(self) -> int:
        return self._version

    def get(self) -> tuple[int, T]:
        """``(version, value)`` now."""
        return self._version, self._value

    def set(self, value: T) -> int:
        """Replace the value and wake every waiter; returns the new version."""
        self._value = value
        self._version += 1
        changed, self._changed = self._changed, trio.Event()
        changed.set()
        return self._version

    async def wait_newer(self, than: int) -> tuple[int, T]:
        """Return ``(version, value)`` as soon as the version is greater than ``than``.

        Returns at once when it already is. Cancellation-safe: nothing is consumed.
        """
        self._waiting += 1
        try:
            while self._version <= than:
                await self._changed.wait()
        finally:
            self._waiting -= 1
        return self._version, self._value

    def statistics(self) -> WatchStatistics:
        return WatchStatistics(version=self._version, waiting=self._waiting)


class Broadcast(Generic[T]):
    """Every receiver gets every notice (bounded; a receiver that falls behind gets ``Lagged``)."""

    def __init__(self, capacity: int = 256) -> None:
        self._fanout: FanOut[T] = FanOut()
        self._capacity = capacity

    def send(self, notice: T) -> None:
        """Deliver to all current receivers; never blocks."""
        self._fanout.publish(notice)

    def subscribe(self, *, name: str = "receiver") -> Subscription[T]:
        return self._fanout.subscribe(None, name=name, capacity=self._capacity)

    def statistics(self) -> FanOutStatistics:
        return self._fanout.statistics()
