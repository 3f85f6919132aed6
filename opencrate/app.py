"""The composition root: every store, engine and the API, wired into start levels.

:class:`Services` owns one instance of each store plus the bus, the clock and
the point table; :meth:`Services.supervisor` arranges them into the levels of
architecture §1. Components add themselves here, and only here: a store to
:meth:`Services.create` and :meth:`Services.stores`, a long-running task to the
level it belongs to in :meth:`Services.levels`.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import trio
from attrs import define, field

from opencrate.clock import Clock, SystemClock
from opencrate.components.alarms.flags import AlarmFlags
from opencrate.components.alarms.store import AlarmStore
from opencrate.components.audit.store import AuditStore
from opencrate.components.entities.store import EntityStore
from opencrate.components.eventlog.store import EventLogStore
from opencrate.components.history.setup import Persistence
from opencrate.components.nodes.store import NodeStore
from opencrate.components.overrides.cleanup import NodeCleanup
from opencrate.components.overrides.store import OverrideStore
from opencrate.components.points.store import PointStore
from opencrate.components.properties.store import PropertyStore
from opencrate.config import Settings
from opencrate.runtime.actor import StoreActor
from opencrate.runtime.bus import EventBus
from opencrate.runtime.supervisor import Level, Service, Supervisor

__all__ = ["Services"]

log = logging.getLogger(__name__)


@define
class Services:
    """Everything a running OpenCrate holds. Build with :meth:`create`."""

    settings: Settings
    clock: Clock
    bus: EventBus
    points: PointStore
    nodes: NodeStore
    entities: EntityStore
    audit: AuditStore
    overrides: OverrideStore
    events: EventLogStore
    persistence: Persistence
    alarms: AlarmStore
    properties: PropertyStore
    #: In-alarm / unacked flags per point, following the bus (runs at level 50).
    alarm_flags: AlarmFlags
    supervisor: Supervisor | None = None
    #: The URLs the API is bound to, once level 60 is reached.
    api_urls: list[str] = field(factory=list)

    @classmethod
    def create(cls, settings: Settings, *, clock: Clock | None = None) -> Services:
        clock = clock or SystemClock()
        data = settings.data_dir
        bus = EventBus()
        points = PointStore(bus, clock)
        nodes = NodeStore(data / "nodes.db", bus=bus, clock=clock)
        alarms = AlarmStore(data / "alarms.db", bus=bus, clock=clock)
        # Components read their own settings sections: their errors name only the
        # key, so name the settings file (and line) here, as build_supervisor does.
        with settings.errors_located():
            persistence = Persistence.build(
                settings, bus=bus, points=points, nodes=nodes, clock=clock
            )
            properties = PropertyStore.from_section(
                data / "properties.db", settings.sections.get("properties"), clock=clock
            )
        return cls(
            settings=settings,
            clock=clock,
            bus=bus,
            points=points,
            nodes=nodes,
            entities=EntityStore(data / "entities.db", bus=bus, clock=clock),
            audit=AuditStore(data / "audit.db", clock=clock),
            overrides=OverrideStore(data / "overrides.db", points=points, bus=bus, clock=clock),
            events=EventLogStore(data / "events.db", clock=clock),
            persistence=persistence,
            alarms=alarms,
            properties=properties,
            alarm_flags=AlarmFlags(bus, alarms, capacity=settings.bus_capacity),
        )

    def stores(self) -> list[StoreActor]:
        """Every store actor, in the order they open (and the reverse of closing)."""
        return [
            self.nodes,
            self.entities,
            self.audit,
            self.overrides,
            self.events,
            self.alarms,
            self.properties,
            *self.persistence.stores(),
        ]

    def levels(self) -> list[Level]:
        """The start levels 20-60 (level 10 is the stores)."""
        event_recorder, event_purger = self._event_log_services()
        return [
            Level(number=20, name="model", steps=[self._load_model]),
            # restoreOnStartup runs inside the persistence service before it reports
            # started; it and the event log subscribe before bridges (40) publish.
            Level(
                number=30,
                name="restore",
                steps=[self._backfill],
                services=[Service(name="persistence", run=self.persistence.run), event_recorder],
            ),
            Level(number=40, name="bridges", services=self._bridges()),
            Level(
                number=50,
                name="engines",
                services=[
                    Service(name="override-expiry", run=self.overrides.run_expiry),
                    Service(name="node-cleanup", run=self._node_cleanup().run),
                    event_purger,
                    # Each sqlite service's [retention], following config changes.
                    Service(name="history-retention", run=self.persistence.retention.run),
                    *self._alarm_services(),
                ],
            ),
            Level(number=60, name="api", services=[self._api_service()], grace_s=2.0),
        ]

    def build_supervisor(self) -> Supervisor:
        """The supervisor of :meth:`stores` and :meth:`levels`.

        Raises ConfigError, naming the settings file and line, for a bad
        component section read while building the levels (``[events]``,
        ``[alarms]``).
        """
        with self.settings.errors_located():
            levels = self.levels()
        self.supervisor = Supervisor(stores=self.stores(), levels=levels)
        return self.supervisor

    # -- level 20: the model -------------------------------------------------------
    async def _load_model(self) -> None:
        from opencrate.components.scenario.loader import load_scenario_into

        await self.entities.import_into(self.nodes)
        if self.settings.scenario is not None:
            report = await load_scenario_into(self.settings.scenario, self.nodes)
            log.info("scenario %s: %s", self.settings.scenario, report)

    # -- level 30, before restoreOnStartup: a simulated building's recent past ----------
    async def _backfill(self) -> None:
        if not (self.settings.simulate and self.settings.scenario is not None):
            return
        from opencrate.components.history.postgresql.service import PostgresService
        from opencrate.components.scenario.backfill import backfill_history
        from opencrate.components.scenario.parse import load_scenario

        scenario = await trio.to_thread.run_sync(load_scenario, self.settings.scenario)
        if scenario.backfill_s <= 0:
            return
        # PostgreSQL services start inside the level-30 persistence service, after
        # this step: they cannot take writes yet and get live data only.
        ready = {
            name: service
            for name, service in self.persistence.services.items()
            if not isinstance(service, PostgresService)
        }
        await backfill_history(
            scenario,
            manager=self.persistence.manager,
            services=ready,
            now_ms=self.clock.now_ms(),
        )

    # -- level 50: runtime state of deleted nodes --------------------------------------
    def _node_cleanup(self) -> NodeCleanup:
        return NodeCleanup(self.bus, points=self.points, overrides=self.overrides)

    # -- levels 30 and 50: the event log's subscriber and purge job ------------------
    def _event_log_services(self) -> tuple[Service, Service]:
        from opencrate.components.eventlog.engine import EventLogRecorder, EventPurger
        from opencrate.components.eventlog.rules import EventLogSettings

        settings = EventLogSettings.from_section(self.settings.sections.get("events"))
        recorder = EventLogRecorder(
            self.bus, self.events, settings, capacity=self.settings.bus_capacity
        )
        purger = EventPurger(self.events, settings, clock=self.clock)
        return (
            Service(name="event-log", run=recorder.run),
            Service(name="event-purge", run=purger.run),
        )

    # -- level 50: alarm engines ---------------------------------------------------------
    def _alarm_services(self) -> list[Service]:
        from opencrate.components.alarms.flags import StaleAlarmCheck
        from opencrate.components.alarms.limits import LimitAlarms
        from opencrate.components.alarms.settings import AlarmSettings

        settings = AlarmSettings.from_section(self.settings.sections.get("alarms"))
        limits = LimitAlarms(
            self.bus,
            nodes=self.nodes,
            points=self.points,
            store=self.alarms,
            configured=settings.limits,
            capacity=self.settings.bus_capacity,
        )
        stale = StaleAlarmCheck(
            self.alarms,
            self.points,
            clock=self.clock,
            interval_s=settings.stale_check_interval_s,
            max_age_s=settings.stale_max_age_s,
            action=settings.stale_action,
        )
        return [
            Service(name="alarm-flags", run=self.alarm_flags.run),
            Service(name="limit-alarms", run=limits.run),
            Service(name="stale-alarm-check", run=stale.run),
        ]

    # -- level 40: bridges and simulators -------------------------------------------
    def _bridges(self) -> list[Service]:
        if not (self.settings.simulate and self.settings.scenario is not None):
            return []
        from opencrate.components.scenario.simulate import Simulator

        simulator = Simulator.from_scenario_file(
            self.settings.scenario, points=self.points, clock=self.clock
        )
        return [Service(name="simulator", run=simulator.run)]

    # -- level 60: the API ----------------------------------------------------------
    def _api_service(self) -> Service:
        from opencrate.api.app import create_app
        from opencrate.api.server import serve_api

        async def run_api(*, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
            assert self.supervisor is not None
            app = create_app(self)
            async with trio.open_nursery() as nursery:
                self.api_urls = await nursery.start(
                    partial(
                        serve_api,
                        app,
                        host=self.settings.host,
                        port=self.settings.port,
                        shutdown_trigger=self.supervisor.shutdown_requested.wait,
                    )
                )
                log.info("API listening on %s", ", ".join(self.api_urls))
                task_status.started()

        # Not restarted: an API that cannot bind its port must stop the process
        # with an error, not leave a headless server that claims level 60.
        return Service(name="api", run=run_api, restart=False)
