"""The composition root: the components, in order, and the running system built from them.

:data:`COMPONENTS` is the one list of what OpenCrate is made of. Each entry is a
component package's :class:`~opencrate.runtime.component.ComponentSpec`; a
component is built after those above it, so it may use what they provide.
Adding a component is one new package under :mod:`opencrate.components` and
one line here: its stores, start-level services, routes, CLI group and
settings sections come from its declaration.

:class:`Services` is one running system: the shared core (settings, clock,
bus), the built components, and the supervisor that arranges their stores and
services into the start levels of architecture §1 (the API at 60 is added
here, as shared machinery).
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any, TypeVar

import trio
from attrs import define, field

from opencrate.clock import Clock, SystemClock
from opencrate.components.alarms import COMPONENT as ALARMS
from opencrate.components.audit import COMPONENT as AUDIT
from opencrate.components.bacnet import COMPONENT as BACNET
from opencrate.components.devices import COMPONENT as DEVICES
from opencrate.components.entities import COMPONENT as ENTITIES
from opencrate.components.eventlog import COMPONENT as EVENTLOG
from opencrate.components.history import COMPONENT as HISTORY
from opencrate.components.modbus import COMPONENT as MODBUS
from opencrate.components.nodes import COMPONENT as NODES
from opencrate.components.overrides import COMPONENT as OVERRIDES
from opencrate.components.points import COMPONENT as POINTS
from opencrate.components.properties import COMPONENT as PROPERTIES
from opencrate.components.scenario import COMPONENT as SCENARIO
from opencrate.components.users import COMPONENT as USERS
from opencrate.config import Settings
from opencrate.runtime.actor import StoreActor
from opencrate.runtime.bus import EventBus
from opencrate.runtime.component import ComponentSpec, Registry
from opencrate.runtime.supervisor import Level, Service, Supervisor

__all__ = ["COMPONENTS", "Services"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Every component, in build order (and store-opening order; closing is the reverse).
COMPONENTS: tuple[ComponentSpec, ...] = (
    POINTS,
    NODES,
    ENTITIES,
    AUDIT,
    USERS,
    OVERRIDES,
    # Before the event log: restoreOnStartup (level 30) runs before it subscribes.
    HISTORY,
    EVENTLOG,
    ALARMS,
    PROPERTIES,
    SCENARIO,
    # Before the bridges: they register their devices and writers with it when built.
    DEVICES,
    # After the scenario: its nodes are loaded (level 20) before the bridge reads them (40).
    MODBUS,
    BACNET,
)


@define
class Services:
    """Everything a running OpenCrate holds. Build with :meth:`create`."""

    settings: Settings
    clock: Clock
    bus: EventBus
    registry: Registry
    #: The declarations it was built from (:data:`COMPONENTS` unless a test adds one).
    components: tuple[ComponentSpec, ...] = COMPONENTS
    supervisor: Supervisor | None = None
    #: The URLs the API is bound to, once level 60 is reached.
    api_urls: list[str] = field(factory=list)

    @classmethod
    def create(
        cls,
        settings: Settings,
        *,
        clock: Clock | None = None,
        components: tuple[ComponentSpec, ...] = COMPONENTS,
    ) -> Services:
        """Build every component in order. Raises ConfigError naming the settings file and line."""
        services = cls(
            settings=settings,
            clock=clock or SystemClock(),
            bus=EventBus(),
            registry=Registry(),
            components=components,
        )
        # Components read their own settings sections: their errors name only the
        # key, so name the settings file (and line) here, as build_supervisor does.
        with settings.errors_located():
            for spec in components:
                services.registry.add(spec.name, spec.build(services))
        return services

    def get(self, kind: type[T]) -> T:
        """The object of type ``kind`` a component provides (``services.get(NodeStore)``)."""
        return self.registry.get(kind)

    def stores(self) -> list[StoreActor]:
        """Every store actor, in the order they open (and the reverse of closing)."""
        return self.registry.stores()

    def levels(self) -> list[Level]:
        """The start levels 20-60 (level 10 is the stores)."""
        api = Level(number=60, name="api", services=[self._api_service()], grace_s=2.0)
        return self.registry.levels(extra=[api])

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
                        certfile=self.settings.certfile,
                        keyfile=self.settings.keyfile,
                        shutdown_trigger=self.supervisor.shutdown_requested.wait,
                    )
                )
                log.info("API listening on %s", ", ".join(self.api_urls))
                task_status.started()

        # Not restarted: an API that cannot bind its port must stop the process
        # with an error, not leave a headless server that claims level 60.
        return Service(name="api", run=run_api, restart=False)
