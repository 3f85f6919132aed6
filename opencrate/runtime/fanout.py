"""Fan-out with drop-and-report: the mechanism under the event bus and Broadcast.

Each subscriber owns a bounded trio memory channel. ``publish`` never blocks:
when a subscriber's channel is full the item is dropped *for that subscriber
only* and counted; the next item that fits is preceded by a ``Lagged(count)``
marker, so the subscriber learns exactly where the gap is and how big it was.

Receivers should drain in batches (:meth:`Subscription.receive_batch`): one
``await receive()`` to sleep until something arrives, then ``receive_nowait``
until the channel is empty. Every ``await`` is a trip through the scheduler;
draining is what lets one subscriber keep up with a busy bus.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

import trio
from attrs import frozen

from opencrate.runtime.events import Lagged

__all__ = ["FanOut", "FanOutStatistics", "Subscription", "SubscriptionStatistics"]

T = TypeVar("T")

DEFAULT_CAPACITY = 4096


@frozen(kw_only=True)
class SubscriptionStatistics:
    name: str
    keys: tuple[str, ...]
    capacity: int
    depth: int
    delivered: int
    dropped: int
    lag_reports: int


@frozen(kw_only=True)
class FanOutStatistics:
    published: int
    subscribers: tuple[SubscriptionStatistics, ...]


class Subscription(Generic[T]):
    """One subscriber's end. Use as a context manager so it unsubscribes on exit."""

    def __init__(
        self,
        fanout: FanOut[T],
        name: str,
        keys: frozenset[object] | None,
        capacity: int,
        accept: Callable[[T], bool] | None,
    ) -> None:
        self._fanout = fanout
        self.name = name
        self.keys = keys
        self.capacity = capacity
        self.accept = accept
        self._send, self._receive = trio.open_memory_channel[T | Lagged](capacity)
        self._missed = 0
        self.delivered = 0
        self.dropped = 0
        self.lag_reports = 0

    # -- publisher side (called by FanOut) ---------------------------------------
    def _offer(self, item: T) -> None:
        if self.accept is not None and not self.accept(item):
            return
        send = self._send.send_nowait
        try:
            if self._missed:
                send(Lagged(self._missed))
                self._missed = 0
                self.lag_reports += 1
            send(item)
        except trio.WouldBlock:
            self._missed += 1
            self.dropped += 1
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            # The receiver is gone; the fan-out forgets it on close().
            self.dropped += 1
        else:
            self.delivered += 1

    # -- subscriber side ---------------------------------------------------------
    async def receive(self) -> T | Lagged:
        """The next item, or a ``Lagged`` marker where items were dropped."""
        return await self._receive.receive()

    def receive_nowait(self) -> T | Lagged:
        """Like :meth:`receive`; raises ``trio.WouldBlock`` when nothing is queued."""
        return self._receive.receive_nowait()

    async def receive_batch(self, max_items: int = 1024) -> list[T | Lagged]:
        """Wait for at least one item, then take what is already queued (up to ``max_items``)."""
        batch = [await self._receive.receive()]
        receive_nowait = self._receive.receive_nowait
        try:
            while len(batch) < max_items:
                batch.append(receive_nowait())
        except trio.WouldBlock:
            pass
        return batch

    def __aiter__(self) -> Subscription[T]:
        return self

    async def __anext__(self) -> T | Lagged:
        try:
            return await self._receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise StopAsyncIteration from None

    def close(self) -> None:
        """Unsubscribe. Idempotent; queued items are discarded."""
        self._fanout._remove(self)
        self._send.close()
        self._receive.close()

    def __enter__(self) -> Subscription[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def statistics(self) -> SubscriptionStatistics:
        return SubscriptionStatistics(
            name=self.name,
            keys=tuple(sorted(_key_name(k) for k in self.keys)) if self.keys else (),
            capacity=self.capacity,
            depth=self._receive.statistics().current_buffer_used,
            delivered=self.delivered,
            dropped=self.dropped,
            lag_reports=self.lag_reports,
        )


def _key_name(key: object) -> str:
    return key.__name__ if isinstance(key, type) else str(key)


class FanOut(Generic[T]):
    """Deliver each published item to every interested subscriber, never waiting.

    Subscribers may name ``keys``: they then receive only items published under
    one of those keys (the event bus uses the event's type). Dispatch is a dict
    lookup per publish, so uninterested subscribers cost nothing.
    """

    def __init__(self) -> None:
        self._all: list[Subscription[T]] = []
        self._by_key: dict[object, list[Subscription[T]]] = {}
        self._subscriptions: list[Subscription[T]] = []
        self.published = 0

    def subscribe(
        self,
        keys: Iterable[object] | None = None,
        *,
        name: str = "subscriber",
        capacity: int = DEFAULT_CAPACITY,
        accept: Callable[[T], bool] | None = None,
    ) -> Subscription[T]:
        """Add a subscriber. ``accept`` is an extra per-item predicate (e.g. a node subtree)."""
        key_set = frozenset(keys) if keys is not None else None
        if key_set is not None and not key_set:
            key_set = None
        sub = Subscription(self, name, key_set, capacity, accept)
        self._subscriptions.append(sub)
        if key_set is None:
            self._all.append(sub)
        else:
            for key in key_set:
                self._by_key.setdefault(key, []).append(sub)
        return sub

    def publish(self, item: T, key: object = None) -> None:
        """Offer ``item`` to every subscriber; never blocks, never raises for a slow one."""
        self.published += 1
        for sub in self._all:
            sub._offer(item)
        if key is not None:
            for sub in self._by_key.get(key, ()):
                sub._offer(item)

    def _remove(self, sub: Subscription[T]) -> None:
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)
            if sub.keys is None:
                self._all.remove(sub)
            else:
                for key in sub.keys:
                    self._by_key[key].remove(sub)

    def statistics(self) -> FanOutStatistics:
        return FanOutStatistics(
            published=self.published,
            subscribers=tuple(s.statistics() for s in self._subscriptions),
        )
