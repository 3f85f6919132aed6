"""The event bus: the whole system's change feed (architecture §3).

``publish(event)`` never blocks and never waits for a slow subscriber; each
subscriber has its own bounded channel (4096 by default) and receives a
``Lagged(count)`` marker where it fell behind. See :mod:`opencrate.runtime.fanout`.

Typical subscriber::

    with bus.subscribe(ValueChanged, name="history") as sub:
        while True:
            for item in await sub.receive_batch():
                if isinstance(item, Lagged):
                    log.warning("history lost %d events", item.count)
                    continue
                handle(item)
"""

from __future__ import annotations

from collections.abc import Callable

from opencrate.runtime.events import Event
from opencrate.runtime.fanout import DEFAULT_CAPACITY, FanOut, FanOutStatistics, Subscription

__all__ = ["EventBus"]


class EventBus:
    """Typed fan-out of :class:`~opencrate.runtime.events.Event` objects."""

    def __init__(self) -> None:
        self._fanout: FanOut[Event] = FanOut()
        # Bound once: publish is on every reading's path.
        self._publish = self._fanout.publish

    def publish(self, event: Event) -> None:
        """Deliver ``event`` to every subscriber of its type; never blocks."""
        self._publish(event, type(event))

    def subscribe(
        self,
        *types: type[Event],
        name: str = "subscriber",
        capacity: int = DEFAULT_CAPACITY,
        accept: Callable[[Event], bool] | None = None,
    ) -> Subscription[Event]:
        """Subscribe to ``types`` (all events when none are given).

        ``accept`` filters further (for example by node subtree); it runs in
        ``publish``, so keep it cheap.
        """
        return self._fanout.subscribe(types or None, name=name, capacity=capacity, accept=accept)

    def statistics(self) -> FanOutStatistics:
        return self._fanout.statistics()
