"""``opencrate events query|tail|purge`` against a real events.db."""

from __future__ import annotations

import json
from pathlib import Path

import trio
from asyncclick.testing import CliRunner

from opencrate.cli.events import follow_events
from opencrate.cli.main import cli
from opencrate.clock import SystemClock
from opencrate.stores.eventlog import EventLogStore
from opencrate.stores.eventlog_model import MAX_PAGE, EventCursor, EventQuery, NewEvent, Order
from opencrate.stores.eventlog_tables import TableKind

HOUR = 3_600_000


async def _seed(data: Path, n: int = 10, *, expired: int = 0) -> None:
    now = SystemClock().now_ms()
    events = []
    for i in range(n):
        gone = i < expired
        events.append(
            (
                NewEvent(
                    context=f"100{i % 2}/p",
                    name="DeviceDown" if i % 2 else "StatusChanged",
                    created_ms=now - 2 * HOUR + i,
                    expires_ms=now - HOUR if gone else now + HOUR,
                    level="error" if i % 2 else "info",
                    data={"i": i},
                ),
                TableKind.ALERT if i % 2 else TableKind.CHANGE,
            )
        )
    async with EventLogStore(data / "events.db").running() as store:
        await store.record_many(events)


async def _run(*args: str) -> tuple[int, str]:
    result = await CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


async def test_query_prints_newest_first_and_filters(tmp_path: Path) -> None:
    await _seed(tmp_path)
    code, out = await _run("events", "query", "--data", str(tmp_path), "--json")
    assert code == 0, out
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["data"]["i"] for r in rows] == list(range(9, -1, -1))
    code, out = await _run(
        "events", "query", "--data", str(tmp_path), "--level", "error", "--limit", "2"
    )
    assert code == 0, out
    lines = out.splitlines()
    assert len(lines) == 2
    assert all("DeviceDown" in line and "error" in line for line in lines)
    code, out = await _run(
        "events",
        "query",
        "--data",
        str(tmp_path),
        "--context",
        "1000/p",
        "--oldest-first",
        "--json",
    )
    assert [json.loads(line)["data"]["i"] for line in out.splitlines()] == [0, 2, 4, 6, 8]
    code, out = await _run("events", "query", "--data", str(tmp_path), "--under", "1001")
    assert code == 0, out
    assert len(out.splitlines()) == 5


async def test_query_limit_zero_pages_through_everything(tmp_path: Path) -> None:
    await _seed(tmp_path, MAX_PAGE + 250)
    code, out = await _run("events", "query", "--data", str(tmp_path), "--limit", "0", "--json")
    assert code == 0
    seen = [json.loads(line)["id"] for line in out.splitlines()]
    assert len(seen) == len(set(seen)) == MAX_PAGE + 250


async def test_tail_prints_the_newest_oldest_first(tmp_path: Path) -> None:
    await _seed(tmp_path)
    code, out = await _run("events", "tail", "--data", str(tmp_path), "-n", "3", "--json")
    assert code == 0, out
    assert [json.loads(line)["data"]["i"] for line in out.splitlines()] == [7, 8, 9]


async def test_purge_dry_run_counts_and_purge_deletes(tmp_path: Path) -> None:
    await _seed(tmp_path, 10, expired=4)
    code, out = await _run("events", "purge", "--data", str(tmp_path), "--dry-run")
    assert code == 0, out
    assert "would delete 4 expired events (dry run)" in out
    assert "event_alert: 2" in out
    async with EventLogStore(tmp_path / "events.db").running() as store:
        assert await store.count() == 10
    code, out = await _run("events", "purge", "--data", str(tmp_path), "--batch", "3")
    assert code == 0, out
    assert "deleted 4 expired events" in out
    async with EventLogStore(tmp_path / "events.db").running() as store:
        assert await store.count() == 6


async def test_errors_are_reported_not_raised(tmp_path: Path) -> None:
    code, out = await _run("events", "query", "--data", str(tmp_path))
    assert code == 1
    assert "no event log at" in out
    assert not (tmp_path / "events.db").exists()  # reading does not create one
    await _seed(tmp_path)
    code, out = await _run("events", "query", "--data", str(tmp_path), "--since", "whenever")
    assert code == 2
    assert "not a time" in out
    code, out = await _run("events", "query", "--data", str(tmp_path), "--context", "a//b")
    assert code == 2
    assert "empty segment" in out


async def test_follow_prints_new_events_once_in_order(tmp_path: Path) -> None:
    # Real time (short): the store answers from a thread, which autojump_clock ignores.
    await _seed(tmp_path, 2)
    seen: list[int] = []
    query = EventQuery(order=Order.OLDEST_FIRST)
    async with EventLogStore(tmp_path / "events.db").running() as store:
        start = (await store.query(EventQuery(), limit=1)).events[0]
        after = EventCursor(created_ms=start.created_ms, id=start.id)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                follow_events, store, query, after, 0.01, lambda e: seen.append(e.data["i"])
            )
            for i in range(100, 103):
                await store.record(
                    NewEvent(
                        context="site",
                        name="EntityCreated",
                        created_ms=SystemClock().now_ms() + i,
                        expires_ms=SystemClock().now_ms() + HOUR,
                        level="info",
                        data={"i": i},
                    ),
                    TableKind.INFO,
                )
                await trio.sleep(0.03)  # a few polls between events
            for _ in range(500):
                if len(seen) >= 3:
                    break
                await trio.sleep(0.01)
            await trio.sleep(0.05)  # more polls: nothing is printed twice
            nursery.cancel_scope.cancel()
    assert seen == [100, 101, 102]
