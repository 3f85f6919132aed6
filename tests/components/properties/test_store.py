"""PropertyStore: cache, durable group commit, coalesced write-behind, blobs in blocks."""

from __future__ import annotations

import hashlib
import math
import sqlite3
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from opencrate.clock import TrioClock
from opencrate.components.properties.settings import PropertySettings
from opencrate.components.properties.store import PropertyStore
from opencrate.components.properties.values import BlobRef
from opencrate.errors import (
    ConfigError,
    Conflict,
    InvalidInput,
    NotFound,
    OpenCrateError,
    StoreClosed,
)

CTX = "devices/1001"


@pytest.fixture
async def store(tmp_path: Path, clock: TrioClock) -> AsyncIterator[PropertyStore]:
    props = PropertyStore(
        tmp_path / "properties.db", clock=clock, blob_threshold=1024, chunk_size=256
    )
    async with props.running() as running:
        yield running


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


async def test_many_updates_within_an_interval_become_one_row_write(
    store: PropertyStore, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    for i in range(100):
        await store.put_write_behind(CTX, "presentValue", {"value": i})
    assert store.get(CTX, "presentValue") == {"value": 99}
    before = store.statistics()
    assert before.detail.dirty == 1
    assert before.detail.rows_written == 0
    # The write-behind loop flushes after one interval (1 s), on the store's thread.
    await store.wait_flushes(1)
    after = store.statistics()
    assert after.detail.updates == 100
    assert after.detail.rows_written == 1
    assert after.detail.flushes == 1
    assert after.commands_served == before.commands_served + 1
    assert rows(tmp_path / "properties.db", "SELECT data FROM property") == [('{"value":99}',)]


async def test_write_through_mode_writes_every_update(tmp_path: Path, clock: TrioClock) -> None:
    async with PropertyStore(tmp_path / "p.db", clock=clock, coalesce=False).running() as store:
        for i in range(10):
            await store.put(CTX, "x", i)
        stats = store.statistics().detail
        assert stats.rows_written == 10
        assert stats.dirty == 0


async def test_acknowledged_updates_survive_an_orderly_shutdown(
    tmp_path: Path, clock: TrioClock
) -> None:
    path = tmp_path / "properties.db"
    store = PropertyStore(path, clock=clock, flush_interval_s=3600)
    async with store.running():
        await store.put_write_behind(CTX, "name", "Boiler 1")
        await store.put_write_behind(CTX, "setpoints", [20.5, 22.0])
        await store.put_write_behind(CTX, "name", "Boiler 1 (east)")
        await store.put_write_behind("users.admin", "token", b"\x00\x01small")
        assert store.statistics().detail.rows_written == 0  # nothing flushed yet
    with pytest.raises(StoreClosed):
        await store.put(CTX, "late", 1)
    async with PropertyStore(path, clock=clock).running() as reopened:
        assert reopened.get(CTX, "name") == "Boiler 1 (east)"
        assert reopened.get(CTX, "setpoints") == [20.5, 22.0]
        assert reopened.get("users.admin", "token") == b"\x00\x01small"
        assert reopened.names(CTX) == ["name", "setpoints"]


async def test_large_bytes_go_to_blocks_and_stream_one_chunk_per_read(
    store: PropertyStore, tmp_path: Path
) -> None:
    data = bytes(range(256)) * 10 + b"tail"  # 2564 bytes: 11 chunks of 256
    ref = await store.put(CTX, "firmware", data)
    assert ref == BlobRef(size=len(data), sha256=hashlib.sha256(data).hexdigest(), chunks=11)
    assert store.get(CTX, "firmware") == ref  # a reference, not the bytes
    chunks = [chunk async for chunk in store.iter_blob(CTX, "firmware")]
    assert [len(c) for c in chunks] == [256] * 10 + [4]
    assert b"".join(chunks) == data
    assert store.statistics().detail.blocks_read == 11
    path = tmp_path / "properties.db"
    assert rows(path, "SELECT count(*) FROM property_block") == [(11,)]
    await store.delete(CTX, "firmware")
    assert rows(path, "SELECT count(*) FROM property_block") == [(0,)]
    with pytest.raises(NotFound):
        store.get(CTX, "firmware")


async def test_replacing_a_blob_with_a_small_value_drops_its_blocks(
    store: PropertyStore, tmp_path: Path
) -> None:
    await store.put(CTX, "image", b"x" * 5000)
    await store.put(CTX, "image", "now text")
    await store.flush()
    path = tmp_path / "properties.db"
    assert rows(path, "SELECT count(*) FROM property_block") == [(0,)]
    assert rows(path, "SELECT kind, data FROM property") == [("json", '"now text"')]


async def test_blob_replaced_while_streaming_is_a_conflict(store: PropertyStore) -> None:
    await store.put(CTX, "image", b"a" * 2000)
    stream = store.iter_blob(CTX, "image")
    first = await stream.__anext__()
    assert first == b"a" * 256
    await store.put(CTX, "image", b"b" * 2000)
    with pytest.raises(Conflict, match="changed while"):
        await stream.__anext__()


async def test_bad_input_is_refused_and_the_old_value_stays(
    store: PropertyStore, tmp_path: Path
) -> None:
    await store.put(CTX, "name", "ok")
    await store.flush()
    with pytest.raises(InvalidInput, match="not JSON"):
        await store.put(CTX, "name", float("nan"))
    with pytest.raises(InvalidInput, match="not JSON"):
        await store.put(CTX, "name", {1, 2})  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="context"):
        await store.put("bad//context", "name", 1)
    with pytest.raises(InvalidInput, match="property name"):
        await store.put(CTX, "has space", 1)
    with pytest.raises(InvalidInput, match="reserved"):
        await store.put(CTX, "blob", 1)
    # A trailing newline passed the name and context patterns ("$" matched before it).
    with pytest.raises(InvalidInput, match="property name"):
        await store.put(CTX, "name\n", 1)
    with pytest.raises(InvalidInput, match="context"):
        await store.put(CTX + "\n", "name", 1)
    with pytest.raises(InvalidInput, match="not binary"):
        [c async for c in store.iter_blob(CTX, "name")]
    with pytest.raises(NotFound):
        await store.delete(CTX, "missing")
    await store.flush()
    assert store.get(CTX, "name") == "ok"
    assert rows(tmp_path / "properties.db", "SELECT name, data FROM property") == [("name", '"ok"')]


async def test_cached_value_is_a_copy_as_a_reload_would_give_it(store: PropertyStore) -> None:
    value = {"a": [1, 2]}
    await store.put(CTX, "cfg", value)
    value["a"].append(3)
    assert store.get(CTX, "cfg") == {"a": [1, 2]}
    await store.put(CTX, "pair", (1, 2))  # type: ignore[arg-type]
    assert store.get(CTX, "pair") == [1, 2]


async def test_too_many_dirty_properties_flush_at_once(tmp_path: Path, clock: TrioClock) -> None:
    async with PropertyStore(
        tmp_path / "p.db", clock=clock, flush_interval_s=3600, max_dirty=10
    ).running() as store:
        for i in range(10):
            await store.put_write_behind(CTX, f"p{i}", i)
        stats = store.statistics().detail
        assert stats.dirty == 0
        assert stats.rows_written == 10


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=25, deadline=None)
@given(value=_JSON, blob=st.binary(max_size=3000))
async def test_values_round_trip_through_sqlite(value: Any, blob: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "properties.db"
        async with PropertyStore(path, blob_threshold=1024, chunk_size=256).running() as store:
            await store.put(CTX, "value", value)
            await store.put(CTX, "bytes", blob)
        async with PropertyStore(path, blob_threshold=1024, chunk_size=256).running() as store:
            assert store.get(CTX, "value") == value
            assert b"".join([c async for c in store.iter_blob(CTX, "bytes")]) == blob


async def test_put_before_the_store_runs_is_refused(tmp_path: Path) -> None:
    store = PropertyStore(tmp_path / "p.db")
    with pytest.raises(StoreClosed, match="not running"):
        await store.put(CTX, "x", 1)
    await store.aclose()  # nothing to flush, nothing hangs


async def test_settings_section_configures_the_store_and_errors_name_the_key(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    section = {"flush_interval": "10s", "blob_threshold": 10, "chunk_size": 4, "max_dirty": 50}
    store = PropertyStore.from_section(tmp_path / "p.db", section)
    async with store.running():
        await store.put_write_behind(CTX, "x", 1)
        await trio.sleep(5)
        assert store.statistics().detail.dirty == 1  # the interval is 10 s
        ref = await store.put(CTX, "b", b"0123456789a")
        assert ref == BlobRef(size=11, sha256=hashlib.sha256(b"0123456789a").hexdigest(), chunks=3)
    assert PropertySettings.from_section(None) == PropertySettings()
    bad = [
        ({"flush_interval": "often"}, "properties.flush_interval"),
        ({"flush_interval": 1}, "properties.flush_interval"),
        ({"chunk_size": 0}, "properties.chunk_size"),
        ({"max_dirty": True}, "properties.max_dirty"),
        ({"cache": "lots"}, "properties.cache"),
    ]
    for section_bad, key in bad:
        with pytest.raises(ConfigError) as caught:
            PropertySettings.from_section(section_bad)
        assert caught.value.key == key


async def test_an_idle_store_sets_no_timer(
    store: PropertyStore, autojump_clock: trio.testing.MockClock
) -> None:
    # Under autojump_clock any pending deadline lets virtual time run on while a
    # task waits on a worker thread; an idle store must not be such a deadline.
    await trio.testing.wait_all_tasks_blocked()
    assert trio.lowlevel.current_statistics().seconds_to_next_deadline == math.inf
    await store.put_write_behind(CTX, "x", 1)
    await trio.testing.wait_all_tasks_blocked()
    assert trio.lowlevel.current_statistics().seconds_to_next_deadline <= 1.0
    await store.wait_flushes(1)  # the flush is due after 1 s
    await trio.testing.wait_all_tasks_blocked()
    assert trio.lowlevel.current_statistics().seconds_to_next_deadline == math.inf


def _fail_on(path: Path, table: str, action: str) -> str:
    """Make every ``action`` on ``table`` fail inside SQLite; returns the DROP statement."""
    name = f"fail_{table}_{action.lower()}"
    with sqlite3.connect(path) as conn:
        conn.execute(
            f"CREATE TRIGGER {name} BEFORE {action} ON {table} "
            "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        )
    return f"DROP TRIGGER {name}"


async def test_a_failed_blob_write_keeps_the_acknowledged_value_it_would_replace(
    tmp_path: Path, clock: TrioClock
) -> None:
    path = tmp_path / "properties.db"
    async with PropertyStore(path, clock=clock, blob_threshold=16).running() as props:
        await props.put(CTX, "firmware", "old")
        await props.flush()
        await props.put_write_behind(CTX, "firmware", "new")  # cached, waiting for a flush
        undo = _fail_on(path, "property_block", "INSERT")
        with pytest.raises(OpenCrateError):
            await props.put(CTX, "firmware", b"x" * 100)
        rows(path, undo)
        assert props.get(CTX, "firmware") == "new"
    async with PropertyStore(path, clock=clock).running() as props:
        assert props.get(CTX, "firmware") == "new"


async def test_a_failed_delete_keeps_the_property_and_its_acknowledged_value(
    tmp_path: Path, clock: TrioClock
) -> None:
    path = tmp_path / "properties.db"
    async with PropertyStore(path, clock=clock).running() as props:
        await props.put(CTX, "mode", "old")
        await props.flush()
        await props.put_write_behind(CTX, "mode", "new")
        undo = _fail_on(path, "property", "DELETE")
        with pytest.raises(OpenCrateError):
            await props.delete(CTX, "mode")
        rows(path, undo)
        assert props.get(CTX, "mode") == "new"
    async with PropertyStore(path, clock=clock).running() as props:
        assert props.get(CTX, "mode") == "new"


async def test_a_durable_put_returns_once_its_row_is_on_disk(
    store: PropertyStore, tmp_path: Path
) -> None:
    path = tmp_path / "properties.db"
    for i in range(5):
        await store.put(CTX, "mode", f"v{i}")
        # Read by another connection: committed, not only cached.
        assert rows(path, "SELECT data FROM property WHERE name = 'mode'") == [(f'"v{i}"',)]
    detail = store.statistics().detail
    assert (detail.dirty, detail.durable_updates) == (0, 5)


async def test_concurrent_durable_puts_share_one_commit(tmp_path: Path, clock: TrioClock) -> None:
    # A commit delay long enough for every caller to join the first flush.
    store = PropertyStore(tmp_path / "p.db", clock=clock, commit_delay_s=0.05)
    async with store.running():
        async with trio.open_nursery() as nursery:
            for i in range(50):
                nursery.start_soon(store.put, CTX, f"p{i % 10}", i)
        detail = store.statistics().detail
        assert detail.durable_updates == 50
        assert detail.flushes == 1  # one transaction released all 50 callers
        assert detail.rows_written == 10  # and coalesced 50 updates into 10 rows
    assert len(rows(tmp_path / "p.db", "SELECT * FROM property")) == 10


async def test_a_durable_put_waits_for_a_write_behind_interval_no_longer(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    store = PropertyStore(tmp_path / "p.db", flush_interval_s=3600)
    async with store.running():
        await store.put_write_behind(CTX, "cache", 1)
        started = trio.current_time()
        await store.put(CTX, "setpoint", 21.5)
        assert trio.current_time() - started < 1
        # The write-behind update went with it: one flush wrote both.
        assert store.statistics().detail.dirty == 0
        assert store.statistics().detail.flushes == 1


async def test_a_failed_flush_fails_its_durable_puts_and_keeps_them_dirty(
    tmp_path: Path, clock: TrioClock
) -> None:
    path = tmp_path / "properties.db"
    async with PropertyStore(path, clock=clock, flush_interval_s=3600).running() as props:
        await props.put(CTX, "mode", "old")
        undo = _fail_on(path, "property", "UPDATE")
        with pytest.raises(OpenCrateError, match="injected failure"):
            await props.put(CTX, "mode", "new")
        assert props.statistics().detail.flush_failures == 1
        assert props.statistics().detail.dirty == 1  # retried with the next flush
        rows(path, undo)
        assert await props.flush() == 1
    async with PropertyStore(path, clock=clock).running() as props:
        assert props.get(CTX, "mode") == "new"
