from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from opencrate.clock import TrioClock
from opencrate.components.bacnet.records import DeviceState, DiscoveredDevice, DiscoveredPoint
from opencrate.components.bacnet.store import DiscoveryStore
from opencrate.errors import Conflict, InvalidInput, NotFound
from opencrate.model.values import PointValue
from opencrate.runtime.records import from_json, json_schema, to_json


@pytest.fixture
async def store(tmp_path: Path, clock: TrioClock) -> AsyncIterator[DiscoveryStore]:
    async with DiscoveryStore(tmp_path / "discovery.db", clock=clock).running() as s:
        yield s


def ai(instance: int, name: str = "Zone Temp", key: str = "1001") -> DiscoveredPoint:
    return DiscoveredPoint(
        device_key=key,
        object_type="analog-input",
        object_instance=instance,
        object_name=name,
        units="degrees-celsius",
        present_value=21.5,
        writable=False,
        cov=True,
    )


async def test_first_i_am_is_a_new_discovered_device(
    store: DiscoveryStore, clock: TrioClock
) -> None:
    before = clock.now_ms()
    seen = await store.record_i_am(
        1001, address="127.0.0.1:47808", vendor_id=15, max_apdu=1476, segmentation="segmented-both"
    )
    assert seen.new
    device = seen.device
    assert device.device_key == "1001"
    assert device.protocol == "bacnet"
    assert device.device_instance == 1001
    assert device.state is DeviceState.DISCOVERED
    assert device.network_id == "ip-main"
    assert before <= device.first_seen_ms == device.last_seen_ms <= clock.now_ms()
    assert (device.vendor_id, device.max_apdu, device.segmentation) == (
        15,
        1476,
        "segmented-both",
    )
    assert device.node_ids == ()
    assert not device.object_list_stale
    assert await store.get("1001") == device


async def test_later_i_am_updates_last_seen_and_address_but_keeps_state(
    store: DiscoveryStore, clock: TrioClock, autojump_clock: trio.testing.MockClock
) -> None:
    first = (await store.record_i_am(1001, address="10.0.0.5", vendor_id=15)).device
    await store.set_state("1001", DeviceState.IGNORED)
    await trio.sleep(5)
    before = clock.now_ms()
    again = await store.record_i_am(1001, address="10.0.0.6", network_id="ip-2")
    assert not again.new
    device = again.device
    assert device.state is DeviceState.IGNORED
    assert device.first_seen_ms == first.first_seen_ms
    assert device.last_seen_ms >= before >= first.last_seen_ms + 5000
    assert device.address == "10.0.0.6"
    assert device.network_id == "ip-2"
    assert device.vendor_id == 15  # not given this time: kept

    await store.set_state("1001", "accepted", node_ids=["1001"])
    device = (await store.record_i_am(1001, address="10.0.0.6")).device
    assert device.state is DeviceState.ACCEPTED
    assert device.node_ids == ("1001",)


async def test_list_hides_ignored_devices_unless_asked(store: DiscoveryStore) -> None:
    for instance in (1003, 1001, 1002):
        await store.record_i_am(instance, address=f"10.0.0.{instance - 1000}")
    await store.set_state("1002", DeviceState.IGNORED)
    await store.set_state("1003", DeviceState.ACCEPTED)
    assert [d.device_key for d in await store.list()] == ["1001", "1003"]
    assert [d.device_key for d in await store.list(include_ignored=True)] == [
        "1001",
        "1002",
        "1003",
    ]
    assert [d.device_key for d in await store.list("ignored")] == ["1002"]
    assert [d.device_key for d in await store.list(DeviceState.ACCEPTED)] == ["1003"]
    with pytest.raises(InvalidInput, match="unknown device state 'lost'"):
        await store.list("lost")


async def test_replace_points_swaps_the_object_list_and_sets_the_count(
    store: DiscoveryStore,
) -> None:
    await store.record_i_am(1001, address="10.0.0.5")
    device = await store.replace_points("1001", [ai(2, "Return Temp"), ai(1)])
    assert device.object_count == 2
    points = await store.points("1001")
    assert [(p.object_instance, p.object_name) for p in points] == [
        (1, "Zone Temp"),
        (2, "Return Temp"),
    ]
    assert points[0] == ai(1)

    binary = DiscoveredPoint(
        device_key="1001", object_type="binary-output", object_instance=1, present_value=True
    )
    device = await store.replace_points("1001", [binary], object_count=3)
    assert device.object_count == 3  # the device object and others are counted too
    assert await store.points("1001") == [binary]
    assert (await store.replace_points("1001", [])).object_count == 0
    assert await store.points("1001") == []


async def test_replace_points_refuses_bad_points_and_changes_nothing(
    store: DiscoveryStore,
) -> None:
    await store.record_i_am(1001, address="10.0.0.5")
    await store.replace_points("1001", [ai(1)])
    cases = [
        ([ai(1), ai(1)], "analog-input-1 appears twice"),
        ([ai(1, key="1002")], "belongs to device '1002', not '1001'"),
        (
            [DiscoveredPoint(device_key="1001", object_type="Analog Input", object_instance=1)],
            "not a BACnet object type name",
        ),
        (
            [DiscoveredPoint(device_key="1001", object_type="analog-input", object_instance=-1)],
            "object_instance must be an integer in 0..4194303",
        ),
        (
            [
                DiscoveredPoint(
                    device_key="1001",
                    object_type="analog-input",
                    object_instance=1,
                    present_value=float("nan"),
                )
            ],
            "present value of analog-input-1 must be a finite number",
        ),
        (["analog-input-1"], "must be DiscoveredPoint records, got str"),
    ]
    for points, message in cases:
        with pytest.raises(InvalidInput, match=message):
            await store.replace_points("1001", points)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="object_count must be a non-negative integer"):
        await store.replace_points("1001", [ai(1)], object_count=-1)
    assert await store.points("1001") == [ai(1)]


async def test_unknown_device_is_not_found_everywhere(store: DiscoveryStore) -> None:
    calls = [
        store.get("9"),
        store.points("9"),
        store.replace_points("9", []),
        store.set_state("9", "accepted"),
        store.mark_object_list_stale("9", 3),
        store.clear_object_list_stale("9"),
        store.describe("9", device_name="x"),
    ]
    for call in calls:
        with pytest.raises(NotFound, match="no discovered device '9'"):
            await call


async def test_bad_arguments_name_what_was_wrong(store: DiscoveryStore) -> None:
    await store.record_i_am(1001, address="10.0.0.5")
    with pytest.raises(InvalidInput, match=r"device_instance must be an integer in 0\.\.4194303"):
        await store.record_i_am(4_194_304, address="10.0.0.5")
    with pytest.raises(InvalidInput, match="device_instance"):
        await store.record_i_am(True, address="10.0.0.5")
    with pytest.raises(InvalidInput, match="address must not be empty"):
        await store.record_i_am(1002, address=" ")
    with pytest.raises(InvalidInput, match="max_apdu must be a non-negative integer"):
        await store.record_i_am(1002, address="x", max_apdu=-5)
    with pytest.raises(InvalidInput, match="unknown device state 'gone'"):
        await store.set_state("1001", "gone")
    with pytest.raises(InvalidInput, match="node_ids must be a list"):
        await store.set_state("1001", "accepted", node_ids="1001")
    with pytest.raises(InvalidInput, match="new_count must be a non-negative integer"):
        await store.mark_object_list_stale("1001", -1)
    with pytest.raises(InvalidInput, match="a device key must be a non-empty string"):
        await store.get("")
    assert [d.device_key for d in await store.list()] == ["1001"]


async def test_accept_stamps_time_and_clears_a_stale_object_list(
    store: DiscoveryStore, clock: TrioClock
) -> None:
    await store.record_i_am(1001, address="10.0.0.5")
    await store.replace_points("1001", [ai(1)])
    before = clock.now_ms()
    accepted = await store.set_state("1001", "accepted", node_ids=["1001", "1001/analog-input-1"])
    assert accepted.accepted_ms is not None
    assert before <= accepted.accepted_ms <= clock.now_ms()
    stale = await store.mark_object_list_stale("1001", 2)
    assert stale.object_list_stale
    assert stale.object_count == 2
    assert stale.state is DeviceState.ACCEPTED
    ignored = await store.set_state("1001", "ignored")
    assert ignored.node_ids == accepted.node_ids  # kept: a re-accept knows its nodes
    assert ignored.object_list_stale
    again = await store.set_state("1001", "accepted")
    assert not again.object_list_stale
    assert again.node_ids == accepted.node_ids
    await store.mark_object_list_stale("1001", 3)
    assert not (await store.clear_object_list_stale("1001")).object_list_stale


async def test_describe_sets_names_and_none_keeps_them(store: DiscoveryStore) -> None:
    await store.record_i_am(1001, address="10.0.0.5")
    device = await store.describe(
        "1001", vendor_name="Acme", model_name="AHU controller", device_name="AHU-1"
    )
    assert (device.vendor_name, device.model_name, device.device_name) == (
        "Acme",
        "AHU controller",
        "AHU-1",
    )
    device = await store.describe("1001", device_name="AHU-1b")
    assert (device.vendor_name, device.device_name) == ("Acme", "AHU-1b")
    with pytest.raises(InvalidInput, match="device_name is longer than 1024"):
        await store.describe("1001", device_name="x" * 2000)


async def test_i_am_flood_stops_at_max_devices(tmp_path: Path, clock: TrioClock) -> None:
    async with DiscoveryStore(tmp_path / "d.db", clock=clock, max_devices=3).running() as store:
        for instance in range(3):
            await store.record_i_am(instance, address="10.0.0.1")
        with pytest.raises(Conflict, match="discovery store is full"):
            await store.record_i_am(99, address="10.0.0.1")
        # A device already known still updates.
        assert not (await store.record_i_am(1, address="10.0.0.2")).new
        assert len(await store.list()) == 3


async def test_object_list_longer_than_max_objects_is_refused(
    tmp_path: Path, clock: TrioClock
) -> None:
    async with DiscoveryStore(tmp_path / "d.db", clock=clock, max_objects=2).running() as store:
        await store.record_i_am(1001, address="10.0.0.5")
        await store.replace_points("1001", [ai(1), ai(2)])
        with pytest.raises(InvalidInput, match="device 1001 lists 3 objects; at most 2 are kept"):
            await store.replace_points("1001", [ai(1), ai(2), ai(3)])
        assert len(await store.points("1001")) == 2
    with pytest.raises(InvalidInput, match="max_objects must be a positive integer, got 0"):
        DiscoveryStore(tmp_path / "d.db", max_objects=0)


_values = st.one_of(
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(2**63), 2**63 - 1),
    st.booleans(),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=20),
)
_names = st.none() | st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=40)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    value=_values,
    name=_names,
    units=_names,
    flags=st.tuples(st.none() | st.booleans(), st.none() | st.booleans()),
)
async def test_points_round_trip_through_the_file(
    tmp_path: Path,
    value: PointValue | None,
    name: str | None,
    units: str | None,
    flags: tuple[bool | None, bool | None],
) -> None:
    assume(name is None or name.strip())
    assume(units is None or units.strip())
    wanted = DiscoveredPoint(
        device_key="7",
        object_type="multi-state-value",
        object_instance=4_194_303,
        object_name=name,
        description=name,
        units=units,
        present_value=value,
        writable=flags[0],
        cov=flags[1],
    )
    async with DiscoveryStore(tmp_path / "rt.db").running() as store:
        await store.record_i_am(7, address="10.0.0.7")
        await store.replace_points("7", [wanted])
        (got,) = await store.points("7")
    assert got == wanted
    assert type(got.present_value) is type(value)
    assert from_json(DiscoveredPoint, to_json(got)) == got


async def test_device_json_shape_matches_its_schema(store: DiscoveryStore) -> None:
    await store.record_i_am(1001, address="10.0.0.5")
    device = await store.set_state("1001", "accepted", node_ids=["1001"])
    shape = to_json(device)
    assert shape["state"] == "accepted"
    assert shape["node_ids"] == ["1001"]
    assert shape["object_list_stale"] is False
    assert set(shape) == set(json_schema(DiscoveredDevice)["properties"])
    assert from_json(DiscoveredDevice, shape) == device


async def test_deleting_a_device_row_deletes_its_points(tmp_path: Path, clock: TrioClock) -> None:
    path = tmp_path / "discovery.db"
    async with DiscoveryStore(path, clock=clock).running() as store:
        await store.record_i_am(1001, address="10.0.0.5")
        await store.replace_points("1001", [ai(1), ai(2)])
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("DELETE FROM discovered_device")
    conn.commit()
    assert conn.execute("SELECT count(*) FROM discovered_point").fetchone()[0] == 0
    conn.close()


async def test_rows_survive_a_restart(tmp_path: Path, clock: TrioClock) -> None:
    path = tmp_path / "discovery.db"
    async with DiscoveryStore(path, clock=clock).running() as store:
        await store.record_i_am(1001, address="10.0.0.5", segmentation="no-segmentation")
        await store.replace_points("1001", [ai(1)])
        device = await store.set_state("1001", "accepted", node_ids=["1001"])
    async with DiscoveryStore(path, clock=clock).running() as store:
        assert store.schema_version == 4
        assert await store.get("1001") == device
        assert await store.points("1001") == [ai(1)]
