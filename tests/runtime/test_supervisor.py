from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path
from typing import Any

import trio
import trio.testing

from opencrate.runtime.actor import StoreActor
from opencrate.runtime.supervisor import Level, Service, Supervisor


class Log(StoreActor):
    name = "log"
    migrations = ("CREATE TABLE line (id INTEGER PRIMARY KEY, text TEXT);",)

    async def add(self, text: str) -> None:
        await self.write(lambda c: c.execute("INSERT INTO line (text) VALUES (?)", (text,)))


def service(name: str, trail: list[str]) -> Service:
    async def run(*, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
        trail.append(f"start {name}")
        task_status.started()
        try:
            await trio.sleep_forever()
        finally:
            trail.append(f"stop {name}")

    return Service(name=name, run=run)


async def test_levels_start_in_order_and_stop_from_the_top(tmp_path: Path) -> None:
    trail: list[str] = []
    sup: Supervisor

    async def restore_step() -> None:
        trail.append(f"restore at level {sup.level}")

    sup = Supervisor(
        stores=[Log(tmp_path / "log.db")],
        levels=[
            Level(number=20, name="model", services=[service("model", trail)]),
            Level(number=30, name="restore", steps=[restore_step]),
            Level(number=50, name="engines", services=[service("engine", trail)]),
            Level(number=60, name="api", services=[service("api", trail)]),
        ],
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        assert sup.level == 60
        sup.request_shutdown()
    assert trail == [
        "start model",
        "restore at level 20",
        "start engine",
        "start api",
        "stop api",
        "stop engine",
        "stop model",
    ]
    assert sup.level == 0


async def test_shutdown_drains_store_commands_issued_by_stopping_services(tmp_path: Path) -> None:
    store = Log(tmp_path / "log.db")

    async def writer(*, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        try:
            await trio.sleep_forever()
        finally:
            # A service's last words at shutdown still reach the disk.
            with trio.CancelScope(shield=True):
                await store.add("goodbye")

    sup = Supervisor(
        stores=[store],
        levels=[Level(number=50, name="engines", services=[Service(name="w", run=writer)])],
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        sup.request_shutdown()
    with sqlite3.connect(tmp_path / "log.db") as conn:
        assert conn.execute("SELECT text FROM line").fetchall() == [("goodbye",)]
    conn.close()


async def test_failing_service_is_restarted_with_backoff_and_start_up_continues(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    attempts: list[float] = []

    async def flaky(*, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
        attempts.append(trio.current_time())
        if len(attempts) < 4:
            raise ConnectionError("device unreachable")
        task_status.started()
        await trio.sleep_forever()

    trail: list[str] = []
    sup = Supervisor(
        stores=[],
        levels=[
            Level(number=40, name="bridges", services=[Service(name="flaky", run=flaky)]),
            Level(number=60, name="api", services=[service("api", trail)]),
        ],
        backoff_initial_s=1.0,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        assert sup.level == 60  # the broken bridge did not hold the API back
        await trio.sleep(10)
        stats = {s.name: s for s in sup.statistics().services}
        assert stats["flaky"].restarts == 3
        assert stats["flaky"].state == "running"
        assert stats["flaky"].last_error == "ConnectionError: device unreachable"
        sup.request_shutdown()
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(attempts)]
    assert gaps == [1.0, 2.0, 4.0]


async def test_wait_level_returns_when_the_level_is_reached() -> None:
    sup = Supervisor(stores=[], levels=[Level(number=20, name="model")])
    reached: list[int] = []

    async def watcher() -> None:
        await sup.wait_level(20)
        reached.append(sup.level)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(watcher)
        await nursery.start(sup.run)
        await trio.testing.wait_all_tasks_blocked()
        sup.request_shutdown()
    assert reached == [20]
