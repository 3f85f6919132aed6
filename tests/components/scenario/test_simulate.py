"""The simulator on trio's virtual clock: first values, intervals, COV, overrides, the demo."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import trio

from opencrate.clock import TrioClock
from opencrate.components.points.store import PointStore
from opencrate.components.scenario.parse import load_scenario, parse_scenario
from opencrate.components.scenario.simulate import Simulator
from opencrate.errors import ConfigError
from opencrate.runtime.bus import EventBus
from opencrate.runtime.events import Event, Lagged, ValueChanged
from opencrate.runtime.fanout import Subscription
from tests.harness import REPO_ROOT

EXAMPLE = REPO_ROOT / "examples" / "office.toml"


def drain(sub: Subscription[Event]) -> list[Event | Lagged]:
    """Everything queued on ``sub`` right now."""
    items: list[Event | Lagged] = []
    while True:
        try:
            items.append(sub.receive_nowait())
        except trio.WouldBlock:
            return items


TEXT = """\
[scenario]
seed = 3

[[site]]
id = "hq"
dis = "HQ"

[[equip]]
id = "m"
dis = "Meter"
parent = "hq"

[[equip.point]]
id = "fast"
dis = "Active Power"
unit = "kW"
signal = { shape = "sine", mean = 40.0, amplitude = 10.0, period = "10m", noise = 0.5 }

[[equip.point]]
id = "slow"
dis = "Voltage"
unit = "V"
deadband = 1.0
[equip.point.signal]
shape = "sine"
mean = 230.0
amplitude = 2.0
period = "10m"
noise = 0.3
interval = "20s"

[[equip.point]]
id = "mode"
dis = "Mode"
kind = "enum"
signal = { shape = "constant", value = 2, interval = "5s" }

[[equip.point]]
id = "unsimulated"
dis = "Spare"
unit = "V"
"""


async def test_every_simulated_point_has_a_value_when_started(
    bus: EventBus, clock: TrioClock, autojump_clock: trio.abc.Clock
) -> None:
    points = PointStore(bus, clock)
    simulator = Simulator.from_scenario(parse_scenario(TEXT), points=points, clock=clock)
    async with trio.open_nursery() as nursery:
        before = trio.current_time()
        await nursery.start(simulator.run)
        assert trio.current_time() == before
        assert {nid for nid, state in points.snapshot().items() if state.value is not None} == {
            "m/fast",
            "m/slow",
            "m/mode",
        }
        assert points.get("m/mode") is not None
        assert points.get("m/unsimulated") is None
        assert simulator.statistics().running
        nursery.cancel_scope.cancel()
    assert not simulator.statistics().running


async def test_each_point_is_sampled_at_its_own_interval(
    bus: EventBus, clock: TrioClock, autojump_clock: trio.abc.Clock
) -> None:
    points = PointStore(bus, clock)
    simulator = Simulator.from_scenario(parse_scenario(TEXT), points=points, clock=clock)
    with bus.subscribe(ValueChanged, name="test") as sub:
        async with trio.open_nursery() as nursery:
            await nursery.start(simulator.run)
            await trio.sleep(62)  # not 60: a tie with the sample at 60 s has no set order
            nursery.cancel_scope.cancel()
        events = [e for e in drain(sub) if isinstance(e, ValueChanged)]
    # t = 0, 5, ..., 60 for the 5 s points; t = 0, 20, 40, 60 for the slow one.
    assert simulator.statistics().samples == 13 + 4 + 13
    times = [e.ts_ms for e in events if e.node_id == "m/fast"]
    assert [b - a for a, b in itertools.pairwise(times)] == [5000] * 12
    # A constant enum publishes once; it is change-of-value like a poller.
    assert [e.value for e in events if e.node_id == "m/mode"] == [2]
    assert all(isinstance(e.value, float) for e in events if e.node_id != "m/mode")


async def test_deadband_suppresses_small_changes(
    bus: EventBus, clock: TrioClock, autojump_clock: trio.abc.Clock
) -> None:
    points = PointStore(bus, clock)
    simulator = Simulator.from_scenario(parse_scenario(TEXT), points=points, clock=clock)
    with bus.subscribe(ValueChanged, name="test") as sub:
        async with trio.open_nursery() as nursery:
            await nursery.start(simulator.run)
            await trio.sleep(1202)
            nursery.cancel_scope.cancel()
        slow = [e.value for e in drain(sub) if getattr(e, "node_id", None) == "m/slow"]
    assert 1 < len(slow) < 1200 // 20 + 1
    assert all(abs(b - a) >= 1.0 for a, b in itertools.pairwise(slow))  # type: ignore[operator]


async def test_same_seed_gives_the_same_run(
    clock: TrioClock, autojump_clock: trio.abc.Clock
) -> None:
    async def run_once() -> list[tuple[str, object]]:
        bus = EventBus()
        points = PointStore(bus, clock)
        simulator = Simulator.from_scenario(parse_scenario(TEXT), points=points, clock=clock)
        with bus.subscribe(ValueChanged, name="test") as sub:
            async with trio.open_nursery() as nursery:
                await nursery.start(simulator.run)
                await trio.sleep(302)
                nursery.cancel_scope.cancel()
            return [(e.node_id, e.value) for e in drain(sub) if isinstance(e, ValueChanged)]

    first, second = await run_once(), await run_once()
    assert len(first) > 50
    assert first == second


async def test_an_override_wins_over_the_simulation(
    bus: EventBus, clock: TrioClock, autojump_clock: trio.abc.Clock
) -> None:
    points = PointStore(bus, clock)
    simulator = Simulator.from_scenario(parse_scenario(TEXT), points=points, clock=clock)
    async with trio.open_nursery() as nursery:
        await nursery.start(simulator.run)
        points.override("m/fast", 99.0)
        await trio.sleep(60)
        state = points.get("m/fast")
        assert state is not None
        assert state.value == 99.0
        source = points.source("m/fast")
        assert source is not None
        assert source.value != 99.0
        nursery.cancel_scope.cancel()


async def test_a_bad_scenario_file_fails_before_start(
    tmp_path: Path, bus: EventBus, clock: TrioClock
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[[site]]\nid = "a"\ndis = "A"\ncolour = "red"\n', encoding="utf-8")
    simulator = Simulator.from_scenario_file(path, points=PointStore(bus, clock), clock=clock)
    with pytest.RaisesGroup(pytest.RaisesExc(ConfigError, match="colour")):
        async with trio.open_nursery() as nursery:
            await nursery.start(simulator.run)


async def test_demo_zone_temperature_crosses_26_for_a_few_minutes_every_ten(
    bus: EventBus, clock: TrioClock, autojump_clock: trio.abc.Clock
) -> None:
    points = PointStore(bus, clock)
    simulator = Simulator.from_scenario_file(EXAMPLE, points=points, clock=clock)
    above: list[bool] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(simulator.run)
        for _ in range(30 * 12):  # 30 minutes, every 5 s
            state = points.get("1101/analog-input-1")
            assert state is not None
            assert isinstance(state.value, float)
            above.append(state.value > 26.0)
            await trio.sleep(5)
        nursery.cancel_scope.cancel()
    assert simulator.statistics().points == len(load_scenario(EXAMPLE).signals())
    first = above.index(True) * 5
    assert 30 <= first <= 180, "the first excursion comes soon after start"
    for window in range(3):
        minutes_above = sum(above[window * 120 : (window + 1) * 120]) * 5 / 60
        assert 1.5 <= minutes_above <= 4.0
