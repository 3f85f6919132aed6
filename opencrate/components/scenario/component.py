"""The scenario component: a building from a TOML file, its recent past, and its simulator.

With ``[scenario] file`` set, level 20 loads the file into the node model; with
``simulate`` too, level 30 back-fills the scenario's recent history (before
restoreOnStartup) and level 40 runs the simulator that drives its points, as a
bridge would.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Self

import trio
from attrs import define

from opencrate.clock import Clock
from opencrate.components.history.setup import Persistence
from opencrate.components.nodes.store import NodeStore
from opencrate.components.points.store import PointStore
from opencrate.config import Settings
from opencrate.runtime.component import BuildContext, Component, Contribution
from opencrate.runtime.supervisor import Service

__all__ = ["ScenarioComponent"]

log = logging.getLogger(__name__)


@define
class ScenarioComponent(Component):
    settings: Settings
    clock: Clock
    nodes: NodeStore
    points: PointStore
    persistence: Persistence

    @classmethod
    def build(cls, ctx: BuildContext) -> Self:
        return cls(
            settings=ctx.settings,
            clock=ctx.clock,
            nodes=ctx.get(NodeStore),
            points=ctx.get(PointStore),
            persistence=ctx.get(Persistence),
        )

    def contributes(self) -> Sequence[Contribution]:
        if self.settings.scenario is None:
            return ()
        parts = [Contribution(level=20, steps=[self._load])]
        if self.settings.simulate:
            parts.append(Contribution(level=30, steps=[self._backfill]))
            parts.append(Contribution(level=40, services=[self._simulator()]))
        return parts

    async def _load(self) -> None:
        from opencrate.components.scenario.loader import load_scenario_into

        assert self.settings.scenario is not None
        report = await load_scenario_into(self.settings.scenario, self.nodes)
        log.info("scenario %s: %s", self.settings.scenario, report)

    async def _backfill(self) -> None:
        from opencrate.components.history.postgresql.service import PostgresService
        from opencrate.components.scenario.backfill import backfill_history
        from opencrate.components.scenario.parse import load_scenario

        assert self.settings.scenario is not None
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

    def _simulator(self) -> Service:
        from opencrate.components.scenario.simulate import Simulator

        assert self.settings.scenario is not None
        simulator = Simulator.from_scenario_file(
            self.settings.scenario, points=self.points, clock=self.clock
        )
        return Service(name="simulator", run=simulator.run)
