"""The alarms component: alarm records (``alarms.db``), limit and stale-value engines, flags."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

from attrs import define

from opencrate.clock import Clock
from opencrate.components.alarms.flags import AlarmFlags
from opencrate.components.alarms.store import AlarmStore
from opencrate.components.nodes.store import NodeStore
from opencrate.components.points.store import PointStore
from opencrate.runtime.actor import StoreActor
from opencrate.runtime.bus import EventBus
from opencrate.runtime.component import BuildContext, Component, Contribution
from opencrate.runtime.supervisor import Service

__all__ = ["AlarmsComponent"]


@define
class AlarmsComponent(Component):
    store: AlarmStore
    #: In-alarm / unacked flags per point, following the bus (runs at level 50).
    flags: AlarmFlags
    bus: EventBus
    clock: Clock
    nodes: NodeStore
    points: PointStore
    #: The ``[alarms]`` section as read; checked when the supervisor is built.
    section: Any
    capacity: int

    @classmethod
    def build(cls, ctx: BuildContext) -> Self:
        store = AlarmStore(ctx.settings.data_dir / "alarms.db", bus=ctx.bus, clock=ctx.clock)
        capacity = ctx.settings.bus_capacity
        return cls(
            store=store,
            flags=AlarmFlags(ctx.bus, store, capacity=capacity),
            bus=ctx.bus,
            clock=ctx.clock,
            nodes=ctx.get(NodeStore),
            points=ctx.get(PointStore),
            section=ctx.settings.sections.get("alarms"),
            capacity=capacity,
        )

    def provides(self) -> Sequence[object]:
        return (self.store, self.flags)

    def stores(self) -> Sequence[StoreActor]:
        return (self.store,)

    def contributes(self) -> Sequence[Contribution]:
        from opencrate.components.alarms.flags import StaleAlarmCheck
        from opencrate.components.alarms.limits import LimitAlarms
        from opencrate.components.alarms.settings import AlarmSettings

        settings = AlarmSettings.from_section(self.section)
        limits = LimitAlarms(
            self.bus,
            nodes=self.nodes,
            points=self.points,
            store=self.store,
            configured=settings.limits,
            capacity=self.capacity,
        )
        stale = StaleAlarmCheck(
            self.store,
            self.points,
            clock=self.clock,
            interval_s=settings.stale_check_interval_s,
            max_age_s=settings.stale_max_age_s,
            action=settings.stale_action,
        )
        services = [
            Service(name="alarm-flags", run=self.flags.run),
            Service(name="limit-alarms", run=limits.run),
            Service(name="stale-alarm-check", run=stale.run),
        ]
        return (Contribution(level=50, services=services),)
