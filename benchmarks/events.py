"""Load a million events into the event log, then page through all of them.

Usage::

    .venv/bin/python benchmarks/events.py             # 1,000,000 events
    .venv/bin/python benchmarks/events.py --quick     # 50,000 events
    .venv/bin/python benchmarks/events.py --events 200000 --page-size 500

Phase 1 (insert): events spread over every kind of table (info, alert,
general and the change tables of 20 devices), all distinct (no
deduplication), recorded through :class:`EventLogStore` in commands of
``--chunk`` events. Prints rows per second.

Phase 2 (paging) runs in a *fresh process*, so its peak RSS is not the peak the
insert phase left behind: it opens the store, notes its peak resident set so
far, walks every event newest first with
:meth:`EventLogStore.iter_events` (a keyset cursor over ``(created_ms, id)``
merging all tables), and prints rows per second and how far the peak RSS grew
over the walk (``VmHWM``, see ``_peak_rss_mb``). The target is < 50 MB growth
for 1,000,000 events: a page (``--page-size``, at most 1000) is all that is
ever in memory. ``--tracemalloc`` also prints the peak of Python allocations
during the walk (slower). ``--naive`` adds, in another fresh process, the
contrast the design avoids: the same walk collected into one list (what "load
every event at once" costs), and prints the ratio of the two growths. Keep it
to ``--quick`` sizes: it needs memory in proportion to the events.

Phase 3 (purge): every event is made to expire; the purge job deletes them in
batches of ``--purge-batch`` while a writer records one event every 10 ms.
Prints purge rows per second and the writer's worst latency, which is what
"writers never wait long" means in numbers.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import trio

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from opencrate.components.eventlog.engine import EventPurger  # noqa: E402
from opencrate.components.eventlog.records import EventQuery, NewEvent  # noqa: E402
from opencrate.components.eventlog.rules import EventLogSettings  # noqa: E402
from opencrate.components.eventlog.store import EventLogStore  # noqa: E402
from opencrate.components.eventlog.tables import TableKind  # noqa: E402

T0 = 1_700_000_000_000
NAMES = {
    TableKind.INFO: "EntityCreated",
    TableKind.ALERT: "DeviceDown",
    TableKind.GENERAL: "ScheduleWritten",
    TableKind.CHANGE: "StatusChanged",
}
KINDS = [TableKind.CHANGE, TableKind.CHANGE, TableKind.INFO, TableKind.ALERT, TableKind.GENERAL]


def _event(i: int) -> tuple[NewEvent, TableKind]:
    kind = KINDS[i % len(KINDS)]
    return (
        NewEvent(
            context=f"{1000 + i % 20}/ai-{i % 7}",
            name=NAMES[kind],
            created_ms=T0 + i // 3,  # ties on created_ms: the id breaks them
            expires_ms=T0 + 10**12,
            level="info" if i % 4 else "warning",
            data={"seq": i, "value": i * 0.5},
        ),
        kind,
    )


async def insert(path: Path, n: int, chunk: int) -> None:
    async with EventLogStore(path).running() as store:
        start = time.perf_counter()
        for base in range(0, n, chunk):
            await store.record_many([_event(i) for i in range(base, min(n, base + chunk))])
        elapsed = time.perf_counter() - start
        tables = len(await store.tables())
    print(
        f"insert: {n:,} events into {tables} tables in {elapsed:.1f} s: {n / elapsed:,.0f} rows/s"
    )


class _FixedClock:
    def __init__(self, now_ms: int) -> None:
        self._now_ms = now_ms

    def now_ms(self) -> int:
        return self._now_ms


def _peak_rss_mb() -> float:
    """Peak resident set of this process image, in MB.

    ``VmHWM`` from ``/proc/self/status`` where there is one: Linux carries
    ``ru_maxrss`` across fork and exec, so a child started by the (large)
    insert process would report the parent's peak and hide any growth. Falls
    back to ``resource.getrusage`` elsewhere.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def page(path: Path, page_size: int, use_tracemalloc: bool, naive: bool) -> None:
    async with EventLogStore(path).running() as store:
        # Warm up: one page, so lazily imported code and caches are in the baseline.
        await store.query(EventQuery(), limit=page_size)
        baseline = _peak_rss_mb()
        if use_tracemalloc:
            tracemalloc.start()
        start = time.perf_counter()
        rows = 0
        checksum = 0
        kept = []
        async for event in store.iter_events(EventQuery(), page_size=page_size):
            rows += 1
            checksum += event.data["seq"]
            if naive:
                kept.append(event)
        elapsed = time.perf_counter() - start
        traced_peak = tracemalloc.get_traced_memory()[1] / 2**20 if use_tracemalloc else None
        peak = _peak_rss_mb()
    expected = rows * (rows - 1) // 2
    what = "naive (all kept in a list)" if naive else "paging"
    print(
        f"{what}: {rows:,} events in pages of {page_size} in {elapsed:.1f} s: "
        f"{rows / elapsed:,.0f} rows/s (checksum {'ok' if checksum == expected else 'WRONG'})"
    )
    print(
        f"{what}: peak RSS {baseline:.1f} MB before, {peak:.1f} MB after: "
        f"growth {peak - baseline:.1f} MB" + ("" if naive else " (target < 50 MB)")
    )
    print(f"growth_mb={peak - baseline:.3f}", file=sys.stderr)
    if traced_peak is not None:
        print(f"paging: tracemalloc peak of Python allocations {traced_peak:.1f} MB")


async def purge(path: Path, batch: int) -> None:
    async with EventLogStore(path).running() as store:
        total = await store.count()
        # A clock past every expiry: the whole log is due. No pause between batches
        # (the job's default is 50 ms): the writer still gets in between them.
        settings = EventLogSettings(purge_batch=batch, purge_pause_ms=0)
        purger = EventPurger(store, settings, clock=_FixedClock(T0 + 10**12))
        latencies: list[float] = []
        done = trio.Event()

        async def writer() -> None:
            i = 0
            while not done.is_set():
                event = NewEvent(
                    context="bench/writer",
                    name="EntityUpdated",
                    created_ms=T0 + 10**11 + i,
                    expires_ms=T0 + 10**13,
                    level="info",
                    data={"i": i},
                )
                t = time.perf_counter()
                await store.record(event, TableKind.INFO)
                latencies.append(time.perf_counter() - t)
                i += 1
                await trio.sleep(0.01)

        start = time.perf_counter()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer)
            deleted = await purger.purge_once()
            done.set()
        elapsed = time.perf_counter() - start
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)] if latencies else 0.0
    print(
        f"purge: {deleted:,} of {total:,} events in batches of {batch} in {elapsed:.1f} s: "
        f"{deleted / elapsed:,.0f} rows/s"
    )
    print(
        f"purge: a writer meanwhile recorded {len(latencies)} events; latency p99 "
        f"{p99 * 1000:.1f} ms, worst {latencies[-1] * 1000 if latencies else 0:.1f} ms"
    )


def _run_child(command: list[str]) -> float:
    """Run a paging phase in a fresh process; its output passes through; returns MB grown."""
    done = subprocess.run(command, check=True, stderr=subprocess.PIPE, text=True)
    for line in done.stderr.splitlines():
        if line.startswith("growth_mb="):
            return float(line.partition("=")[2])
        print(line, file=sys.stderr)
    raise SystemExit("paging phase printed no growth figure")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="50,000 events")
    parser.add_argument("--chunk", type=int, default=1000, help="events per insert command")
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--purge-batch", type=int, default=1000)
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--naive", action="store_true", help="also measure load-all-at-once")
    parser.add_argument("--no-purge", action="store_true")
    parser.add_argument("--page-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.page_only is not None:
        trio.run(page, args.page_only, args.page_size, args.tracemalloc, args.naive)
        return
    n = 50_000 if args.quick else args.events
    with tempfile.TemporaryDirectory(prefix="opencrate-bench-events-") as tmp:
        path = Path(tmp) / "events.db"
        trio.run(insert, path, n, args.chunk)
        size = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 2**20
        print(f"insert: database files {size:.0f} MB")
        command = [sys.executable, __file__, "--page-only", str(path)]
        command += ["--page-size", str(args.page_size)]
        if args.tracemalloc:
            command.append("--tracemalloc")
        paged = _run_child(command)
        if args.naive:
            naive = _run_child([*command, "--naive"])
            print(f"naive/paging peak RSS growth: {naive / max(paged, 0.1):.0f}x")
        if not args.no_purge:
            trio.run(purge, path, args.purge_batch)


if __name__ == "__main__":
    main()
