from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import trio
import trio.testing

from opencrate.clock import TrioClock
from opencrate.components.audit.store import AuditEntry, AuditStore
from opencrate.errors import Conflict, InvalidInput


async def test_record_and_tail_newest_first_with_keyset_paging(
    tmp_path: Path, clock: TrioClock, autojump_clock: trio.testing.MockClock
) -> None:
    async with AuditStore(tmp_path / "audit.db", clock=clock).running() as audit:
        first = await audit.record(
            user="alice", action="override.set", target="1001/ao-1", detail={"value": 18.0}
        )
        await trio.sleep(1)
        for i in range(9):
            await audit.record(
                user="bob" if i % 2 else "alice", action="node.update", target=f"n{i}"
            )
        page1 = await audit.tail(4)
        page2 = await audit.tail(4, before_id=page1[-1].id)
        page3 = await audit.tail(4, before_id=page2[-1].id)
        bobs = await audit.tail(user="bob")
        overrides = await audit.tail(action="override.set", user="alice")
        total = await audit.count()

    assert first == AuditEntry(
        id=1,
        ts_ms=1_700_000_000_000,
        user="alice",
        action="override.set",
        target="1001/ao-1",
        detail={"value": 18.0},
    )
    assert [e.id for e in page1 + page2 + page3] == list(range(10, 0, -1))
    assert [e.id for e in bobs] == [9, 7, 5, 3]
    assert overrides == [first]
    assert page1[0].ts_ms == 1_700_000_001_000
    assert page1[0].detail == {}
    assert total == 10


async def test_database_refuses_update_and_delete_and_rows_stay_intact(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    async with AuditStore(path).running() as audit:
        await audit.record(user="alice", action="login", target="session", detail={"ip": "::1"})
        await audit.record(user="bob", action="login", target="session")
        before = await audit.tail()

    # Straight at the file, as someone with a sqlite3 shell would.
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="audit log is append-only"):
            conn.execute("UPDATE audit_entry SET user = 'mallory' WHERE id = 1")
        with pytest.raises(sqlite3.IntegrityError, match="audit log is append-only"):
            conn.execute("DELETE FROM audit_entry")
    finally:
        conn.close()

    async with AuditStore(path).running() as audit:
        assert await audit.tail() == before
        assert await audit.count() == 2


async def test_store_maps_a_refused_rewrite_to_an_opencrate_error(tmp_path: Path) -> None:
    async with AuditStore(tmp_path / "audit.db").running() as audit:
        await audit.record(user="alice", action="login", target="session")

        def rewrite(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE audit_entry SET action = 'nothing'")

        def erase(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM audit_entry")

        for fn in (rewrite, erase):
            with pytest.raises(Conflict, match="audit log is append-only") as info:
                await audit.write(fn)
            assert info.value.detail == {"store": "audit"}
        entries = await audit.tail()
    assert [(e.user, e.action) for e in entries] == [("alice", "login")]


async def test_bad_input_is_refused_and_nothing_stored(tmp_path: Path) -> None:
    async with AuditStore(tmp_path / "audit.db").running() as audit:
        await audit.record(user="alice", action="login", target="session")
        with pytest.raises(InvalidInput, match="needs a user"):
            await audit.record(user="  ", action="login", target="x")
        with pytest.raises(InvalidInput, match="needs an action"):
            await audit.record(user="alice", action="", target="x")
        with pytest.raises(InvalidInput, match="detail is not JSON"):
            await audit.record(user="alice", action="a", target="x", detail={"v": float("nan")})
        with pytest.raises(InvalidInput, match="detail is not JSON"):
            await audit.record(user="alice", action="a", target="x", detail={"v": object()})
        with pytest.raises(InvalidInput, match="JSON object"):
            await audit.record(user="alice", action="a", target="x", detail=[1, 2])  # type: ignore[arg-type]
        for bad_limit in (0, 1001, -5):
            with pytest.raises(InvalidInput, match="limit"):
                await audit.tail(bad_limit)
        assert await audit.count() == 1


async def test_entries_survive_reopen_and_ids_keep_growing(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    async with AuditStore(path).running() as audit:
        await audit.record(user="alice", action="a", target="t")
    async with AuditStore(path).running() as audit:
        second = await audit.record(user="alice", action="b", target="t")
        assert [e.action for e in await audit.tail()] == ["b", "a"]
        assert audit.statistics().schema_version == 1
    assert second.id == 2


async def test_concurrent_records_share_batches_and_all_land(tmp_path: Path) -> None:
    async with AuditStore(tmp_path / "audit.db").running() as audit:

        async def record(i: int) -> None:
            await audit.record(user="u", action="a", target=str(i))

        async with trio.open_nursery() as nursery:
            for i in range(50):
                nursery.start_soon(record, i)
        assert await audit.count() == 50
        assert {e.target for e in await audit.tail(100)} == {str(i) for i in range(50)}
        assert audit.statistics().max_batch_size > 1
