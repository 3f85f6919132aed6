"""API reads from a client process: latest value, a day of history, 30 days at 5m, vs a bare route.

Usage::

    .venv/bin/python benchmarks/api.py [--quick] [--seconds S] [--connections N] [--runs N]

The server is this process: the real ``Services`` on stores in a temporary
directory and the real app (``create_app``) served by ``serve_api``
(hypercorn + quart-trio) on 127.0.0.1, the anonymous viewer on (no token), one
point with a value and 30 days of one-a-minute history in the ``sqlite``
service. Beside it, in the same process and the same run, a **bare**
quart-trio app with one route returning a small JSON object, served by the
same ``serve_api``: the framework's own ceiling.

The client is a separate process, so client and server do not share one trio
loop: ``--connections`` (8) keep-alive HTTP/1.1 connections, each sending a
request as soon as the previous answer is complete, for ``--seconds`` (3) per
case. ``--client wrk`` (the default when ``wrk`` is on PATH; Debian's ``wrk``
package) sends them from wrk, one C thread, which leaves the server most of the
second core; ``--client python`` from this script (a trio client, after a short
warm-up), which takes about as much CPU as the server on a 2-core machine. Every
answer must be 200 (wrk: no non-2xx answers and no socket errors). Cases:

* ``bare``: ``GET /bare`` on the bare app;
* ``latest``: ``GET /api/points/{id}`` (the latest value);
* ``day raw``: ``GET /api/history/{id}`` over one day, raw (1,440 samples);
* ``30d 5m``: ``GET /api/history/{id}?resolution=5m`` over 30 days (8,640 buckets).

Prints requests per second (min / median / max of ``--runs`` runs, 3), the
response size, and latest-value reads as a share of the bare ceiling.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import trio
from quart_trio import QuartTrio
from spread import spread

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from opencrate.api.app import create_app
from opencrate.api.server import serve_api
from opencrate.app import Services
from opencrate.components.history.service import Sample
from opencrate.components.history.setup import Persistence
from opencrate.components.nodes.store import NodeStore
from opencrate.components.points.store import PointStore
from opencrate.config import Settings
from opencrate.model.node import Node
from opencrate.runtime.supervisor import Supervisor

POINT = "1001/ai-1"
DAY = 86_400_000
MIN = 60_000


# -- the client process ----------------------------------------------------------------------
async def drive(host: str, port: int, path: str, connections: int, seconds: float) -> dict:
    """Requests per second of ``GET path`` over ``connections`` keep-alive connections."""
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    done = 0
    size = 0
    failures: list[str] = []
    deadline = 0.0

    async def one(stream: trio.SocketStream, buffer: bytearray) -> None:
        nonlocal size
        await stream.send_all(request)
        while (head_end := buffer.find(b"\r\n\r\n")) < 0:
            chunk = await stream.receive_some(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            buffer += chunk
        head = bytes(buffer[:head_end]).decode("latin-1")
        status = head.split(" ", 2)[1]
        length = None
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if length is None:
            raise ConnectionError(f"no content-length in {head!r}")
        while len(buffer) < head_end + 4 + length:
            chunk = await stream.receive_some(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            buffer += chunk
        del buffer[: head_end + 4 + length]
        if status != "200":
            failures.append(status)
        size = length

    async def connection(counting: bool) -> None:
        nonlocal done
        stream = await trio.open_tcp_stream(host, port)
        buffer = bytearray()
        async with stream:
            while time.perf_counter() < deadline:
                await one(stream, buffer)
                if counting:
                    done += 1

    deadline = time.perf_counter() + min(0.5, seconds)
    async with trio.open_nursery() as nursery:  # warm-up
        for _ in range(connections):
            nursery.start_soon(connection, False)
    started = time.perf_counter()
    deadline = started + seconds
    async with trio.open_nursery() as nursery:
        for _ in range(connections):
            nursery.start_soon(connection, True)
    elapsed = time.perf_counter() - started
    return {"rate": done / elapsed, "size": size, "failures": failures[:5]}


def client_main(url: str, path: str, connections: int, seconds: float) -> None:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    result = trio.run(drive, host, int(port), path, connections, seconds)
    print(json.dumps(result))


# -- the server process ----------------------------------------------------------------------
def bare_app() -> QuartTrio:
    app = QuartTrio("bare")

    @app.get("/bare")
    async def bare() -> dict[str, object]:
        return {"node_id": POINT, "value": 21.5, "status": "ok", "ts_ms": 1_700_000_000_000}

    return app


async def run_client(url: str, path: str, connections: int, seconds: float) -> dict:
    argv = [sys.executable, __file__, "--client", url, path, str(connections), str(seconds)]
    done = await trio.run_process(argv, capture_stdout=True, check=True)
    result: dict = json.loads(done.stdout)
    if result["failures"]:
        raise SystemExit(f"{path}: answers were not 200: {result['failures']}")
    return result


async def run_wrk(url: str, path: str, connections: int, seconds: float) -> dict:
    """The same load from wrk (C, one thread): the server gets the CPU a Python client takes."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", url + path]
    done = await trio.run_process(argv, capture_stdout=True, check=True)
    out = done.stdout.decode()
    if "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit(f"{path}: wrk saw failed answers:\n{out}")
    (rate,) = (line.split()[1] for line in out.splitlines() if line.startswith("Requests/sec:"))
    # One request from the Python client for the size (and a check that it is 200).
    size = (await run_client(url, path, 1, 0.05))["size"]
    return {"rate": float(rate), "size": size}


async def main(seconds: float, connections: int, runs: int, use_wrk: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        users = {"anonymous_viewer": True}
        services = Services.create(Settings(data_dir=Path(tmp), sections={"users": users}))
        supervisor = services.supervisor = Supervisor(stores=[], levels=[])
        async with trio.open_nursery() as nursery:
            for store in services.stores():
                await nursery.start(store.run)
            node = Node.from_dict(
                {"id": POINT, "node_type": "point", "dis": "SAT", "kind": "number"}
            )
            await services.get(NodeStore).create_many([node])
            now = services.clock.now_ms()
            services.get(PointStore).set(POINT, 21.5, ts_ms=now)
            (history,) = services.get(Persistence).history
            samples = [
                Sample(point_id=POINT, ts_ms=now - DAY * 30 + i * MIN, value=20.0 + (i % 97) / 10)
                for i in range(30 * 1440)
            ]
            for at in range(0, len(samples), 5000):
                await history.store(samples[at : at + 5000])
            serve = partial(
                serve_api, host="127.0.0.1", port=0,
                shutdown_trigger=supervisor.shutdown_requested.wait,
            )  # fmt: skip
            (url,) = (await nursery.start(partial(serve, create_app(services))))[:1]
            (bare_url,) = (await nursery.start(partial(serve, bare_app())))[:1]
            end = samples[-1].ts_ms
            day = f"start={end - DAY + 1}&end={end}&limit=10000"
            month = f"start={end - 30 * DAY}&end={end}&resolution=5m&limit=10000"
            cases = [
                ("bare", bare_url, "/bare"),
                ("latest", url, f"/api/points/{POINT}"),
                ("day raw", url, f"/api/history/{POINT}?{day}"),
                ("30d 5m", url, f"/api/history/{POINT}?{month}"),
            ]  # fmt: skip
            rates: dict[str, list[float]] = {name: [] for name, _, _ in cases}
            sizes: dict[str, int] = {}
            for _ in range(runs):
                for name, base, path in cases:
                    drive_with = run_wrk if use_wrk else run_client
                    result = await drive_with(base, path, connections, seconds)
                    rates[name].append(result["rate"])
                    sizes[name] = result["size"]
            client = "wrk" if use_wrk else "a Python client process"
            print(f"{connections} keep-alive connections from {client}, {seconds:g} s a "
                  f"case, {runs} runs; requests/s min / median / max:")  # fmt: skip
            for name, _, _ in cases:
                print(f"  {name:<8} {spread(rates[name]):>26}   ({sizes[name]:,} bytes a response)")
            shares = [a / b for a, b in zip(rates["latest"], rates["bare"], strict=True)]
            print(f"  latest / bare (per run): {spread(shares, '.2f')}")
            supervisor.request_shutdown()
            for store in reversed(services.stores()):
                await store.aclose()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        client_main(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 s a case, 1 run")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--client",
        choices=("wrk", "python"),
        default="wrk" if shutil.which("wrk") else "python",
        help="who sends the requests (default: wrk when it is on PATH)",
    )
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.runs = 1.0, 1
    trio.run(main, args.seconds, args.connections, args.runs, args.client == "wrk")
