from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
import trio

from opencrate.errors import Conflict, StoreBroken, StoreClosed, StoreError
from opencrate.runtime.actor import StoreActor


class Counter(StoreActor):
    name = "counter"
    migrations = ("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);",)

    async def add(self, name: str) -> int:
        def insert(conn: sqlite3.Connection) -> int:
            cur = conn.execute("INSERT INTO item (name) VALUES (?)", (name,))
            assert cur.lastrowid is not None
            return cur.lastrowid

        return await self.write(insert)

    async def names(self) -> list[str]:
        def select(conn: sqlite3.Connection) -> list[str]:
            return [r[0] for r in conn.execute("SELECT name FROM item ORDER BY id")]

        return await self.read(select)


async def test_group_commit_gives_each_caller_its_own_reply_or_error(tmp_path: Path) -> None:
    store = Counter(tmp_path / "c.db")
    results: dict[str, object] = {}

    async def add(name: str) -> None:
        try:
            results[name] = await store.add(name)
        except Conflict as exc:
            results[name] = exc

    async with store.running():
        await store.add("dup")
        async with trio.open_nursery() as nursery:
            # All queued before the actor wakes: one batch, one transaction.
            for name in ["a", "b", "dup", "c"]:
                nursery.start_soon(add, name)
        names = await store.names()
        stats = store.statistics()

    assert isinstance(results["dup"], Conflict)
    assert "UNIQUE" in str(results["dup"])
    assert isinstance(results["dup"].__cause__, sqlite3.IntegrityError)
    assert names[0] == "dup"
    assert sorted(names[1:]) == ["a", "b", "c"]
    # Each caller got the id of its own row, despite sharing one transaction.
    assert {results[n] for n in "abc"} == {2 + names[1:].index(n) for n in "abc"}
    assert stats.max_batch_size == 4
    assert stats.commands_failed == 1
    assert stats.commands_served == 5


async def test_one_transaction_per_command_mode_still_serves_everyone(tmp_path: Path) -> None:
    store = Counter(tmp_path / "c.db", group_commit=False)
    async with store.running(), trio.open_nursery() as nursery:
        for i in range(20):
            nursery.start_soon(store.add, f"n{i}")
    assert store.statistics().max_batch_size == 1
    assert store.statistics().batches == 20


async def test_failed_single_command_rolls_back_its_partial_work(tmp_path: Path) -> None:
    store = Counter(tmp_path / "c.db")

    def half_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO item (name) VALUES ('half')")
        raise RuntimeError("boom")

    async with store.running():
        with pytest.raises(RuntimeError, match="boom"):
            await store.write(half_then_fail)
        assert await store.names() == []


async def test_migrations_run_from_version_zero_and_from_each_later_version(
    tmp_path: Path,
) -> None:
    steps = (
        "CREATE TABLE a (x INTEGER);",
        "ALTER TABLE a ADD COLUMN y TEXT;",
        "CREATE TRIGGER a_guard BEFORE DELETE ON a BEGIN SELECT RAISE(ABORT, 'no'); END;",
    )

    class Versioned(StoreActor):
        name = "versioned"

    for start in range(len(steps) + 1):
        path = tmp_path / f"v{start}.db"
        Versioned.migrations = steps[:start]
        async with Versioned(path).running() as store:
            assert store.schema_version == start
        Versioned.migrations = steps
        async with Versioned(path).running() as store:
            assert store.schema_version == 3
            cols = await store.read(lambda c: [r[1] for r in c.execute("PRAGMA table_info(a)")])
            assert cols == ["x", "y"]


async def test_database_from_newer_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version=99")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        await Counter(path).run()


async def test_corrupt_file_is_quarantined_and_recreated(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    path.write_bytes(b"this is not a database, just junk" * 100)
    store = Counter(path)
    async with store.running():
        await store.add("fresh")
        assert await store.names() == ["fresh"]
    record = store.statistics().quarantined
    assert record is not None
    assert Path(record.moved_to).read_bytes().startswith(b"this is not a database")
    assert ".corrupt-" in record.moved_to
    assert "not a database" in record.reason


async def test_aclose_drains_queued_commands_before_closing(tmp_path: Path) -> None:
    store = Counter(tmp_path / "c.db")
    done: list[int] = []

    async def add(i: int) -> None:
        done.append(await store.add(f"n{i}"))

    async with trio.open_nursery() as nursery:
        await nursery.start(store.run)
        for i in range(50):
            nursery.start_soon(add, i)
        await trio.testing.wait_all_tasks_blocked()
        await store.aclose()
    assert len(done) == 50
    with sqlite3.connect(tmp_path / "c.db") as conn:
        assert conn.execute("SELECT count(*) FROM item").fetchone()[0] == 50
    conn.close()
    with pytest.raises(StoreClosed):
        await store.add("late")


async def test_cancelled_actor_refuses_queued_commands_instead_of_hanging(tmp_path: Path) -> None:
    store = Counter(tmp_path / "c.db")
    outcomes: list[str] = []

    async def add() -> None:
        try:
            await store.add("x")
            outcomes.append("ok")
        except StoreClosed:
            outcomes.append("closed")

    async with trio.open_nursery() as outer, trio.open_nursery() as actor_nursery:
        await actor_nursery.start(store.run)
        actor_nursery.cancel_scope.cancel()
        for _ in range(3):
            outer.start_soon(add)
    assert outcomes == ["closed"] * 3


async def test_orderly_close_leaves_no_wal_files_behind(tmp_path: Path) -> None:
    async with Counter(tmp_path / "c.db").running() as store:
        await store.add("x")
        assert await store.names() == ["x"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.db"]


async def test_running_a_store_twice_is_refused(tmp_path: Path) -> None:
    async with Counter(tmp_path / "c.db").running() as store:
        with pytest.raises(StoreError, match="already running"):
            await store.run()
        await store.add("still fine")
        assert await store.names() == ["still fine"]


async def test_close_waits_for_a_read_in_flight_before_closing_its_connection(
    tmp_path: Path,
) -> None:
    store = Counter(tmp_path / "c.db")
    gate = threading.Event()
    reading = trio.Event()
    rows: list[list[str]] = []

    def slow_select(conn: sqlite3.Connection) -> list[str]:
        trio.from_thread.run_sync(reading.set)
        gate.wait()
        return [r[0] for r in conn.execute("SELECT name FROM item")]

    async def reader() -> None:
        rows.append(await store.read(slow_select))

    async with trio.open_nursery() as nursery:
        await nursery.start(store.run)
        await store.add("a")
        nursery.start_soon(reader)
        await reading.wait()
        nursery.start_soon(store.aclose)
        # Either the close waits behind the read (right) or it already closed
        # the connection under the read's feet (the bug): poll for either, as
        # the bug's side happens in a worker thread with nothing to wait on.
        while not store._stopped.is_set() and store._read_limiter.statistics().tasks_waiting == 0:  # noqa: ASYNC110
            await trio.sleep(0.001)
        gate.set()
    assert rows == [["a"]]
    with pytest.raises(StoreClosed):
        await store.names()


async def test_a_sqlite_error_while_warming_caches_is_a_store_error(tmp_path: Path) -> None:
    class BadCache(Counter):
        def on_open(self, conn: sqlite3.Connection) -> None:
            conn.execute("SELECT * FROM no_such_table")

    store = BadCache(tmp_path / "c.db")
    with pytest.raises(StoreError, match="counter: no such table: no_such_table") as info:
        await store.run()
    assert isinstance(info.value.__cause__, sqlite3.OperationalError)


async def test_a_failed_read_is_a_store_error_caused_by_the_sqlite_error(tmp_path: Path) -> None:
    async with Counter(tmp_path / "c.db").running() as store:
        with pytest.raises(StoreError, match="counter: no such table: nope") as info:
            await store.read(lambda conn: conn.execute("SELECT * FROM nope").fetchall())
    assert isinstance(info.value.__cause__, sqlite3.OperationalError)


async def test_an_actor_that_died_of_an_error_answers_store_broken_naming_the_store(
    tmp_path: Path,
) -> None:
    class BuggyCache(Counter):
        def after_commit(self, results: object) -> None:
            raise RuntimeError("cache bug")

    store = BuggyCache(tmp_path / "c.db")
    errors: list[BaseException] = []

    async def add(name: str) -> None:
        try:
            await store.add(name)
        except StoreError as exc:
            errors.append(exc)

    # The batch in flight is answered too: before, its callers waited forever.
    with pytest.RaisesGroup(pytest.RaisesExc(RuntimeError, match="cache bug")):
        async with trio.open_nursery() as nursery:
            await nursery.start(store.run)
            for name in "abc":
                nursery.start_soon(add, name)
    assert [type(e) for e in errors] == [StoreBroken] * 3
    for call in (store.add("late"), store.names()):
        with pytest.raises(
            StoreBroken, match="store counter is broken: RuntimeError: cache bug"
        ) as info:
            await call
        assert not isinstance(info.value, StoreClosed)
        assert info.value.detail == {"store": "counter"}
        assert isinstance(info.value.__cause__, RuntimeError)
    assert store.statistics().closed
    await store.aclose()  # still idempotent


async def test_a_store_that_could_not_open_is_broken_not_closed(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version=99")
    conn.close()
    store = Counter(path)
    with pytest.raises(StoreError, match="newer"):
        await store.run()
    with pytest.raises(StoreBroken, match="store counter is broken") as info:
        await store.add("x")
    assert isinstance(info.value.__cause__, StoreError)


async def test_a_closed_store_answers_store_closed_not_broken(tmp_path: Path) -> None:
    store = Counter(tmp_path / "c.db")
    async with store.running():
        await store.add("x")
    with pytest.raises(StoreClosed) as info:
        await store.add("y")
    assert not isinstance(info.value, StoreBroken)
