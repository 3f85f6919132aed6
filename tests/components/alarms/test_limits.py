"""Limit alarms: delay, deadband, low limits, rule sources, and the demo building's alarm."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from opencrate.clock import TrioClock
from opencrate.components.alarms.limits import HIGH_LIMIT, LOW_LIMIT, LimitAlarms
from opencrate.components.alarms.settings import AlarmSettings, LimitRule, StaleAction
from opencrate.components.alarms.store import AlarmStore, Severity
from opencrate.components.nodes.store import NodeStore
from opencrate.components.points.store import PointStore
from opencrate.components.scenario.loader import load_scenario_into
from opencrate.components.scenario.simulate import Simulator
from opencrate.errors import ConfigError, InvalidInput
from opencrate.model.node import Node
from opencrate.runtime.bus import EventBus
from opencrate.runtime.events import (
    AlarmCleared,
    AlarmRaised,
    EntityUpdated,
    Event,
    Lagged,
    ValueChanged,
)
from opencrate.runtime.fanout import Subscription
from tests.harness import REPO_ROOT

ZONE = "2001/zat"
RULE = {"high": 26, "low": 16, "deadband": 0.5, "delay_s": 60, "severity": "minor"}
OFFICE = REPO_ROOT / "examples" / "office.toml"


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
    """Let the engine handle what was published (no store writes involved)."""
    await trio.testing.wait_all_tasks_blocked()


async def next_alarm_event(sub: Subscription[Event]) -> Event:
    """The next alarm event, however long the engine's store write takes.

    No timeout on purpose: under autojump_clock virtual time jumps while a
    store write waits on its worker thread, so a timeout could fire before a
    write that is on its way.
    """
    while True:
        item = await sub.receive()
        if not isinstance(item, Lagged):
            return item


async def test_high_limit_raises_only_after_the_delay_and_clears_past_the_deadband(
    rig: Rig, clock: TrioClock, autojump_clock: trio.testing.MockClock
) -> None:
    await rig.nodes.create(zone({"alarm": RULE}))
    engine = LimitAlarms(rig.bus, nodes=rig.nodes, points=rig.points, store=rig.alarms)
    with rig.bus.subscribe(AlarmRaised, AlarmCleared) as sub:
        async with trio.open_nursery() as nursery:
            await nursery.start(engine.run)
            start = trio.current_time()
            rig.points.set(ZONE, 26.5)
            await trio.sleep(59)
            assert rig.alarms.open_alarm(ZONE, HIGH_LIMIT) is None  # delay not over
            raised = await next_alarm_event(sub)
            assert isinstance(raised, AlarmRaised)
            assert trio.current_time() - start >= 60
            alarm = rig.alarms.open_alarm(ZONE, HIGH_LIMIT)
            assert alarm is not None
            assert alarm.severity is Severity.MINOR
            assert alarm.message == "Zone Air Temp 26.5 °C above high limit 26 °C"
            rig.points.set(ZONE, 25.8)  # inside, but not by the deadband
            await trio.sleep(10)
            back_ms = clock.now_ms()
            rig.points.set(ZONE, 25.4)
            cleared_event = await next_alarm_event(sub)
            assert isinstance(cleared_event, AlarmCleared)
            cleared = rig.alarms.open_alarm(ZONE, HIGH_LIMIT)
            assert cleared is not None
            assert cleared.cleared_ms == back_ms  # cleared by 25.4, not by 25.8
            nursery.cancel_scope.cancel()


async def test_a_dip_back_inside_during_the_delay_restarts_it(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    await rig.nodes.create(zone({"alarm": RULE}))
    engine = LimitAlarms(rig.bus, nodes=rig.nodes, points=rig.points, store=rig.alarms)
    with rig.bus.subscribe(AlarmRaised) as sub:
        async with trio.open_nursery() as nursery:
            await nursery.start(engine.run)
            start = trio.current_time()
            rig.points.set(ZONE, 27.0)
            await trio.sleep(40)
            rig.points.set(ZONE, 25.9)  # condition gone: the delay is cancelled
            await trio.sleep(5)
            rig.points.set(ZONE, 27.0)
            await trio.sleep(40)
            assert rig.alarms.open_alarm(ZONE, HIGH_LIMIT) is None  # 85 s, only 40 s above
            await next_alarm_event(sub)
            assert trio.current_time() - start >= 105  # 45 s + the full 60 s delay
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
            await nursery.start(engine.run)  # checks current values before started()
            low = rig.alarms.open_alarm(ZONE, LOW_LIMIT)
            assert low is not None
            assert low.severity is Severity.MAJOR
            assert isinstance(await next_alarm_event(sub), AlarmRaised)
            rig.points.set(ZONE, 16.5)  # inside, not by the deadband
            rig.points.set(ZONE, 17.5)
            cleared = await next_alarm_event(sub)
            assert isinstance(cleared, AlarmCleared)
            assert engine.statistics().cleared == 1
            nursery.cancel_scope.cancel()


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
        # The store refuses a bad rule; the engine keeps the stored one.
        with pytest.raises(InvalidInput, match=r"properties\.alarm\.high"):
            await rig.nodes.update(ZONE, properties={"alarm": {"high": "hot"}})
        await settle()
        assert rig.nodes.get(ZONE).properties["alarm"] == {"high": 20}
        assert engine.rule(ZONE) == LimitRule(high=20.0)
        assert engine.statistics().bad_rules == 0
        nursery.cancel_scope.cancel()
    both = LimitAlarms(
        rig.bus, nodes=rig.nodes, points=rig.points, store=rig.alarms, configured=configured
    )
    both.reload_rules()
    assert both.rule(ZONE) == LimitRule(high=30.0)


async def test_a_bad_rule_stored_before_the_check_is_skipped_not_fatal(
    tmp_path: Path, bus: EventBus, clock: TrioClock, autojump_clock: trio.testing.MockClock
) -> None:
    # A database written before the NodeStore checked alarm rules may hold a
    # bad one: the store must still open and the engine must skip the rule.
    async with NodeStore(tmp_path / "nodes.db", bus=bus, clock=clock).running() as nodes:
        await nodes.create(zone({"alarm": {"high": 20}}))
    with sqlite3.connect(tmp_path / "nodes.db") as conn:
        conn.execute(
            "UPDATE node_property SET value = ? WHERE node_id = ? AND key = 'alarm'",
            (json.dumps({"high": "hot"}), ZONE),
        )
    conn.close()
    async with (
        NodeStore(tmp_path / "nodes.db", bus=bus, clock=clock).running() as nodes,
        AlarmStore(tmp_path / "alarms.db", bus=bus, clock=clock).running() as alarms,
    ):
        assert nodes.get(ZONE).properties["alarm"] == {"high": "hot"}
        engine = LimitAlarms(bus, nodes=nodes, points=PointStore(bus, clock), store=alarms)
        engine.reload_rules()
        assert engine.rule(ZONE) is None  # skipped, not guessed
        assert engine.statistics().bad_rules == 1
        # Other fields of such a node can still be changed; fixing the rule works.
        await nodes.update(ZONE, dis="Zone Air Temperature")
        await nodes.update(ZONE, properties={"alarm": {"high": 21}})
        engine.reload_rules()
        assert engine.rule(ZONE) == LimitRule(high=21.0)


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
    values: list[ValueChanged] = []
    demo_point = "1101/analog-input-1"
    with rig.bus.subscribe(
        AlarmRaised,
        AlarmCleared,
        ValueChanged,
        accept=lambda e: not isinstance(e, ValueChanged) or e.node_id == demo_point,
    ) as sub:
        async with trio.open_nursery() as nursery:
            start_ms = clock.now_ms()
            await nursery.start(simulator.run)
            await nursery.start(engine.run)
            # A generous bound: under autojump_clock virtual time runs on (simulator
            # ticks) while a store write waits on its thread, so the bound is not the
            # measure. The measure is the events' own timestamps, taken when a value
            # was sampled and when the engine decided to raise.
            with trio.move_on_after(24 * 3600):
                while not cleared:
                    for event in await sub.receive_batch():
                        if isinstance(event, AlarmRaised):
                            raised.append(event)
                        elif isinstance(event, AlarmCleared):
                            cleared.append(event)
                        elif isinstance(event, ValueChanged):
                            values.append(event)
            nursery.cancel_scope.cancel()
    assert raised, "no alarm raised"
    assert raised[0].node_id == demo_point
    raised_ms = raised[0].ts_ms
    assert raised_ms - start_ms <= 3 * 60_000  # about 75 s + the 30 s delay
    assert cleared, "the alarm never cleared"
    assert cleared[0].alarm_id == raised[0].alarm_id
    # The value that clears it (below high - deadband) was sampled within minutes.
    back = [v for v in values if v.ts_ms > raised_ms and float(v.value) < 25.5]
    assert back
    assert back[0].ts_ms - start_ms <= 6 * 60_000


async def test_after_lost_events_every_rule_is_checked_against_current_values(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    await rig.nodes.create(zone({"alarm": {"high": 26}}))
    engine = LimitAlarms(rig.bus, nodes=rig.nodes, points=rig.points, store=rig.alarms)
    engine.reload_rules()
    # The ValueChanged for 27 °C was dropped; only the marker arrives.
    rig.points.set(ZONE, 27.0)
    await engine.handle([Lagged(1)])
    assert rig.alarms.open_alarm(ZONE, HIGH_LIMIT) is not None


async def test_deleting_the_point_clears_its_limit_alarms(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    await rig.nodes.create(zone({"alarm": {"high": 26}}))
    rig.points.set(ZONE, 27.0)
    engine = LimitAlarms(rig.bus, nodes=rig.nodes, points=rig.points, store=rig.alarms)
    with rig.bus.subscribe(AlarmCleared) as sub:
        async with trio.open_nursery() as nursery:
            await nursery.start(engine.run)
            assert rig.alarms.open_alarm(ZONE, HIGH_LIMIT) is not None
            await rig.nodes.delete(ZONE)
            cleared = await next_alarm_event(sub)
            nursery.cancel_scope.cancel()
    assert isinstance(cleared, AlarmCleared)
    assert cleared.node_id == ZONE
    assert engine.rule(ZONE) is None


async def test_value_changes_of_points_without_a_limit_never_reach_the_engine(rig: Rig) -> None:
    await rig.nodes.create(zone({"alarm": RULE}))
    engine = LimitAlarms(rig.bus, nodes=rig.nodes, points=rig.points, store=rig.alarms)
    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        for i in range(100):
            rig.points.set(f"9999/other-{i}", 30.0)  # far above RULE's high, but no rule
        rig.points.set(ZONE, 21.0)
        await settle()
        (stats,) = [s for s in rig.bus.statistics().subscribers if s.name == "limit-alarms"]
        nursery.cancel_scope.cancel()
    # Filtered in publish: only the zone's own change was delivered.
    assert stats.delivered == 1
    assert stats.dropped == 0
    assert rig.alarms.active() == []


async def test_a_rule_update_that_removes_a_limit_drops_its_pending_delay(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    # Driven through handle(): with the engine's timer running, autojump_clock
    # could end the delay while the node update waits on its worker thread.
    await rig.nodes.create(zone({"alarm": {"high": 26, "delay_s": 60}}))
    rig.points.set(ZONE, 27.0)
    engine = LimitAlarms(rig.bus, nodes=rig.nodes, points=rig.points, store=rig.alarms)
    engine.reload_rules()
    await engine.evaluate_current()
    assert engine.statistics().pending == 1
    await rig.nodes.update(ZONE, properties={"alarm": {"low": 16}})
    await engine.handle([_updated(ZONE)])
    # The delay of the removed high limit used to end in a raise with no
    # limit (and a TypeError formatting its message, ending the engine).
    assert engine.statistics().pending == 0


async def test_a_rule_update_restarts_the_delay_under_the_new_limits(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    await rig.nodes.create(zone({"alarm": {"high": 26, "delay_s": 60}}))
    rig.points.set(ZONE, 27.0)
    engine = LimitAlarms(rig.bus, nodes=rig.nodes, points=rig.points, store=rig.alarms)
    engine.reload_rules()
    await engine.evaluate_current()
    assert engine.statistics().pending == 1
    # 27 is not beyond the new limit: the old delay must not end in a raise.
    await rig.nodes.update(ZONE, properties={"alarm": {"high": 30, "delay_s": 60}})
    await engine.handle([_updated(ZONE)])
    assert engine.statistics().pending == 0
    # 27 is beyond this one: the delay starts again without a new reading.
    await rig.nodes.update(ZONE, properties={"alarm": {"high": 25, "delay_s": 60}})
    await engine.handle([_updated(ZONE)])
    assert engine.statistics().pending == 1
    # An update that leaves the rule as it was keeps the running delay.
    await rig.nodes.update(ZONE, dis="Zone Air Temperature")
    await engine.handle([_updated(ZONE)])
    assert engine.statistics().pending == 1


def _updated(node_id: str) -> EntityUpdated:
    return EntityUpdated(ts_ms=0, entity_id=node_id, changed_fields=["properties"])


@pytest.mark.parametrize("alarm_property", [{"low": 16}, None], ids=["low-only", "no-rule"])
async def test_removing_a_limit_clears_its_active_alarm(
    rig: Rig, autojump_clock: trio.testing.MockClock, alarm_property: dict[str, Any] | None
) -> None:
    # Nothing else would ever clear it, so it could never close.
    await rig.nodes.create(zone({"alarm": {"high": 26}}))
    rig.points.set(ZONE, 27.0)
    engine = LimitAlarms(rig.bus, nodes=rig.nodes, points=rig.points, store=rig.alarms)
    engine.reload_rules()
    await engine.evaluate_current()
    assert rig.alarms.open_alarm(ZONE, HIGH_LIMIT) is not None
    properties = {} if alarm_property is None else {"alarm": alarm_property}
    await rig.nodes.update(ZONE, properties=properties)
    await engine.handle([_updated(ZONE)])
    alarm = rig.alarms.open_alarm(ZONE, HIGH_LIMIT)
    assert alarm is not None
    assert not alarm.active


async def test_at_start_an_active_alarm_of_a_limit_removed_meanwhile_is_cleared(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    await rig.nodes.create(zone({"alarm": {"low": 16}}))
    await rig.alarms.raise_alarm(ZONE, HIGH_LIMIT, "minor", "raised under an older rule")
    await rig.alarms.raise_alarm(ZONE, "comm_fault", "minor", "not a limit alarm")
    engine = LimitAlarms(rig.bus, nodes=rig.nodes, points=rig.points, store=rig.alarms)
    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        nursery.cancel_scope.cancel()
    high = rig.alarms.open_alarm(ZONE, HIGH_LIMIT)
    other = rig.alarms.open_alarm(ZONE, "comm_fault")
    assert high is not None
    assert not high.active
    assert other is not None
    assert other.active
