"""Event bus throughput against bare trio channels, a stalled subscriber against a control.

Usage::

    .venv/bin/python benchmarks/bus.py [--quick] [--runs N]

Every figure is the min / median / max of ``--runs`` runs (3). Prints:

1. Deliveries per second to 1 and to 6 subscribers that drain with
   ``receive_batch`` (one ``await`` per batch, not per event), and beside it
   the **ceiling**: the same events ``send_nowait`` into as many bare trio
   memory channels drained the same way (no keys, no drop accounting), and
   the bus as a share of it. The publisher checkpoints after every ``CHUNK``
   events so subscribers can run; a chunk is smaller than a subscriber's
   capacity, so nothing should be dropped (the drop count is printed).
2. **Stalled subscriber**: publish rate (events per second of time spent in
   ``publish``, timed per chunk) with one subscriber that never reads
   (capacity 4096) beside one that drains, against a **control run** where both
   drain; and the ratio. Most of the stalled run's events are drops, so this is
   the cost of the drop path against the delivery path.
3. ``PointStore.set`` -> bus -> one draining subscriber, in samples per second:
   the hot path of every poller.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import trio
import trio.lowlevel
import trio.testing

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from spread import spread

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


async def bare_channels(n_events: int, n_subs: int) -> float:
    """The ceiling: deliveries per second into ``n_subs`` bare memory channels."""
    events = [ValueChanged(ts_ms=i, node_id=f"p{i % 100}", value=float(i)) for i in range(n_events)]
    channels = [trio.open_memory_channel[Event](4096) for _ in range(n_subs)]
    sends = [send.send_nowait for send, _ in channels]
    received: list[int] = []

    async def drain_bare(receive: trio.MemoryReceiveChannel[Event]) -> None:
        # The same consumer work as drain(): a batch, then a type test per item.
        seen = lost = 0
        while seen + lost < n_events:
            batch: list[Event | Lagged] = [await receive.receive()]
            try:
                while len(batch) < 1024:
                    batch.append(receive.receive_nowait())
            except trio.WouldBlock:
                pass
            for item in batch:
                if isinstance(item, Lagged):
                    lost += item.count
                else:
                    seen += 1
        received.append(seen)

    async with trio.open_nursery() as nursery:
        for _, receive in channels:
            nursery.start_soon(drain_bare, receive)
        await trio.testing.wait_all_tasks_blocked()
        start = time.perf_counter()
        for i in range(0, n_events, CHUNK):
            for event in events[i : i + CHUNK]:
                for send in sends:
                    send(event)
            await trio.lowlevel.checkpoint()
    elapsed = time.perf_counter() - start
    return sum(received) / elapsed


async def publish_rate(n_events: int, *, stall: bool) -> tuple[float, int]:
    """Events per second spent in ``publish`` beside a stalled (or, control, a draining) one.

    Returns the rate and the second subscriber's drop count.
    """
    bus = EventBus()
    events = [ValueChanged(ts_ms=i, node_id="p", value=float(i)) for i in range(n_events)]
    second = bus.subscribe(ValueChanged, name="second", capacity=4096)
    normal = bus.subscribe(ValueChanged, name="normal")
    received: list[int] = []
    spent = 0.0
    clock = time.perf_counter
    async with trio.open_nursery() as nursery:
        nursery.start_soon(drain, normal, n_events, received)
        if not stall:
            nursery.start_soon(drain, second, n_events, received)
        await trio.testing.wait_all_tasks_blocked()
        publish = bus.publish
        for i in range(0, n_events, CHUNK):
            t0 = clock()
            for event in events[i : i + CHUNK]:
                publish(event)
            spent += clock() - t0
            await trio.lowlevel.checkpoint()
    by_name = {s.name: s for s in bus.statistics().subscribers}
    second.close()
    normal.close()
    if by_name["normal"].dropped:
        raise SystemExit(f"the draining subscriber dropped {by_name['normal'].dropped}")
    return n_events / spent, by_name["second"].dropped


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


async def main(n: int, runs: int) -> None:
    print(f"event bus, {n:,} ValueChanged events, publisher yields every {CHUNK}; {runs} runs")
    for n_subs in (1, 6):
        bus_rates: list[float] = []
        bare_rates: list[float] = []
        shares: list[float] = []
        drops = 0
        for _ in range(runs):
            rate, dropped = await deliveries(n, n_subs)
            bare = await bare_channels(n, n_subs)
            bus_rates.append(rate)
            bare_rates.append(bare)
            shares.append(rate / bare)
            drops += dropped
        print(f"  {n_subs} subscriber(s): bus {spread(bus_rates, unit='deliveries/s')}"
              f" (dropped {drops})")  # fmt: skip
        print(f"      bare channels (ceiling) {spread(bare_rates, unit='deliveries/s')}")
        print(f"      bus / bare channels     {spread(shares, '.2f')}")
    control: list[float] = []
    stalled: list[float] = []
    ratio: list[float] = []
    stuck_dropped = 0
    for _ in range(runs):
        c, _ = await publish_rate(n, stall=False)
        s, stuck_dropped = await publish_rate(n, stall=True)
        control.append(c)
        stalled.append(s)
        ratio.append(s / c)
    print("publish rate beside a second subscriber (capacity 4096), time in publish only:")
    print(f"  control (it drains):    {spread(control, unit='events/s')}")
    print(f"  stalled (never reads):  {spread(stalled, unit='events/s')}"
          f"  ({stuck_dropped:,} of {n:,} dropped)")  # fmt: skip
    print(f"  stalled / control:      {spread(ratio, '.2f')}")
    rates = [await point_store_rate(n) for _ in range(runs)]
    print(f"PointStore.set -> bus -> 1 draining subscriber: {spread(rates, unit='samples/s')}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run (50k events)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    trio.run(main, 50_000 if args.quick else 500_000, args.runs)
