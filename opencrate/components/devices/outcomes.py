"""What a bridge's poller does with each answer or failure: health, point status, events.

Every bridge reacts to a device the same way (the health model of
:mod:`.health`): an answer records the round trip and, if the device was
down, publishes ``DeviceRecovered``; a failure turns the device's points
``stale`` (``down`` stays ``down``), and at ``down_after`` failures in a row
turns them ``down`` and then publishes ``DeviceDown``, in that order, so
whoever reacts to the event finds the points already down. The caller waits
the delay the failure returns before it asks again.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from opencrate.clock import Clock
from opencrate.components.devices.health import DeviceHealth
from opencrate.components.points.store import PointStore
from opencrate.model.values import PointStatus
from opencrate.runtime.bus import EventBus

__all__ = ["DeviceOutcomes"]


class DeviceOutcomes:
    """One device's answers and failures applied to its health, points and the bus."""

    def __init__(
        self,
        health: DeviceHealth,
        *,
        point_ids: Callable[[], Iterable[str]],
        store: PointStore,
        bus: EventBus,
        clock: Clock,
    ) -> None:
        self.health = health
        self._point_ids = point_ids
        self._store = store
        self._bus = bus
        self._clock = clock

    def answered(self, rtt_s: float | None = None) -> None:
        """The device answered (``rtt_s``: how long it took, if known)."""
        rtt = 0.0 if rtt_s is None or not math.isfinite(rtt_s) else rtt_s
        for event in self.health.on_success(rtt, now_ms=self._clock.now_ms()):
            self._bus.publish(event)

    def failed(self, error: BaseException | str) -> float:
        """The device did not answer: points stale or down, DeviceDown once; the delay."""
        retry = self.health.on_failure(error, now_ms=self._clock.now_ms())
        status = PointStatus.DOWN if retry.events else PointStatus.STALE
        for point_id in self._point_ids():
            current = self._store.get(point_id)
            if status is PointStatus.STALE and current and current.status is PointStatus.DOWN:
                continue  # down stays down until an answer
            self._store.set_status(point_id, status)
        for event in retry.events:
            self._bus.publish(event)
        return retry.delay_s
