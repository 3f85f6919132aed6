"""Fan-out with drop-and-report: the mechanism under the event bus and Broadcast.

Each subscriber owns a bounded queue (a deque and a trio ``ParkingLot`` for
the waiting receiver: what a memory channel does, without its per-item
machinery). ``publish`` never blocks: when a subscriber's queue is full the
item is dropped *for that subscriber only* and counted (a length test, not a
raised and caught ``WouldBlock``: a stalled subscriber must not slow the
publisher down); the next item that fits is preceded by a ``Lagged(count)``
marker, so the subscriber learns exactly where the gap is and how big it was.

Receivers should drain in batches (:meth:`Subscription.receive_batch`): one
``await receive()`` to sleep until something arrives, then ``receive_nowait``
until the channel is empty. Every ``await`` is a trip through the scheduler;
draining is what lets one subscriber keep up with a busy bus.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

import trio
import trio.lowlevel
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
        self._queue: deque[T | Lagged] = deque()
        self._lot = trio.lowlevel.ParkingLot()
        self._closed = False
        self._missed = 0
        self.delivered = 0
        self.dropped = 0
        self.lag_reports = 0

    # -- publisher side (called by FanOut) ---------------------------------------
    def _offer(self, item: T) -> None:
        if self.accept is not None and not self.accept(item):
            return
        queue = self._queue
        if self._closed:
            # Closed during this publish (by an ``accept``): close() has already taken it
            # off the fan-out's lists, this publish still runs over the old ones.
            self.dropped += 1
            return
        if self._missed:
            if len(queue) + 2 > self.capacity:  # room for the marker and the item
                self._missed += 1
                self.dropped += 1
                return
            queue.append(Lagged(self._missed))
            self._missed = 0
            self.lag_reports += 1
        elif len(queue) >= self.capacity:
            self._missed = 1
            self.dropped += 1
            return
        queue.append(item)
        self.delivered += 1
        if self._lot:
            self._lot.unpark()

    # -- subscriber side ---------------------------------------------------------
    async def receive(self) -> T | Lagged:
        """The next item, or a ``Lagged`` marker where items were dropped.

        Raises ``trio.ClosedResourceError`` once the subscription is closed.
        """
        await self._wait()
        return self._queue.popleft()

    def receive_nowait(self) -> T | Lagged:
        """Like :meth:`receive`; raises ``trio.WouldBlock`` when nothing is queued."""
        if self._closed:
            raise trio.ClosedResourceError("subscription closed")
        if not self._queue:
            raise trio.WouldBlock
        return self._queue.popleft()

    async def receive_batch(self, max_items: int = 1024) -> list[T | Lagged]:
        """Wait for at least one item, then take what is already queued (up to ``max_items``)."""
        await self._wait()
        queue = self._queue
        if len(queue) <= max_items:
            batch = list(queue)
            queue.clear()
            return batch
        popleft = queue.popleft
        return [popleft() for _ in range(max_items)]

    async def _wait(self) -> None:
        # A checkpoint either way (trio's rule for every async receive): park
        # while empty, else yield once; items are taken only after it, so a
        # cancelled receive loses nothing. close() empties the queue and nothing
        # is queued after it, so a non-empty queue means an open subscription.
        if self._queue:
            await trio.lowlevel.checkpoint()
        while not self._queue:
            if self._closed:
                raise trio.ClosedResourceError("subscription closed")
            await self._lot.park()

    def __aiter__(self) -> Subscription[T]:
        return self

    async def __anext__(self) -> T | Lagged:
        try:
            return await self.receive()
        except trio.ClosedResourceError:
            raise StopAsyncIteration from None

    def close(self) -> None:
        """Unsubscribe. Idempotent; queued items are discarded, waiting receivers wake
        with ``trio.ClosedResourceError`` (iteration ends)."""
        self._fanout._remove(self)
        self._closed = True
        self._queue.clear()
        self._lot.unpark_all()

    def __enter__(self) -> Subscription[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def statistics(self) -> SubscriptionStatistics:
        return SubscriptionStatistics(
            name=self.name,
            keys=tuple(sorted(_key_name(k) for k in self.keys)) if self.keys else (),
            capacity=self.capacity,
            depth=len(self._queue),
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
        # The dispatch lists are replaced, never changed in place (here and in _remove):
        # a publish that is running (an ``accept`` may subscribe or close) goes on over
        # the subscribers it started with, none skipped, none added half-way.
        if key_set is None:
            self._all = [*self._all, sub]
        else:
            for key in key_set:
                self._by_key[key] = [*self._by_key.get(key, ()), sub]
        return sub

    def publish(self, item: T, key: object = None) -> None:
        """Offer ``item`` to every subscriber; never blocks, never raises for a slow one."""
        self.published += 1
        keyed = self._by_key.get(key, ()) if key is not None else ()
        for sub in self._all:
            sub._offer(item)
        for sub in keyed:
            sub._offer(item)

    def _remove(self, sub: Subscription[T]) -> None:
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)
            if sub.keys is None:
                self._all = [s for s in self._all if s is not sub]
            else:
                for key in sub.keys:
                    self._by_key[key] = [s for s in self._by_key[key] if s is not sub]

    def statistics(self) -> FanOutStatistics:
        return FanOutStatistics(
            published=self.published,
            subscribers=tuple(s.statistics() for s in self._subscriptions),
        )
