"""Small writes through one store actor: group commit against one transaction per command.

Usage::

    .venv/bin/python benchmarks/store_actor.py [--quick] [--tasks N] [--writes N]

100 concurrent trio tasks (``--tasks``) each append ``--writes`` audit entries,
one ``await audit.record(...)`` at a time, to one :class:`AuditStore` (a real
store: one SQLite file in WAL mode, ``synchronous=NORMAL``). Run twice in the
same process on fresh files in a temporary directory: with group commit (the
actor takes every queued command into one transaction, a savepoint each), and
with ``group_commit=False`` (one transaction per command). Prints commands per
second for both, their ratio, and the mean batch size (commands per
transaction) from the actor's ``statistics()``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from opencrate.components.audit.store import AuditStore


async def run(path: Path, *, group_commit: bool, tasks: int, writes: int) -> tuple[float, float]:
    """Commands per second and mean batch size for one configuration."""
    store = AuditStore(path, group_commit=group_commit)

    async def writer(task: int) -> None:
        for i in range(writes):
            await store.record(user=f"user{task}", action="point.write", target=f"p{i}")

    async with store.running():
        start = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for task in range(tasks):
                nursery.start_soon(writer, task)
        elapsed = time.perf_counter() - start
        stats = store.statistics()
        stored = await store.count()
    if stored != tasks * writes:
        raise SystemExit(f"lost writes: stored {stored} of {tasks * writes}")
    return stats.commands_served / elapsed, stats.commands_served / stats.batches


async def main(tasks: int, writes: int) -> None:
    print(f"{tasks} tasks x {writes} writes = {tasks * writes:,} audit records per run")
    with tempfile.TemporaryDirectory() as tmp:
        grouped, grouped_batch = await run(
            Path(tmp) / "grouped.db", group_commit=True, tasks=tasks, writes=writes
        )
        single, single_batch = await run(
            Path(tmp) / "single.db", group_commit=False, tasks=tasks, writes=writes
        )
    print(
        f"  group commit:          {grouped:>10,.0f} commands/s  (mean batch {grouped_batch:.1f})"
    )
    print(f"  one txn per command:   {single:>10,.0f} commands/s  (mean batch {single_batch:.1f})")
    print(f"  ratio group/single:    {grouped / single:>10.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run (20 writes per task)")
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--writes", type=int, default=None, help="writes per task (default 200)")
    args = parser.parse_args()
    writes = args.writes or (20 if args.quick else 200)
    trio.run(main, args.tasks, writes)
