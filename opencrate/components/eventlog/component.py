"""The event log component: bus events recorded by rule (``events.db``), expired ones purged."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

from attrs import define

from opencrate.clock import Clock
from opencrate.components.eventlog.store import EventLogStore
from opencrate.runtime.actor import StoreActor
from opencrate.runtime.bus import EventBus
from opencrate.runtime.component import BuildContext, Component, Contribution
from opencrate.runtime.supervisor import Service

__all__ = ["EventLogComponent"]


@define
class EventLogComponent(Component):
    store: EventLogStore
    bus: EventBus
    clock: Clock
    #: The ``[events]`` section as read; checked when the supervisor is built.
    section: Any
    capacity: int

    @classmethod
    def build(cls, ctx: BuildContext) -> Self:
        return cls(
            store=EventLogStore(ctx.settings.data_dir / "events.db", clock=ctx.clock),
            bus=ctx.bus,
            clock=ctx.clock,
            section=ctx.settings.sections.get("events"),
            capacity=ctx.settings.bus_capacity,
        )

    def stores(self) -> Sequence[StoreActor]:
        return (self.store,)

    def contributes(self) -> Sequence[Contribution]:
        from opencrate.components.eventlog.engine import EventLogRecorder, EventPurger
        from opencrate.components.eventlog.rules import EventLogSettings

        settings = EventLogSettings.from_section(self.section)
        recorder = EventLogRecorder(self.bus, self.store, settings, capacity=self.capacity)
        purger = EventPurger(self.store, settings, clock=self.clock)
        return (
            # Subscribed before the bridges (40) publish.
            Contribution(level=30, services=[Service(name="event-log", run=recorder.run)]),
            Contribution(level=50, services=[Service(name="event-purge", run=purger.run)]),
        )
