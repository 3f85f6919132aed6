"""``opencrate events query|tail|purge`` against a real server on loopback over real stores."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import trio
from asyncclick.testing import CliRunner

from opencrate.app import Services
from opencrate.cli.client import ApiClient
from opencrate.cli.main import cli
from opencrate.components.audit.store import AuditStore
from opencrate.components.eventlog.cli import PAGE, follow_events
from opencrate.components.eventlog.records import NewEvent
from opencrate.components.eventlog.store import EventLogStore
from opencrate.components.eventlog.tables import TableKind
from opencrate.runtime.records import to_json

HOUR = 3_600_000


async def _seed(services: Services, n: int = 10, *, expired: int = 0) -> None:
    """``n`` events two hours old, alternating info/change and error/alert; the first
    ``expired`` of them expired an hour ago, the rest expire in an hour."""
    now = services.clock.now_ms()
    events = []
    for i in range(n):
        events.append(
            (
                NewEvent(
                    context=f"100{i % 2}/p",
                    name="DeviceDown" if i % 2 else "StatusChanged",
                    created_ms=now - 2 * HOUR + i,
                    expires_ms=now - HOUR if i < expired else now + HOUR,
                    level="error" if i % 2 else "info",
                    data={"i": i},
                ),
                TableKind.ALERT if i % 2 else TableKind.CHANGE,
            )
        )
    await services.get(EventLogStore).record_many(events)


async def _run(*args: str) -> tuple[int, str]:
    result = await CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


async def test_query_prints_newest_first_and_filters(live_services: Services, api_url: str) -> None:
    await _seed(live_services)
    code, out = await _run("events", "query", "--url", api_url, "--json")
    assert code == 0, out
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["data"]["i"] for r in rows] == list(range(9, -1, -1))
    code, out = await _run("events", "query", "--url", api_url, "--level", "error", "--limit", "2")
    assert code == 0, out
    lines = out.splitlines()
    assert len(lines) == 2
    assert all("DeviceDown" in line and "error" in line and "id=" in line for line in lines)
    code, out = await _run(
        "events", "query", "--url", api_url, "--context", "1000/p", "--oldest-first", "--json"
    )
    assert [json.loads(line)["data"]["i"] for line in out.splitlines()] == [0, 2, 4, 6, 8]
    code, out = await _run("events", "query", "--url", api_url, "--under", "1001")
    assert code == 0, out
    assert len(out.splitlines()) == 5


async def test_query_limit_zero_pages_through_everything(
    live_services: Services, api_url: str
) -> None:
    await _seed(live_services, PAGE + 250)
    code, out = await _run("events", "query", "--url", api_url, "--limit", "0", "--json")
    assert code == 0
    seen = [json.loads(line)["id"] for line in out.splitlines()]
    assert len(seen) == len(set(seen)) == PAGE + 250
    # A limit above one page is met exactly, across the page boundary.
    code, out = await _run("events", "query", "--url", api_url, "--limit", str(PAGE + 7))
    assert len(out.splitlines()) == PAGE + 7


async def test_tail_prints_the_newest_oldest_first(live_services: Services, api_url: str) -> None:
    await _seed(live_services)
    code, out = await _run("events", "tail", "--url", api_url, "-n", "3", "--json")
    assert code == 0, out
    assert [json.loads(line)["data"]["i"] for line in out.splitlines()] == [7, 8, 9]


async def test_purge_dry_run_deletes_nothing_and_purge_deletes_in_batches(
    live_services: Services, api_url: str
) -> None:
    await _seed(live_services, 10, expired=4)
    code, out = await _run("events", "purge", "--url", api_url, "--dry-run")
    assert code == 0, out
    assert "would delete 4 expired events (dry run)" in out
    assert "event_alert: 2" in out
    assert await live_services.get(EventLogStore).count() == 10
    assert await live_services.get(AuditStore).count() == 0
    code, out = await _run("events", "purge", "--url", api_url, "--batch", "3")
    assert code == 0, out
    assert "deleted 4 expired events in 2 batches" in out
    assert await live_services.get(EventLogStore).count() == 6
    [entry] = await live_services.get(AuditStore).tail(5)
    assert (entry.action, entry.detail) == ("event.purge", {"deleted": 4, "batches": 2, "batch": 3})


async def test_bad_input_is_reported_and_deletes_nothing(
    live_services: Services, api_url: str
) -> None:
    await _seed(live_services, 10, expired=4)
    code, out = await _run("events", "query", "--url", api_url, "--since", "whenever")
    assert code == 1
    assert "'since'" in out
    assert "whenever" in out
    code, out = await _run("events", "query", "--url", api_url, "--context", "a//b")
    assert code == 1
    assert "empty segment" in out
    code, out = await _run("events", "tail", "--url", api_url, "--interval", "often")
    assert code == 2
    assert "--interval" in out
    code, out = await _run("events", "purge", "--url", api_url, "--batch", "0")
    assert code == 2
    assert "--batch" in out
    # The server's own bound, reported with the field it names.
    code, out = await _run("events", "purge", "--url", api_url, "--batch", "1000000")
    assert code == 1
    assert "batch: expected int <= 100000" in out  # the schema's bound (msgspec.Meta)
    assert await live_services.get(EventLogStore).count() == 10
    assert await live_services.get(AuditStore).count() == 0


async def test_an_unreachable_server_is_one_line_naming_it() -> None:
    with trio.socket.socket() as sock:  # a port that was free a moment ago: nobody listens
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    for command in (["query"], ["tail"], ["purge", "--dry-run"]):
        code, out = await _run("events", *command, "--url", url)
        assert code == 1
        assert f"cannot reach OpenCrate at {url}" in out


async def test_follow_prints_new_events_once_in_order_even_past_a_page(
    live_services: Services, api_url: str
) -> None:
    store = live_services.get(EventLogStore)
    await _seed(live_services, 2)
    now = live_services.clock.now_ms()

    def event(i: int, created_ms: int) -> tuple[NewEvent, TableKind]:
        return (
            NewEvent(
                context="site",
                name="EntityCreated",
                created_ms=created_ms,
                expires_ms=now + HOUR,
                level="info",
                data={"i": i},
            ),
            TableKind.INFO,
        )

    start = await store.record(*event(-1, now))
    after = to_json(await store.get(start.id))
    seen: list[dict[str, Any]] = []
    total = PAGE + 12
    got_all = trio.Event()

    def emit(found: dict[str, Any]) -> None:
        seen.append(found)
        if len(seen) == total:
            got_all.set()

    async with ApiClient(api_url) as api, trio.open_nursery() as nursery:
        nursery.start_soon(lambda: follow_events(api, {}, after=after, interval_s=0.01, emit=emit))
        # Same time as the last one printed (the id breaks the tie), then more
        # than one page at once, then a few one by one across several looks.
        await store.record_many([event(i, now) for i in range(2)])
        await store.record_many([event(i, now + i) for i in range(2, PAGE + 2)])
        for i in range(PAGE + 2, total):
            await store.record(*event(i, now + i))
            await trio.sleep(0.02)
        with trio.fail_after(10):
            await got_all.wait()
        await trio.sleep(0.05)  # more looks: nothing is printed twice
        nursery.cancel_scope.cancel()

    assert [e["data"]["i"] for e in seen] == list(range(total))
    assert len({e["id"] for e in seen}) == total


async def test_tail_follow_command_prints_the_newest_then_each_new_event(
    live_services: Services, api_url: str
) -> None:
    # The real command in its own process, following the server of this test.
    await _seed(live_services, 4)
    argv = [sys.executable, "-m", "opencrate", "events", "tail", "-n", "2", "-f"]
    argv += ["--interval", "20ms", "--json", "--url", api_url]
    lines: list[dict[str, Any]] = []
    buffer = b""

    async def read_until(stdout: trio.abc.ReceiveStream, count: int) -> None:
        nonlocal buffer
        while len(lines) < count:
            chunk = await stdout.receive_some()
            assert chunk, f"tail exited early; printed {lines}"
            buffer += chunk
            *done, buffer = buffer.split(b"\n")
            lines.extend(json.loads(line) for line in done)

    process = await trio.lowlevel.open_process(argv, stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        with trio.fail_after(30):
            await read_until(process.stdout, 2)
            now = live_services.clock.now_ms()
            for i in (10, 11):
                await live_services.get(EventLogStore).record(
                    NewEvent(
                        context="site",
                        name="EntityCreated",
                        created_ms=now + i,
                        expires_ms=now + HOUR,
                        level="info",
                        data={"i": i},
                    ),
                    TableKind.INFO,
                )
            await read_until(process.stdout, 4)
    finally:
        process.kill()
        await process.wait()
    assert [line["data"]["i"] for line in lines] == [2, 3, 10, 11]
