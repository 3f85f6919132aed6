"""Websocket event stream throughput: bus -> /api/ws -> trio-websocket clients over loopback.

Usage::

    .venv/bin/python benchmarks/ws_stream.py [--quick] [--events N] [--clients 1,20] [--runs N]

A real server (``serve_api``: hypercorn + quart-trio) on 127.0.0.1, the real
``Services`` on stores in a temporary directory, and K clients subscribed
with ``types=ValueChanged``, all in one process on the same trio run (so the
figures include the clients' own decoding). The publisher publishes N
``ValueChanged`` events in chunks of 256, checkpointing between chunks so the
server can run; each client reads until it has seen every event or been told
by a ``Lagged`` message how many it missed, until an end marker.

Prints, per client count and run: event messages delivered per second (in
all and per client), how many events the clients were told they lost by
``Lagged`` messages, and how long the run took; then min / median / max of
the delivered rate over ``--runs`` runs (3). First it prints what one event's
JSON text costs for K streams made per client and made once and shared
(``event_json``, what the stream does): the part of the server's work that
no longer grows with K. The publisher floods on
purpose, so lag is expected: the figure of interest is what a websocket
delivers, and that every lost event is reported (received + lagged always
adds up to the events published). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import trio
import trio.lowlevel
from trio_websocket import open_websocket_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from opencrate.api.app import create_app
from opencrate.api.server import serve_api
from opencrate.app import Services
from opencrate.config import Settings
from opencrate.runtime.events import ValueChanged, event_json, event_to_dict
from opencrate.runtime.supervisor import Supervisor

CHUNK = 256


async def run_once(
    services: Services, base: str, clients: int, events: int
) -> tuple[float, int, int]:
    """Seconds from first publish until every client is done, events received, lag reported."""
    subscribed = 0
    all_subscribed = trio.Event()
    done = 0
    all_done = trio.Event()
    lagged_total = received_total = 0

    async def client() -> None:
        nonlocal subscribed, done, lagged_total, received_total
        async with open_websocket_url(f"{base}/api/ws?types=ValueChanged") as ws:
            subscribed += 1
            if subscribed == clients:
                all_subscribed.set()
            while True:
                message = json.loads(await ws.get_message())
                if message["type"] == "Lagged":
                    lagged_total += message["count"]
                elif message["node_id"] == "end":
                    break
                else:
                    received_total += 1
            done += 1
            if done == clients:
                all_done.set()

    async with trio.open_nursery() as nursery:
        for _ in range(clients):
            nursery.start_soon(client)
        await all_subscribed.wait()
        start = time.perf_counter()
        for first in range(0, events, CHUNK):
            for i in range(first, min(first + CHUNK, events)):
                services.bus.publish(ValueChanged(ts_ms=i, node_id="1001/ai-1", value=float(i)))
            await trio.lowlevel.checkpoint()
        # A Lagged marker travels in front of the next event that fits, so one
        # end marker follows, once every stream's queue is empty (it cannot be
        # dropped then, and it brings the last Lagged with it).
        # (Queue depth is a statistic with no event to wait on, hence the poll.)
        while any(s.depth for s in services.bus.statistics().subscribers):  # noqa: ASYNC110
            await trio.sleep(0.001)
        services.bus.publish(ValueChanged(ts_ms=events, node_id="end", value=0.0))
        await all_done.wait()
        elapsed = time.perf_counter() - start
    return elapsed, received_total, lagged_total


def serialization_cost(clients: int, repeat: int = 20_000) -> tuple[float, float]:
    """Microseconds per event of the JSON text for ``clients`` streams: made per client
    (as before) and made once then shared (``event_json``)."""
    made = [ValueChanged(ts_ms=i, node_id="1001/ai-1", value=float(i)) for i in range(repeat)]
    start = time.perf_counter()
    for event in made:
        for _ in range(clients):
            json.dumps(event_to_dict(event))
    per_client = time.perf_counter() - start
    start = time.perf_counter()
    for event in made:
        for _ in range(clients):
            event_json(event)
    shared = time.perf_counter() - start
    return per_client / repeat * 1e6, shared / repeat * 1e6


async def main(events: int, client_counts: list[int], runs: int) -> None:
    for clients in client_counts:
        per_client, shared = serialization_cost(clients)
        print(
            f"JSON text of one event for {clients} stream(s): {per_client:.1f} us made per "
            f"client, {shared:.1f} us made once and shared"
        )
    with tempfile.TemporaryDirectory() as tmp:
        # The stream as the read-only anonymous viewer: no token to hand to each client.
        users = {"anonymous_viewer": True}
        services = Services.create(Settings(data_dir=Path(tmp), sections={"users": users}))
        supervisor = services.supervisor = Supervisor(stores=[], levels=[])
        async with trio.open_nursery() as nursery:
            for store in services.stores():
                await nursery.start(store.run)
            urls = await nursery.start(
                partial(
                    serve_api,
                    create_app(services),
                    host="127.0.0.1",
                    port=0,
                    shutdown_trigger=supervisor.shutdown_requested.wait,
                )
            )
            base = urls[0].replace("http://", "ws://")
            print(f"websocket stream, {events:,} ValueChanged events, chunks of {CHUNK}")
            for clients in client_counts:
                rates = []
                for _ in range(runs):
                    elapsed, received, lagged = await run_once(services, base, clients, events)
                    rates.append(received / elapsed)
                    print(
                        f"  {clients:>2} client(s): {received / elapsed:>9,.0f} messages/s "
                        f"delivered in all, {received / clients / elapsed:>8,.0f} per client; "
                        f"{lagged:,} of {events * clients:,} reported lost by Lagged "
                        f"({elapsed:.2f} s)"
                    )
                    if received + lagged != events * clients:
                        print(f"     NOT ACCOUNTED FOR: {events * clients - received - lagged:,}")
                print(
                    f"  {clients:>2} client(s), messages/s in all, min / median / max of {runs}: "
                    f"{min(rates):,.0f} / {statistics.median(rates):,.0f} / {max(rates):,.0f}"
                )
            supervisor.request_shutdown()
            for store in reversed(services.stores()):
                await store.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="few events (a smoke run)")
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--clients", default="1,20", help="comma-separated client counts")
    parser.add_argument("--runs", type=int, default=3, help="runs per client count")
    args = parser.parse_args()
    n = 5_000 if args.quick else args.events
    trio.run(main, n, [int(c) for c in args.clients.split(",")], args.runs)
