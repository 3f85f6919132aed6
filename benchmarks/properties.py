"""Property updates: coalesced write-behind against writing every update.

Usage::

    .venv/bin/python benchmarks/properties.py [--quick] [--tasks N] [--updates N] [--properties N]

``--tasks`` concurrent trio tasks (a device's value cache, say) each make
``--updates`` updates, one ``await store.put(...)`` at a time, spread over
``--properties`` properties per task (so the same few rows are rewritten again
and again: the seed's ag_properties workload). Run twice in the same process
on fresh files in a temporary directory: with coalescing (cache + write-behind
flushed every 1 s, and on close) and with ``coalesce=False`` (every update
waits for its row write; the store actor still groups concurrent writes into
one transaction). The timed span ends after ``aclose()``, so the final flush
is paid for. Prints updates per second for both, their ratio, and the row
writes each made. Then both files are reopened and checked: the last value of
every property must be there.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from opencrate.components.properties.store import PropertyStore


async def run(
    path: Path, *, coalesce: bool, tasks: int, updates: int, properties: int
) -> tuple[float, int]:
    """Updates per second and property rows written for one configuration."""
    store = PropertyStore(path, coalesce=coalesce)

    async def device(task: int) -> None:
        for i in range(updates):
            await store.put(f"devices/{task}", f"p{i % properties}", {"value": i, "status": "ok"})

    async with store.running():
        start = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for task in range(tasks):
                nursery.start_soon(device, task)
        await store.aclose()  # the final flush counts
        elapsed = time.perf_counter() - start
    stats = store.statistics().detail
    await check(path, tasks=tasks, updates=updates, properties=properties)
    return stats.updates / elapsed, stats.rows_written


async def check(path: Path, *, tasks: int, updates: int, properties: int) -> None:
    """Reopen the file: every property holds the last value written to it."""
    async with PropertyStore(path).running() as store:
        for task in range(tasks):
            for p in range(min(properties, updates)):
                last = max(i for i in range(updates) if i % properties == p)
                got = store.get(f"devices/{task}", f"p{p}")
                if got != {"value": last, "status": "ok"}:
                    raise SystemExit(f"lost update: devices/{task} p{p} = {got!r}, want {last}")


async def main(tasks: int, updates: int, properties: int) -> None:
    total = tasks * updates
    print(
        f"{tasks} tasks x {updates} updates over {properties} properties each "
        f"= {total:,} updates per run"
    )
    with tempfile.TemporaryDirectory() as tmp:
        coalesced, coalesced_rows = await run(
            Path(tmp) / "coalesced.db",
            coalesce=True,
            tasks=tasks,
            updates=updates,
            properties=properties,
        )
        through, through_rows = await run(
            Path(tmp) / "through.db",
            coalesce=False,
            tasks=tasks,
            updates=updates,
            properties=properties,
        )
    print(
        f"coalesced write-behind: {coalesced:>12,.0f} updates/s, {coalesced_rows:>8,} rows written"
    )
    print(f"write every update:     {through:>12,.0f} updates/s, {through_rows:>8,} rows written")
    print(f"ratio (coalesced / write every update): {coalesced / through:.1f}x")
    print("all last values present after reopening: yes")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small run for a smoke check")
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--properties", type=int, default=5)
    args = parser.parse_args()
    if args.quick:
        args.tasks, args.updates = 10, 200
    return args


if __name__ == "__main__":
    args = parse_args()
    trio.run(main, args.tasks, args.updates, args.properties)
