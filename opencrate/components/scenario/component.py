"""The scenario component: a building from a TOML file, its recent past, and its simulator.

With ``[scenario] file`` set, level 20 loads the file into the node model; with
``simulate`` too, level 30 back-fills the scenario's recent history (before
restoreOnStartup) and level 40 runs the simulator that drives its points, as a
bridge would.
"""

from __future__ import annotations

import logging
from pathlib import Path

import trio

from opencrate.components.history.setup import Persistence
from opencrate.components.nodes.store import NodeStore
from opencrate.components.points.store import PointStore
from opencrate.runtime.component import BuildContext, Contribution, Parts
from opencrate.runtime.supervisor import Service

__all__ = ["build"]

log = logging.getLogger(__name__)


def build(ctx: BuildContext) -> Parts:
    """Without ``[scenario] file``, nothing; with it, level 20 loads it (30, 40: ``simulate``)."""
    scenario = ctx.settings.scenario
    if scenario is None:
        return Parts()
    nodes = ctx.get(NodeStore)

    async def load() -> None:
        from opencrate.components.scenario.loader import load_scenario_into

        report = await load_scenario_into(scenario, nodes)
        log.info("scenario %s: %s", scenario, report)

    parts = [Contribution(level=20, steps=[load])]
    if ctx.settings.simulate:
        from opencrate.components.scenario.simulate import Simulator

        persistence = ctx.get(Persistence)
        now_ms = ctx.clock.now_ms

        async def backfill() -> None:
            await _backfill(scenario, persistence, now_ms())

        # The Modbus and BACnet components serve the scenario's Modbus and BACnet
        # points from simulated devices on loopback and their bridges read them:
        # they are not driven here.
        simulator = Simulator.from_scenario_file(
            scenario,
            points=ctx.get(PointStore),
            clock=ctx.clock,
            bridged=frozenset({"modbus", "bacnet"}),
        )
        parts.append(Contribution(level=30, steps=[backfill]))
        parts.append(
            Contribution(level=40, services=[Service(name="simulator", run=simulator.run)])
        )
    return Parts(contributions=parts)


async def _backfill(scenario: Path, persistence: Persistence, now_ms: int) -> None:
    """The scenario's recent past, before restoreOnStartup (``backfill`` in the file)."""
    from opencrate.components.history.postgresql.service import PostgresService
    from opencrate.components.scenario.backfill import backfill_history
    from opencrate.components.scenario.parse import load_scenario

    parsed = await trio.to_thread.run_sync(load_scenario, scenario)
    if parsed.backfill_s <= 0:
        return
    # PostgreSQL services start inside the level-30 persistence service, after
    # this step: they cannot take writes yet and get live data only.
    ready = {
        name: service
        for name, service in persistence.services.items()
        if not isinstance(service, PostgresService)
    }
    await backfill_history(parsed, manager=persistence.manager, services=ready, now_ms=now_ms)
