"""Back-filling the demo office's simulated history into a fresh SQLite history.

Usage::

    .venv/bin/python benchmarks/backfill.py [--quick] [--hours H]

Prints, for the office scenario (62 points) and ``H`` hours (24; 2 with
``--quick``), into a new ``history.db`` with the default persistence
configuration (``* : everyChange, restoreOnStartup``; with
``--demo-persistence`` the demo's ``examples/persistence.toml``):

1. the time to sample every signal (``past_values``, pure Python);
2. the whole :func:`backfill_history` (sampling, deciding per service,
   ``store()`` in batches with the rollup tiers maintained), with the samples
   stored and samples per second;
3. the restoreOnStartup that follows, and the rollup windows written.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from opencrate.clock import SystemClock
from opencrate.components.history.service import Resolution
from opencrate.components.history.setup import Persistence
from opencrate.components.nodes.store import NodeStore
from opencrate.components.points.store import PointStore
from opencrate.components.scenario.backfill import backfill_history, past_values
from opencrate.components.scenario.loader import apply_scenario
from opencrate.components.scenario.parse import load_scenario
from opencrate.config import Settings
from opencrate.runtime.bus import EventBus

OFFICE = Path(__file__).resolve().parent.parent / "examples" / "office.toml"
DEMO_PERSIST = OFFICE.parent / "persistence.toml"


async def run(hours: float, demo_persistence: bool) -> None:
    scenario = load_scenario(OFFICE)
    clock = SystemClock()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        bus = EventBus()
        nodes = NodeStore(data / "nodes.db", bus=bus, clock=clock)
        sections = {"persistence": {"file": str(DEMO_PERSIST)}} if demo_persistence else {}
        persistence = Persistence.build(
            Settings(data_dir=data, sections=sections),
            bus=bus,
            points=PointStore(bus, clock),
            nodes=nodes,
            clock=clock,
        )
        (history,) = persistence.history
        async with nodes.running(), history.running():
            await apply_scenario(scenario, nodes)
            now = clock.now_ms()
            t0 = time.perf_counter()
            past = past_values(scenario, end_ms=now, span_s=hours * 3600)
            sampling = time.perf_counter() - t0
            print(f"sampling {len(past)} signals over {hours:g} h: {sampling * 1000:.0f} ms")

            t0 = time.perf_counter()
            report = await backfill_history(
                scenario,
                manager=persistence.manager,
                services=persistence.services,
                now_ms=now,
                span_s=hours * 3600,
            )
            total = time.perf_counter() - t0
            stored = sum(report.stored.values())
            print(
                f"backfill_history: {total * 1000:.0f} ms for {stored} samples "
                f"({stored / total:,.0f} samples/s), {report.points} points"
            )

            t0 = time.perf_counter()
            async with trio.open_nursery() as nursery:
                await nursery.start(persistence.run)
                restore = time.perf_counter() - t0
                nursery.cancel_scope.cancel()
            assert persistence.last_restore is not None
            print(
                f"restoreOnStartup after it: {restore * 1000:.0f} ms, "
                f"{persistence.last_restore.restored} points restored"
            )
            zone = "1101/analog-input-1"
            for tier in (Resolution.FIVE_MIN, Resolution.HOUR):
                page = await history.query(
                    zone, now - round(hours * 3_600_000), now, resolution=tier, limit=10_000
                )
                print(f"{zone} {tier.value} windows: {len(page.buckets)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 hours instead of 24")
    parser.add_argument("--hours", type=float, default=None)
    parser.add_argument(
        "--demo-persistence",
        action="store_true",
        help="the demo's examples/persistence.toml (cron every 5 min, filters, aliases)",
    )
    args = parser.parse_args()
    hours = args.hours if args.hours is not None else (2.0 if args.quick else 24.0)
    trio.run(run, hours, args.demo_persistence)


if __name__ == "__main__":
    main()
