"""A store that cannot write: a read-only file at start, a disk that fills up under it.

Real filesystems: a small tmpfs filled to the last byte, and a file that
cannot be opened for writing (immutable as root, mode 0444 otherwise).
Skipped, with the reason, where the machine does not allow mounting.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import trio

from opencrate.components.properties.store import PropertyStore
from opencrate.errors import StorageFull, StoreUnavailable
from tests.harness import fill_disk, read_only_file, small_disk


async def test_a_read_only_file_fails_the_start_naming_the_file_and_the_cause(
    tmp_path: Path,
) -> None:
    path = tmp_path / "properties.db"
    async with PropertyStore(path).running() as store:
        await store.put("site", "name", "HQ")
    with read_only_file(path):
        store = PropertyStore(path)
        # PropertyStore.run runs the actor and its flusher in a nursery: a group.
        # (Before the write probe at open, it started and served reads forever.)
        with pytest.RaisesGroup(StoreUnavailable) as caught, trio.fail_after(10):
            await store.run()
        message = str(caught.value.exceptions[0])
        assert message.startswith(f"store properties: cannot write {path}: ")
        assert "readonly" in message
        assert store.closed
    async with PropertyStore(path).running() as store:
        assert store.get("site", "name") == "HQ"


async def test_a_full_disk_degrades_the_store_refuses_writes_and_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with small_disk(tmp_path / "disk", "2m") as disk:
        path = disk / "properties.db"
        acknowledged: dict[str, str] = {}
        async with PropertyStore(path).running() as store:
            filler = fill_disk(disk)
            # Room for a few writes, so some are acknowledged before the disk is full.
            os.truncate(filler, filler.stat().st_size - 64 * 1024)
            with caplog.at_level(logging.WARNING), pytest.raises(StorageFull) as caught:
                await _put_until_refused(store, acknowledged)
            assert str(caught.value) == "store properties cannot write: database or disk is full"
            stats = store.statistics()
            assert stats.degraded
            assert stats.fault is not None
            assert stats.fault.code == "storage_full"
            # Logged once as the store degrades, not once a write.
            assert sum("degraded" in r.getMessage() for r in caplog.records) == 1
            with pytest.raises(StorageFull):
                await store.put("site", "again", "x" * 1024)
            assert store.statistics().fault.failures >= 2  # type: ignore[union-attr]

            filler.unlink()  # space freed: the next write commits and the store recovers
            await store.put("site", "after", "ok")
            assert store.statistics().fault is None
            assert not store.statistics().degraded
        async with PropertyStore(path).running() as reopened:
            for key, value in acknowledged.items():
                assert reopened.get("site", key) == value
            assert reopened.get("site", "after") == "ok"
        assert len(acknowledged) > 0


async def _put_until_refused(store: PropertyStore, acknowledged: dict[str, str]) -> None:
    for i in range(10_000):
        value = f"{i:04d}" * 256
        await store.put("site", f"k{i}", value)
        acknowledged[f"k{i}"] = value
