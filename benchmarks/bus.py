"""Event bus throughput, publish latency beside a stalled subscriber, and PointStore.set.

Usage::

    .venv/bin/python benchmarks/bus.py [--quick]

Prints:

1. Deliveries per second to 1 and to 6 subscribers that drain with
   ``receive_batch`` (one ``await`` per batch, not per event). The publisher
   checkpoints after every ``CHUNK`` events so subscribers can run; a chunk is
   smaller than a subscriber's capacity, so nothing should be dropped (the drop
   count is printed to show it).
2. One subscriber that never reads (capacity 4096) beside one that drains: the
   longest time any single ``publish`` call took, timed with
   ``time.perf_counter`` around each call, and the stalled subscriber's dropped
   count from ``bus.statistics()``. ``publish`` never awaits, so it cannot wait
   on the stalled one; this shows it does not get slower either.
3. ``PointStore.set`` -> bus -> one draining subscriber, in samples per second:
   the hot path of every poller.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import trio
import trio.lowlevel
import trio.testing

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from opencrate.components.points.store import PointStore
from opencrate.runtime.bus import EventBus
from opencrate.runtime.events import Event, Lagged, ValueChanged
from opencrate.runtime.fanout import Subscription

CHUNK = 1024


async def drain(sub: Subscription[Event], expected: int, received: list[int]) -> None:
    """Receive until ``expected`` events arrived or were reported lost; append how many arrived."""
    seen = lost = 0
    while seen + lost < expected:
        for item in await sub.receive_batch():
            if isinstance(item, Lagged):
                lost += item.count
            else:
                seen += 1
    received.append(seen)


async def deliveries(n_events: int, n_subs: int) -> tuple[float, int]:
    """Deliveries per second to ``n_subs`` draining subscribers, and events dropped."""
    bus = EventBus()
    events = [ValueChanged(ts_ms=i, node_id=f"p{i % 100}", value=float(i)) for i in range(n_events)]
    subs = [bus.subscribe(ValueChanged, name=f"s{i}") for i in range(n_subs)]
    received: list[int] = []
    async with trio.open_nursery() as nursery:
        for sub in subs:
            nursery.start_soon(drain, sub, n_events, received)
        await trio.testing.wait_all_tasks_blocked()
        start = time.perf_counter()
        publish = bus.publish
        for i in range(0, n_events, CHUNK):
            for event in events[i : i + CHUNK]:
                publish(event)
            await trio.lowlevel.checkpoint()  # let the subscribers drain
    elapsed = time.perf_counter() - start
    dropped = sum(s.dropped for s in bus.statistics().subscribers)
    for sub in subs:
        sub.close()
    return sum(received) / elapsed, dropped


async def stalled(n_events: int) -> tuple[float, float, float, int, int]:
    """Publish beside a subscriber that never reads: max/p99/mean publish time, drops."""
    bus = EventBus()
    events = [ValueChanged(ts_ms=i, node_id="p", value=float(i)) for i in range(n_events)]
    stuck = bus.subscribe(ValueChanged, name="stalled", capacity=4096)
    normal = bus.subscribe(ValueChanged, name="normal")
    received: list[int] = []
    durations: list[float] = []
    clock = time.perf_counter
    async with trio.open_nursery() as nursery:
        nursery.start_soon(drain, normal, n_events, received)
        await trio.testing.wait_all_tasks_blocked()
        publish = bus.publish
        for i in range(0, n_events, CHUNK):
            for event in events[i : i + CHUNK]:
                t0 = clock()
                publish(event)
                durations.append(clock() - t0)
            await trio.lowlevel.checkpoint()
    by_name = {s.name: s for s in bus.statistics().subscribers}
    stuck.close()
    normal.close()
    durations.sort()
    return (
        durations[-1],
        durations[int(len(durations) * 0.99)],
        statistics.fmean(durations),
        by_name["stalled"].dropped,
        by_name["normal"].dropped,
    )


async def point_store_rate(n_samples: int) -> float:
    """PointStore.set samples per second with one draining ValueChanged subscriber."""
    bus = EventBus()
    points = PointStore(bus)
    sub = bus.subscribe(ValueChanged, name="history")
    received: list[int] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(drain, sub, n_samples, received)
        await trio.testing.wait_all_tasks_blocked()
        node_ids = [f"1001/ai-{i}" for i in range(200)]
        start = time.perf_counter()
        set_ = points.set
        for i in range(0, n_samples, CHUNK):
            for j in range(i, min(i + CHUNK, n_samples)):
                set_(node_ids[j % 200], float(j), ts_ms=j)
            await trio.lowlevel.checkpoint()
    elapsed = time.perf_counter() - start
    sub.close()
    return received[0] / elapsed


async def main(quick: bool) -> None:
    n = 50_000 if quick else 500_000
    print(f"event bus, {n:,} ValueChanged events, publisher yields every {CHUNK}")
    for n_subs in (1, 6):
        rate, dropped = await deliveries(n, n_subs)
        print(f"  {n_subs} subscriber(s): {rate:>12,.0f} deliveries/s  (dropped {dropped})")
    worst, p99, mean, stuck_dropped, normal_dropped = await stalled(n)
    print("one stalled subscriber (capacity 4096, never reads) beside one draining:")
    print(f"  longest single publish: {worst * 1e6:,.1f} us")
    print(f"  p99 {p99 * 1e6:.2f} us, mean {mean * 1e6:.2f} us")
    print(f"  stalled subscriber dropped: {stuck_dropped:,} of {n:,}")
    print(f"  draining subscriber dropped: {normal_dropped:,}")
    rate = await point_store_rate(n)
    print(f"PointStore.set -> bus -> 1 draining subscriber: {rate:,.0f} samples/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run (50k events)")
    args = parser.parse_args()
    trio.run(main, args.quick)
