"""Property updates: durable coalesced, write-behind coalesced, and one transaction per update.

Usage::

    python benchmarks/properties.py [--quick] [--runs 3] [--tasks N] [--updates N] [--properties N]

``--tasks`` concurrent trio tasks each make ``--updates`` updates, one
``await`` at a time, spread over ``--properties`` properties (so the same few
rows are rewritten again and again: the seed's update-heavy workload), in two
workloads: ``own`` (each task its own properties: a device's value cache) and
``shared`` (every task the same properties: many clients setting the same
few values). Each run, on fresh files in one process, times these modes:

* ``durable``: :meth:`PropertyStore.put`, what the API uses: each caller waits
  for the group commit of the flush holding its update (coalesced), with the
  commit delays of ``--delays`` (milliseconds; 0 is the default);
* ``write-behind``: :meth:`PropertyStore.put_write_behind` (returns once
  cached; flushed every 1 s and on close): the non-durable path;
* ``per update``: ``coalesce=False``, every update its own write command (the
  store actor still groups commands that queue up into one transaction).

The timed span ends after ``aclose()``, so the final flush is paid for. For
each mode it prints updates/s and the rows written as min / median / max over
``--runs`` runs, and the share of row writes coalescing saved; each file is
reopened and checked (the last value of every property is there).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from opencrate.components.properties.store import PropertyStore


async def run(
    path: Path,
    *,
    mode: str,
    delay_ms: float,
    tasks: int,
    updates: int,
    properties: int,
    shared: bool,
) -> tuple[float, int, int, float]:
    """Updates/s, rows written, transactions, and the mean put latency (ms) of one mode."""
    store = PropertyStore(path, coalesce=mode != "per update", commit_delay_s=delay_ms / 1000)
    put = store.put_write_behind if mode == "write-behind" else store.put
    waited = 0.0

    async def device(task: int) -> None:
        nonlocal waited
        for i in range(updates):
            before = time.perf_counter()
            context = "devices/0" if shared else f"devices/{task}"
            await put(context, f"p{i % properties}", {"value": i, "status": "ok"})
            waited += time.perf_counter() - before

    async with store.running():
        start = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for task in range(tasks):
                nursery.start_soon(device, task)
        await store.aclose()  # the final flush counts
        elapsed = time.perf_counter() - start
    stats = store.statistics()
    await check(path, tasks=1 if shared else tasks, updates=updates, properties=properties)
    latency_ms = waited / (tasks * updates) * 1000
    return stats.detail.updates / elapsed, stats.detail.rows_written, stats.batches, latency_ms


async def check(path: Path, *, tasks: int, updates: int, properties: int) -> None:
    """Reopen the file: every property holds the last value written to it."""
    async with PropertyStore(path).running() as store:
        for task in range(tasks):
            for p in range(min(properties, updates)):
                last = max(i for i in range(updates) if i % properties == p)
                got = store.get(f"devices/{task}", f"p{p}")
                if got != {"value": last, "status": "ok"}:
                    raise SystemExit(f"lost update: devices/{task} p{p} = {got!r}, want {last}")


def spread(values: list[float], fmt: str) -> str:
    return " / ".join(format(v, fmt) for v in (min(values), statistics.median(values), max(values)))


async def main(runs: int, delays: list[float], tasks: int, updates: int, properties: int) -> None:
    total = tasks * updates
    print(
        f"{tasks} tasks x {updates} updates over {properties} properties "
        f"= {total:,} updates per run; {runs} runs; figures are min / median / max"
    )
    modes = [("durable", d) for d in delays] + [("write-behind", 0.0), ("per update", 0.0)]
    for shared in (False, True):
        results: dict[tuple[str, float], list[tuple[float, int, int, float]]] = {
            m: [] for m in modes
        }
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(runs):
                for n, (mode, delay) in enumerate(modes):
                    figures = await run(
                        Path(tmp) / f"run{r}-{n}.db",
                        mode=mode,
                        delay_ms=delay,
                        tasks=tasks,
                        updates=updates,
                        properties=properties,
                        shared=shared,
                    )
                    results[(mode, delay)].append(figures)
        print(f"\nworkload {'shared' if shared else 'own'}")
        print(
            f"{'mode':<22}{'updates/s':>28}{'rows written':>28}{'transactions':>20}"
            f"{'put ms':>22}  rows saved"
        )
        for (mode, delay), figures in results.items():
            label = f"durable, delay {delay:g} ms" if mode == "durable" else mode
            rows = [float(f[1]) for f in figures]
            print(
                f"{label:<22}{spread([f[0] for f in figures], ',.0f'):>28}"
                f"{spread(rows, ',.0f'):>28}{spread([float(f[2]) for f in figures], ',.0f'):>20}"
                f"{spread([f[3] for f in figures], '.2f'):>22}"
                f"  {1 - statistics.median(rows) / total:.0%}"
            )
    print("\nall last values present after reopening: yes")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small run for a smoke check")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--delays", default="0,2", help="commit delays to try, ms, comma-separated")
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--updates", type=int, default=400)
    parser.add_argument("--properties", type=int, default=5)
    args = parser.parse_args()
    if args.quick:
        args.tasks, args.updates = 10, 100
    return args


if __name__ == "__main__":
    args = parse_args()
    delays = [float(d) for d in args.delays.split(",") if d]
    trio.run(main, args.runs, delays, args.tasks, args.updates, args.properties)
