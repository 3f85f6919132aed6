"""discovery.db files written by older schema versions open, migrate to v4 and keep their rows.

The old schemas are written out here as a v1..v3 OpenCrate created them, not
taken from the store module, so a change to an old migration step shows up.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from opencrate.clock import TrioClock
from opencrate.components.bacnet.records import DeviceState, DiscoveredPoint
from opencrate.components.bacnet.store import DiscoveryStore
from opencrate.errors import StoreError

V1 = """
CREATE TABLE discovered_device (
    device_key TEXT PRIMARY KEY, protocol TEXT NOT NULL, device_instance INTEGER,
    address TEXT NOT NULL, vendor_id INTEGER, vendor_name TEXT, model_name TEXT,
    device_name TEXT, max_apdu INTEGER, segmentation TEXT,
    state TEXT NOT NULL CHECK (state IN ('discovered', 'accepted', 'ignored')),
    first_seen_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL, object_count INTEGER
);
CREATE TABLE discovered_point (
    device_key TEXT NOT NULL REFERENCES discovered_device ON DELETE CASCADE,
    object_type TEXT NOT NULL, object_instance INTEGER NOT NULL, object_name TEXT,
    description TEXT, units TEXT, present_value TEXT, writable INTEGER, cov INTEGER,
    PRIMARY KEY (device_key, object_type, object_instance)
);
"""
V2 = """
ALTER TABLE discovered_device ADD COLUMN accepted_ms INTEGER;
ALTER TABLE discovered_device ADD COLUMN node_ids TEXT;
"""
V3 = "ALTER TABLE discovered_device ADD COLUMN network_id TEXT NOT NULL DEFAULT 'ip-main';"

DEVICES = [
    # key, protocol, instance, address, vendor_id, vendor, model, name, apdu, seg, state, first,
    # last, count
    ("1001", "bacnet", 1001, "10.0.0.5", 15, "Acme", "AHU-ctl", "AHU-1", 1476,
     "segmented-both", "accepted", 1_000, 2_000, 3),
    ("1002", "bacnet", 1002, "10.0.0.6", 7, None, None, None, 480,
     "no-segmentation", "discovered", 1_100, 2_100, 1),
    ("1003", "bacnet", 1003, "10.0.0.7", None, None, None, None, None,
     None, "ignored", 1_200, 2_200, None),
]  # fmt: skip
POINTS = [
    ("1001", "analog-input", 1, "Supply Air Temp", "SAT", "degrees-celsius", "13.5", 0, 1),
    ("1001", "analog-output", 1, "Damper", None, "percent", "40.0", 1, 0),
    ("1001", "binary-value", 2, "Fan Enable", None, None, "true", 1, None),
    ("1002", "multi-state-input", 1, "Mode", None, None, "3", 0, 1),
]


def old_file(path: Path, version: int) -> None:
    """A discovery.db as schema ``version`` (1..3) left it, holding DEVICES and POINTS."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(V1)
    conn.executemany(
        "INSERT INTO discovered_device (device_key, protocol, device_instance, address, "
        "vendor_id, vendor_name, model_name, device_name, max_apdu, segmentation, state, "
        "first_seen_ms, last_seen_ms, object_count) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        DEVICES,
    )
    conn.executemany("INSERT INTO discovered_point VALUES (?,?,?,?,?,?,?,?,?)", POINTS)
    if version >= 2:
        conn.executescript(V2)
        conn.execute(
            "UPDATE discovered_device SET accepted_ms = 1500, node_ids = ? WHERE device_key = ?",
            (json.dumps(["1001", "1001/analog-input-1"]), "1001"),
        )
    if version >= 3:
        conn.executescript(V3)
        conn.execute("UPDATE discovered_device SET network_id = 'ip-2' WHERE device_key = '1002'")
    conn.execute(f"PRAGMA user_version={version}")
    conn.close()


@pytest.mark.parametrize("version", [1, 2, 3])
async def test_old_file_migrates_to_v4_with_every_row(
    tmp_path: Path, clock: TrioClock, version: int
) -> None:
    path = tmp_path / "discovery.db"
    old_file(path, version)
    async with DiscoveryStore(path, clock=clock).running() as store:
        assert store.schema_version == 4
        devices = await store.list(include_ignored=True)
        assert [d.device_key for d in devices] == ["1001", "1002", "1003"]
        first, second, third = devices
        assert second.max_apdu == 480
        assert (first.vendor_name, first.model_name, first.device_name) == (
            "Acme",
            "AHU-ctl",
            "AHU-1",
        )
        assert (first.address, first.vendor_id, first.max_apdu, first.segmentation) == (
            "10.0.0.5",
            15,
            1476,
            "segmented-both",
        )
        assert [d.state for d in devices] == [
            DeviceState.ACCEPTED,
            DeviceState.DISCOVERED,
            DeviceState.IGNORED,
        ]
        assert [(d.first_seen_ms, d.last_seen_ms) for d in devices] == [
            (1_000, 2_000),
            (1_100, 2_100),
            (1_200, 2_200),
        ]
        assert [d.object_count for d in devices] == [3, 1, None]
        assert third.vendor_id is None
        # v4's column at its default on every row.
        assert [d.object_list_stale for d in devices] == [False, False, False]
        if version >= 2:
            assert first.accepted_ms == 1500
            assert first.node_ids == ("1001", "1001/analog-input-1")
        else:  # v2's columns at their defaults
            assert [(d.accepted_ms, d.node_ids) for d in devices] == [(None, ())] * 3
        if version >= 3:
            assert [d.network_id for d in devices] == ["ip-main", "ip-2", "ip-main"]
        else:  # v3's default
            assert [d.network_id for d in devices] == ["ip-main"] * 3

        assert await store.points("1001") == [
            DiscoveredPoint(
                device_key="1001",
                object_type="analog-input",
                object_instance=1,
                object_name="Supply Air Temp",
                description="SAT",
                units="degrees-celsius",
                present_value=13.5,
                writable=False,
                cov=True,
            ),
            DiscoveredPoint(
                device_key="1001",
                object_type="analog-output",
                object_instance=1,
                object_name="Damper",
                units="percent",
                present_value=40.0,
                writable=True,
                cov=False,
            ),
            DiscoveredPoint(
                device_key="1001",
                object_type="binary-value",
                object_instance=2,
                object_name="Fan Enable",
                present_value=True,
                writable=True,
            ),
        ]
        (mode,) = await store.points("1002")
        assert mode.present_value == 3
        assert await store.points("1003") == []

        # The migrated file takes new writes in the new columns.
        stale = await store.mark_object_list_stale("1002", 2)
        assert stale.object_list_stale
        assert stale.object_count == 2
    # ...and the columns are the v4 ones, in order, when opened again.
    conn = sqlite3.connect(path)
    cols = [r[1] for r in conn.execute("PRAGMA table_info(discovered_device)")]
    assert cols[-4:] == ["accepted_ms", "node_ids", "network_id", "object_list_stale"]
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 4
    conn.close()


async def test_empty_file_is_created_at_v4(tmp_path: Path, clock: TrioClock) -> None:
    async with DiscoveryStore(tmp_path / "data" / "discovery.db", clock=clock).running() as store:
        assert store.schema_version == 4
        assert await store.list() == []


async def test_file_from_a_newer_version_is_refused_and_left_alone(
    tmp_path: Path, clock: TrioClock
) -> None:
    path = tmp_path / "discovery.db"
    old_file(path, 3)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=5")
    conn.close()
    with pytest.raises(
        StoreError,
        match="store discovery: database schema version 5 is newer than this OpenCrate "
        r"knows \(4\); refusing to open it",
    ):
        await DiscoveryStore(path, clock=clock).run()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 5
    assert conn.execute("SELECT count(*) FROM discovered_device").fetchone()[0] == 3
    conn.close()
    assert list(tmp_path.glob("*.corrupt-*")) == []


async def test_corrupt_file_is_quarantined_and_recreated_empty(
    tmp_path: Path, clock: TrioClock
) -> None:
    path = tmp_path / "discovery.db"
    path.write_bytes(b"not a database at all " * 200)
    store = DiscoveryStore(path, clock=clock)
    async with store.running():
        assert store.schema_version == 4
        assert await store.list() == []
        assert (await store.record_i_am(1001, address="10.0.0.5")).new
    record = store.statistics().quarantined
    assert record is not None
    assert record.store == "discovery"
    assert ".corrupt-" in record.moved_to
    assert Path(record.moved_to).read_bytes().startswith(b"not a database")
    assert "not a database" in record.reason
