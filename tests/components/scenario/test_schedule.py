"""SignalSchedule: the scenario's samplers, due by elapsed time, for drivers on any loop."""

from __future__ import annotations

from opencrate.components.scenario.parse import parse_scenario
from opencrate.components.scenario.schedule import SignalSchedule
from opencrate.components.scenario.signals import SignalSampler, point_rng

SCENARIO = """
[scenario]
name = "s"
seed = 7
[[site]]
id = "s"
dis = "S"
[[equip]]
id = "e"
dis = "E"
parent = "s"
[[equip.point]]
id = "fast"
dis = "Fast"
signal = { shape = "random_walk", start = 10.0, step = 1.0, interval = "2s" }
[[equip.point]]
id = "slow"
dis = "Slow"
signal = { shape = "ramp", start = 0.0, rate = 3600.0, interval = "5s" }
[[equip.point]]
id = "still"
dis = "Still"
"""


def test_points_are_due_on_their_own_intervals_with_the_scenario_samplers_values() -> None:
    scenario = parse_scenario(SCENARIO)
    schedule = SignalSchedule(scenario.points(), seed=scenario.seed)
    assert len(schedule) == 2  # the point without a signal is left out
    spec = {p.node_id: p for p in scenario.points()}["e/fast"]
    assert spec.signal is not None
    reference = SignalSampler(spec.signal, spec.kind, point_rng(7, "e/fast"))
    first = dict(schedule.first())
    assert first == {"e/fast": reference.sample(0.0), "e/slow": 0.0}
    assert schedule.next_due_s() == 2.0
    assert schedule.due(1.9) == []
    expected = [("e/fast", reference.sample(2.0)), ("e/fast", reference.sample(4.0))]
    assert schedule.due(4.0) == expected
    assert schedule.next_due_s() == 5.0


def test_a_driver_that_fell_behind_skips_the_missed_samples_and_keeps_the_phase() -> None:
    scenario = parse_scenario(SCENARIO)
    schedule = SignalSchedule(scenario.points(), seed=scenario.seed)
    schedule.first()
    samples = schedule.due(11.0)
    # One sample each (at its first due time), then the next due time on the original grid.
    assert [node for node, _ in samples] == ["e/fast", "e/slow"]
    assert dict(samples)["e/slow"] == 5.0  # the ramp at 5 s: 3600/h
    assert schedule.next_due_s() == 12.0
    assert [node for node, _ in schedule.due(15.0)] == ["e/fast", "e/slow"]


def test_no_signals_means_nothing_is_ever_due() -> None:
    schedule = SignalSchedule((), seed=0)
    assert schedule.first() == []
    assert schedule.next_due_s() is None
    assert schedule.due(1e9) == []
