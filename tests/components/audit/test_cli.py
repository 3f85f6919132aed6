"""``opencrate audit tail [-n N] [--follow]`` against a real server on loopback."""

from __future__ import annotations

from typing import Any

import trio
from asyncclick.testing import CliRunner

from opencrate.app import Services
from opencrate.cli.client import ApiClient
from opencrate.cli.main import cli
from opencrate.components.audit.cli import follow_audit
from opencrate.components.audit.store import AuditStore


async def _run(*args: str) -> tuple[int, str]:
    result = await CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


async def test_tail_prints_the_newest_entries_oldest_first(
    live_services: Services, api_url: str
) -> None:
    for i in range(5):
        await live_services.get(AuditStore).record(
            user="alice" if i % 2 else "bob",
            action="node.update",
            target=f"n{i}",
            detail={"fields": ["dis"]} if i == 4 else None,
        )
    code, output = await _run("audit", "tail", "-n", "2", "--url", api_url)
    assert code == 0, output
    lines = output.splitlines()
    assert len(lines) == 2
    assert lines[0].split()[1:] == ["alice", "node.update", "n3"]
    assert lines[1].split()[1:] == ["bob", "node.update", "n4", '{"fields":["dis"]}']
    assert lines[1].startswith("2023-11-14T22:13:20")

    code, output = await _run("audit", "tail", "--user", "alice", "--url", api_url)
    assert [line.split()[3] for line in output.splitlines()] == ["n1", "n3"]
    code, output = await _run("audit", "tail", "-n", "0", "--url", api_url)
    assert code == 2
    assert "-n" in output


async def test_follow_emits_each_new_entry_once_in_order_even_past_a_page(
    live_services: Services, api_url: str
) -> None:
    audit = live_services.get(AuditStore)
    last = await audit.record(user="api", action="node.create", target="before")
    seen: list[dict[str, Any]] = []
    got_all = trio.Event()

    def emit(entry: dict[str, Any]) -> None:
        seen.append(entry)
        if len(seen) == 151:
            got_all.set()

    async with ApiClient(api_url) as api, trio.open_nursery() as nursery:
        nursery.start_soon(
            lambda: follow_audit(api, after_id=last.id, interval_s=0.01, filters={}, emit=emit)
        )
        # More than one page (100) lands between two looks.
        for i in range(150):
            await audit.record(user="api", action="node.update", target=f"n{i}")
        await audit.record(user="api", action="node.delete", target="last")
        with trio.fail_after(10):
            await got_all.wait()
        nursery.cancel_scope.cancel()

    assert [e["target"] for e in seen] == [f"n{i}" for i in range(150)] + ["last"]
    assert [e["id"] for e in seen] == sorted({e["id"] for e in seen})
