"""Authentication costs: login latency at the configured argon2 parameters, and what a
token check adds to an ordinary read.

Usage::

    .venv/bin/python benchmarks/auth.py [--quick] [--profile rfc9106_low_memory|cheapest]
                                        [--logins N] [--seconds S] [--concurrency C]

A real server (``serve_api``: hypercorn + quart-trio) on 127.0.0.1 over the
real ``Services`` on stores in a temporary directory, with the read-only
anonymous viewer on, so that the same ``GET /api/points/{id}`` can be asked
with a bearer token and without any credentials in the same run. httpx
clients in the same process and trio run.

Prints:

- ``POST /api/login`` latency (median, min, max over N sequential logins)
  beside argon2-cffi's own ``PasswordHasher.verify`` with the same
  parameters in the same run (the floor a login cannot go under), then the
  wall time of 4 logins at once (the hash limiter lets 2 run);
- authenticated and unauthenticated ``GET /api/points/{id}`` requests per
  second with C concurrent requests for S seconds, in ``--rounds`` rounds
  that alternate the two (so machine noise falls on both), as min / median /
  max, and the ratio of the medians. Both sides must get the same answer
  body (checked). The token is verified once and then found in the cache:
  argon2 never runs per request, and a token check should cost little.

Nothing is asserted but that both sides answered the same.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import argon2
import httpx
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from opencrate.api.app import create_app
from opencrate.api.server import serve_api
from opencrate.app import Services
from opencrate.components.nodes.store import NodeStore
from opencrate.components.points.store import PointStore
from opencrate.components.users.auth import Authenticator
from opencrate.components.users.roles import Role
from opencrate.config import Settings
from opencrate.model.node import Node
from opencrate.runtime.supervisor import Supervisor

POINT = "bench/sat"
PASSWORD = "a benchmark passphrase"


async def login_latency(client: httpx.AsyncClient, logins: int) -> list[float]:
    times = []
    for _ in range(logins):
        started = time.perf_counter()
        response = await client.post("/api/login", json={"user": "bench", "password": PASSWORD})
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
    return times


def verify_latency(parameters: argon2.Parameters, count: int) -> list[float]:
    """argon2-cffi alone: ``verify`` of the right password, ms each."""
    hasher = argon2.PasswordHasher.from_parameters(parameters)
    stored = hasher.hash(PASSWORD)
    times = []
    for _ in range(count):
        started = time.perf_counter()
        hasher.verify(stored, PASSWORD)
        times.append((time.perf_counter() - started) * 1000)
    return times


def spread(values: list[float], fmt: str = ".1f") -> str:
    return (
        f"min {min(values):{fmt}} / median {statistics.median(values):{fmt}} / "
        f"max {max(values):{fmt}}"
    )


async def concurrent_logins(client: httpx.AsyncClient, count: int) -> float:
    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(count):
            nursery.start_soon(login_latency, client, 1)
    return time.perf_counter() - started


async def reads_per_second(
    client: httpx.AsyncClient, headers: dict[str, str], seconds: float, concurrency: int
) -> float:
    done = 0
    deadline = time.perf_counter() + seconds

    async def reader() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            response = await client.get(f"/api/points/{POINT}", headers=headers)
            assert response.status_code == 200, response.text
            done += 1

    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(concurrency):
            nursery.start_soon(reader)
    return done / (time.perf_counter() - started)


async def main(profile: str, logins: int, seconds: float, concurrency: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        users = {"argon2_profile": profile, "anonymous_viewer": True}
        services = Services.create(Settings(data_dir=Path(tmp), sections={"users": users}))
        supervisor = services.supervisor = Supervisor(stores=[], levels=[])
        async with trio.open_nursery() as nursery:
            for store in services.stores():
                await nursery.start(store.run)
            node = Node.from_dict(
                {"id": POINT, "node_type": "point", "dis": "SAT", "kind": "number"}
            )
            await services.get(NodeStore).create_many([node])
            services.get(PointStore).set(POINT, 13.5)
            auth = services.get(Authenticator)
            await auth.add_user("bench", Role.OPERATOR, PASSWORD)
            token = (await auth.create_token("bench", "bench")).secret
            urls = await nursery.start(
                partial(
                    serve_api,
                    create_app(services),
                    host="127.0.0.1",
                    port=0,
                    shutdown_trigger=supervisor.shutdown_requested.wait,
                )
            )
            params = auth.settings.argon2
            print(
                f"argon2id t={params.time_cost} m={params.memory_cost} KiB "
                f"p={params.parallelism} ({profile})"
            )
            async with httpx.AsyncClient(base_url=urls[0], timeout=30) as client:
                times = await login_latency(client, logins)
                floor = await trio.to_thread.run_sync(verify_latency, params, logins)
                print(f"  POST /api/login, ms:               {spread(times)} ({logins} in a row)")
                print(f"  argon2-cffi verify alone, ms:      {spread(floor)}")
                print(f"  4 logins at once: {await concurrent_logins(client, 4) * 1000:.0f} ms")
                bearer = {"Authorization": f"Bearer {token}"}
                path = f"/api/points/{POINT}"
                same = (await client.get(path, headers=bearer)).json()
                if same != (await client.get(path)).json():
                    sys.exit("the token and the anonymous answers differ: not comparable")
                await reads_per_second(client, bearer, 0.5, concurrency)  # warm-up
                with_token: list[float] = []
                without: list[float] = []
                for _ in range(rounds):
                    with_token.append(await reads_per_second(client, bearer, seconds, concurrency))
                    without.append(await reads_per_second(client, {}, seconds, concurrency))
            print(
                f"GET /api/points/{{id}}, {concurrency} concurrent, {rounds} rounds of "
                f"{seconds:g} s each, requests/s (same answer body: checked):"
            )
            print(f"  with a bearer token:  {spread(with_token, ',.0f')}")
            print(f"  without credentials:  {spread(without, ',.0f')} (anonymous viewer)")
            ratio = statistics.median(with_token) / statistics.median(without)
            print(f"  token check costs {100 * (1 - ratio):+.1f} % of the median rate")
            supervisor.request_shutdown()
            for store in reversed(services.stores()):
                await store.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--profile", default="rfc9106_low_memory")
    parser.add_argument("--logins", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.quick:
        args.logins, args.seconds, args.rounds = 3, 1.0, 1
    trio.run(main, args.profile, args.logins, args.seconds, args.concurrency, args.rounds)
