"""Limit alarms: delay, deadband, low limits, rule sources, and the demo building's alarm."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from opencrate.clock import TrioClock
from opencrate.engines.alarm_settings import AlarmSettings, LimitRule, StaleAction
from opencrate.engines.limit_alarms import HIGH_LIMIT, LOW_LIMIT, LimitAlarms
from opencrate.errors import ConfigError
from opencrate.model.node import Node
from opencrate.runtime.bus import EventBus
from opencrate.runtime.events import AlarmCleared, AlarmRaised
from opencrate.scenario.loader import load_scenario_into
from opencrate.scenario.simulate import Simulator
from opencrate.stores.alarms import AlarmStore, Severity
from opencrate.stores.nodes import NodeStore
from opencrate.stores.points import PointStore

ZONE = "2001/zat"
RULE = {"high": 26, "low": 16, "deadband": 0.5, "delay_s": 60, "severity": "minor"}
OFFICE = Path(__file__).parents[2] / "examples" / "office.toml"


class Rig:
    def __init__(self, bus: EventBus, nodes: NodeStore, alarms: AlarmStore, clock: TrioClock):
        self.bus, self.nodes, self.alarms = bus, nodes, alarms
        self.points = PointStore(bus, clock)


@pytest.fixture
async def rig(tmp_path: Path, bus: EventBus, clock: TrioClock) -> AsyncIterator[Rig]:
    async with (
        NodeStore(tmp_path / "nodes.db", bus=bus, clock=clock).running() as nodes,
        AlarmStore(tmp_path / "alarms.db", bus=bus, clock=clock).running() as alarms,
    ):
        yield Rig(bus, nodes, alarms, clock)


def zone(properties: dict[str, Any]) -> Node:
    return Node.from_dict(
        {"id": ZONE, "node_type": "point", "dis": "Zone Air Temp", "unit": "°C",
         "kind": "number", "properties": properties}
    )  # fmt: skip


async def settle() -> None:
    await trio.testing.wait_all_tasks_blocked()


async def test_high_limit_raises_only_after_the_delay_and_clears_past_the_deadband(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    await rig.nodes.create(zone({"alarm": RULE}))
    engine = LimitAlarms(rig.bus, nodes=rig.nodes, points=rig.points, store=rig.alarms)
    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        rig.points.set(ZONE, 26.5)
        await trio.sleep(59)
        assert rig.alarms.open_alarm(ZONE, HIGH_LIMIT) is None  # delay not over
        await trio.sleep(2)
        alarm = rig.alarms.open_alarm(ZONE, HIGH_LIMIT)
        assert alarm is not None
        assert alarm.severity is Severity.MINOR
        assert alarm.message == "Zone Air Temp 26.5 °C above high limit 26 °C"
        rig.points.set(ZONE, 25.8)  # inside, but not by the deadband
        await settle()
        assert alarm == rig.alarms.open_alarm(ZONE, HIGH_LIMIT)
        rig.points.set(ZONE, 25.4)
        await settle()
        cleared = rig.alarms.open_alarm(ZONE, HIGH_LIMIT)
        assert cleared is not None
        assert not cleared.active
        nursery.cancel_scope.cancel()


async def test_a_dip_back_inside_during_the_delay_restarts_it(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    await rig.nodes.create(zone({"alarm": RULE}))
    engine = LimitAlarms(rig.bus, nodes=rig.nodes, points=rig.points, store=rig.alarms)
    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        rig.points.set(ZONE, 27.0)
        await trio.sleep(40)
        rig.points.set(ZONE, 25.9)  # condition gone: the delay is cancelled
        await trio.sleep(5)
        rig.points.set(ZONE, 27.0)
        await trio.sleep(40)
        assert rig.alarms.open_alarm(ZONE, HIGH_LIMIT) is None  # 85 s, but only 40 s above
        await trio.sleep(25)
        assert rig.alarms.open_alarm(ZONE, HIGH_LIMIT) is not None
        nursery.cancel_scope.cancel()


async def test_low_limit_without_delay_and_values_present_at_start(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    rule = {"low": 16, "deadband": 1, "severity": "major"}
    await rig.nodes.create(zone({"alarm": rule}))
    rig.points.set(ZONE, 15.0)  # already beyond the limit when the engine starts
    engine = LimitAlarms(rig.bus, nodes=rig.nodes, points=rig.points, store=rig.alarms)
    with rig.bus.subscribe(AlarmRaised, AlarmCleared) as sub:
        async with trio.open_nursery() as nursery:
            await nursery.start(engine.run)
            low = rig.alarms.open_alarm(ZONE, LOW_LIMIT)
            assert low is not None
            assert low.severity is Severity.MAJOR
            rig.points.set(ZONE, 16.5)
            await settle()
            still = rig.alarms.open_alarm(ZONE, LOW_LIMIT)
            assert still is not None
            assert still.active
            rig.points.set(ZONE, 17.5)
            await settle()
            nursery.cancel_scope.cancel()
        events = await sub.receive_batch()
    assert [type(e).__name__ for e in events] == ["AlarmRaised", "AlarmCleared"]


async def test_rules_follow_node_updates_and_settings_win(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    await rig.nodes.create(zone({}))
    configured = {ZONE: LimitRule(high=30.0)}
    engine = LimitAlarms(
        rig.bus, nodes=rig.nodes, points=rig.points, store=rig.alarms, configured={}
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        assert engine.rule(ZONE) is None
        await rig.nodes.update(ZONE, properties={"alarm": {"high": 20}})
        await settle()
        assert engine.rule(ZONE) == LimitRule(high=20.0)
        await rig.nodes.update(ZONE, properties={"alarm": {"high": "hot"}})
        await settle()
        assert engine.rule(ZONE) is None  # a bad rule is skipped, not guessed
        assert engine.statistics().bad_rules == 1
        nursery.cancel_scope.cancel()
    both = LimitAlarms(
        rig.bus, nodes=rig.nodes, points=rig.points, store=rig.alarms, configured=configured
    )
    both.reload_rules()
    assert both.rule(ZONE) == LimitRule(high=30.0)


def test_settings_section_is_read_and_errors_name_the_key() -> None:
    settings = AlarmSettings.from_section(
        {
            "stale_check_interval": "10s",
            "stale_max_age": "15m",
            "stale_action": "clear",
            "limits": {ZONE: RULE},
        }
    )
    assert settings.stale_check_interval_s == 10
    assert settings.stale_max_age_s == 900
    assert settings.stale_action is StaleAction.CLEAR
    assert settings.limits[ZONE].delay_s == 60
    assert AlarmSettings.from_section(None) == AlarmSettings()
    bad: list[tuple[dict[str, Any], str]] = [
        ({"stale_check_interval": "soon"}, "alarms.stale_check_interval"),
        ({"stale_action": "ignore"}, "alarms.stale_action"),
        ({"colour": "red"}, "alarms.colour"),
        ({"limits": {ZONE: {"high": 10, "low": 20}}}, f"alarms.limits.{ZONE}.low"),
        ({"limits": {ZONE: {"deadband": 1}}}, f"alarms.limits.{ZONE}"),
        ({"limits": {ZONE: {"high": 1, "severity": "dire"}}}, f"alarms.limits.{ZONE}.severity"),
        ({"limits": {ZONE: {"high": 1, "hysteresis": 2}}}, f"alarms.limits.{ZONE}.hysteresis"),
    ]
    for section, key in bad:
        with pytest.raises(ConfigError) as caught:
            AlarmSettings.from_section(section)
        assert caught.value.key == key


async def test_the_demo_building_raises_and_clears_an_alarm_within_minutes(
    rig: Rig, clock: TrioClock, autojump_clock: trio.testing.MockClock
) -> None:
    await load_scenario_into(OFFICE, rig.nodes)
    simulator = Simulator.from_scenario_file(OFFICE, points=rig.points, clock=clock)
    engine = LimitAlarms(rig.bus, nodes=rig.nodes, points=rig.points, store=rig.alarms)
    raised: list[AlarmRaised] = []
    cleared: list[AlarmCleared] = []
    with rig.bus.subscribe(AlarmRaised, AlarmCleared) as sub:
        async with trio.open_nursery() as nursery:
            await nursery.start(simulator.run)
            await nursery.start(engine.run)
            with trio.move_on_after(6 * 60):
                while not (raised and cleared):
                    for event in await sub.receive_batch():
                        if isinstance(event, AlarmRaised):
                            raised.append(event)
                        elif isinstance(event, AlarmCleared):
                            cleared.append(event)
            nursery.cancel_scope.cancel()
    assert raised, "no alarm raised within 6 simulated minutes"
    assert cleared, "the alarm did not clear within 6 simulated minutes"
    assert raised[0].node_id == "1101/analog-input-1"
    assert cleared[0].alarm_id == raised[0].alarm_id
