"""A device's answers and failures applied to its points and the bus, for every bridge alike."""

from __future__ import annotations

import random

from opencrate.clock import TrioClock
from opencrate.components.devices.health import DeviceHealth, HealthSettings
from opencrate.components.devices.outcomes import DeviceOutcomes
from opencrate.components.points.store import PointStore
from opencrate.model.values import PointStatus
from opencrate.runtime.bus import EventBus
from opencrate.runtime.events import DeviceDown, DeviceRecovered, StatusChanged


async def test_points_go_stale_then_down_before_device_down_and_come_back_on_an_answer(
    clock: TrioClock,
) -> None:
    bus = EventBus()
    store = PointStore(bus, clock)
    store.set("a", 1.0)
    store.set("b", 2.0)
    health = DeviceHealth(
        "dev", HealthSettings(backoff_initial_s=1, backoff_max_s=4, down_after=2),
        protocol="test", rng=random.Random(1),
    )  # fmt: skip
    outcomes = DeviceOutcomes(health, point_ids=lambda: ["a", "b"], store=store, bus=bus,
                              clock=clock)  # fmt: skip
    with bus.subscribe(StatusChanged, DeviceDown, DeviceRecovered, name="t") as events:
        assert 0.9 <= outcomes.failed("no answer") <= 1.0
        state = store.get("a")
        assert state is not None
        assert state.status is PointStatus.STALE
        assert 1.8 <= outcomes.failed("no answer") <= 2.0
        seen = [events.receive_nowait() for _ in range(5)]
        outcomes.failed("still nothing")  # down stays down: nothing more published
        outcomes.answered(0.01)
        recovered = events.receive_nowait()
    kinds = [type(e).__name__ for e in seen]
    assert kinds == ["StatusChanged"] * 4 + ["DeviceDown"]  # the points first, then the device
    assert isinstance(recovered, DeviceRecovered)
    assert health.statistics().last_rtt_s == 0.01
