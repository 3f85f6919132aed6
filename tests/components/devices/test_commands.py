"""The shared write path: PriorityWriter's bookkeeping and the CommandRouter, on a bridge in memory.

The memory bridge is built like a BACnet one (its device keeps the slots:
``_apply`` sends the slot that changed), so these tests also show that a
writer of that kind fits the base class. The Modbus writer (winner written)
is tested against a real Modbus server in tests/components/modbus/test_writes.py.
"""

from __future__ import annotations

import math

import pytest
import trio
import trio.testing

from opencrate.app import Services
from opencrate.clock import TrioClock
from opencrate.components.devices.commands import (
    OVERRIDE_PRIORITY,
    CommandRouter,
    PriorityView,
    PriorityWriter,
)
from opencrate.components.overrides.store import OverrideStore
from opencrate.components.points.store import PointStore
from opencrate.errors import DeviceError, InvalidInput, NotFound
from opencrate.runtime.bus import EventBus
from tests.components.devices.memory import RELINQUISH_DEFAULT, SlotDevice, SlotWrite, SlotWriter

SAFETY_S = 10


def _writer(
    clock: TrioClock, points: PointStore | None = None, *, device: SlotDevice | None = None
) -> SlotWriter:
    return SlotWriter(
        device or SlotDevice(),
        writable={"ahu/sp", "ahu/dmp"},
        read_only=frozenset({"ahu/temp"}),
        points=points or PointStore(EventBus(), clock),
        clock=clock,
    )


async def test_apply_gets_the_slot_that_changed_and_the_point_shows_the_read_back(
    clock: TrioClock,
) -> None:
    points = PointStore(EventBus(), clock)
    writer = _writer(clock, points)
    scheduled = await writer.write("ahu/sp", 21.0, priority=12, by="schedule")
    assert (scheduled.active_priority, scheduled.commanded, scheduled.read_back) == (12, 21.0, 21.0)
    operator = await writer.write("ahu/sp", 23.5, priority=8, by="olivia")
    assert (operator.priority, operator.active_priority, operator.read_back) == (8, 8, 23.5)
    assert points.get("ahu/sp").value == 23.5  # type: ignore[union-attr]
    back = await writer.write("ahu/sp", None, priority=8, by="olivia")
    assert (back.priority, back.active_priority, back.commanded, back.read_back) == (
        8,
        12,
        21.0,
        21.0,
    )
    assert writer.device.writes == [
        SlotWrite(point_id="ahu/sp", priority=12, value=21.0),
        SlotWrite(point_id="ahu/sp", priority=8, value=23.5),
        SlotWrite(point_id="ahu/sp", priority=8, value=None),  # the slot, not the winner
    ]
    assert points.get("ahu/sp").value == 21.0  # type: ignore[union-attr]
    assert writer.written == 3
    last = await writer.write("ahu/sp", None, priority=12, by="schedule")
    assert (last.active_priority, last.commanded, last.read_back) == (
        None,
        None,
        RELINQUISH_DEFAULT,
    )


async def test_a_command_the_device_refuses_leaves_the_slot_as_it_was(clock: TrioClock) -> None:
    writer = _writer(clock)
    await writer.write("ahu/sp", 20.0, priority=8, by="olivia")
    writer.device.refuse = True
    with pytest.raises(DeviceError, match="write access denied"):
        await writer.write("ahu/sp", 26.0, priority=8, by="mallory")
    with pytest.raises(DeviceError):
        await writer.write("ahu/sp", 30.0, priority=3, by="mallory")
    with pytest.raises(DeviceError):
        await writer.write("ahu/sp", None, priority=8, by="mallory")
    slots = writer.array("ahu/sp").slots()
    kept = slots[7]
    assert kept is not None
    assert (kept.value, kept.by) == (20.0, "olivia")
    assert [c for c in slots if c is not None] == [kept]
    assert writer.written == 1


async def test_bad_commands_are_refused_naming_what_is_wrong_and_take_no_slot(
    clock: TrioClock,
) -> None:
    writer = _writer(clock)
    with pytest.raises(InvalidInput, match="priority must be an integer from 1") as bad:
        await writer.write("ahu/sp", 20.0, priority=17, by="olivia")
    assert bad.value.detail["field"] == "priority"
    for duration in (0.0, -5.0, math.inf, math.nan):
        with pytest.raises(InvalidInput, match="duration must be a finite number") as bad:
            await writer.write("ahu/sp", 20.0, by="olivia", duration_s=duration)
        assert bad.value.detail["field"] == "duration"
    with pytest.raises(InvalidInput, match="takes a number, got 'warm'"):
        await writer.write("ahu/sp", "warm", by="olivia")
    with pytest.raises(InvalidInput, match="ahu/temp is an input"):
        await writer.write("ahu/temp", 1.0, by="olivia")
    with pytest.raises(NotFound, match="nope"):
        await writer.write("nope", 1.0, by="olivia")
    assert writer.device.writes == []
    assert writer.array("ahu/sp").active is None


async def test_a_timed_slot_is_relinquished_when_its_time_comes(
    clock: TrioClock, autojump_clock: trio.testing.MockClock
) -> None:
    writer = _writer(clock)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer.run_expiry)
        await writer.write("ahu/sp", 20.0, priority=12, by="schedule")
        start = trio.current_time()
        await writer.write("ahu/sp", 26.0, priority=8, by="olivia", duration_s=1800)
        await writer.write("ahu/dmp", 40.0, priority=9, by="olivia", duration_s=60)
        with trio.fail_after(3600):
            await writer.wait_written(4)  # the damper's slot ends first
        assert trio.current_time() - start == pytest.approx(60, abs=0.01)
        assert writer.device.slots["ahu/dmp"] == {}
        with trio.fail_after(3600):
            await writer.wait_written(5)
        assert trio.current_time() - start == pytest.approx(1800, abs=0.01)
        nursery.cancel_scope.cancel()
    assert writer.device.writes[-1] == SlotWrite(point_id="ahu/sp", priority=8, value=None)
    assert writer.array("ahu/sp").active.priority == 12  # type: ignore[union-attr]
    assert writer.device.present_value("ahu/sp") == 20.0


async def test_the_router_sends_each_command_to_the_writer_owning_the_point(
    clock: TrioClock,
) -> None:
    points = PointStore(EventBus(), clock)
    first = _writer(clock, points)
    second = SlotWriter(SlotDevice(), writable={"vav/flow"}, points=points, clock=clock)
    router = CommandRouter()
    router.add(first, protocol="memory")
    router.add(second, protocol="other")
    with pytest.raises(ValueError, match="a memory writer is registered already"):
        router.add(second, protocol="memory")
    assert router.writers == {"memory": first, "other": second}

    await router.write("vav/flow", 300.0, priority=10, by="olivia")
    await router.write("ahu/sp", 21.0, by="olivia")
    assert [w.point_id for w in second.device.writes] == ["vav/flow"]
    assert [w.point_id for w in first.device.writes] == ["ahu/sp"]
    assert router.handles("ahu/temp")  # its bridge's, if read-only: the write says why
    assert not router.handles("nope")
    with pytest.raises(InvalidInput, match="ahu/temp is an input"):
        await router.write("ahu/temp", 1.0, by="olivia")
    with pytest.raises(NotFound, match=r"point 'nope' is not a point any bridge writes") as gone:
        await router.write("nope", 1.0, by="olivia")
    assert gone.value.detail == {"node_id": "nope"}
    with pytest.raises(NotFound, match="nope"):
        await router.priority_view("nope")
    with pytest.raises(NotFound, match=r"\(bridges: none\)"):
        await CommandRouter().write("ahu/sp", 1.0, by="olivia")


async def test_a_writer_whose_device_keeps_the_array_shows_the_devices_slots(
    clock: TrioClock,
) -> None:
    device = SlotDevice(slots={"ahu/sp": {3: 15.0}})  # commanded by another workstation
    router = CommandRouter()
    router.add(_writer(clock, device=device), protocol="memory")
    await router.write("ahu/sp", 22.0, priority=8, by="olivia", duration_s=60)
    view = await router.priority_view("ahu/sp")
    assert isinstance(view, PriorityView)
    assert (view.active_priority, view.value, len(view.slots)) == (3, 15.0, 16)
    theirs, ours = view.slots[2], view.slots[7]
    assert theirs is not None
    assert (theirs.value, theirs.by, theirs.at_ms) == (15.0, None, None)
    assert ours is not None
    assert (ours.value, ours.by, ours.at_ms) == (22.0, "olivia", clock.now_ms())
    assert ours.until_ms == clock.now_ms() + 60_000


async def test_the_default_priority_view_is_the_local_array(clock: TrioClock) -> None:
    class LocalOnly(SlotWriter):
        priority_view = PriorityWriter.priority_view  # not the device's: the base class's

    points = PointStore(EventBus(), clock)
    writer = LocalOnly(SlotDevice(), writable={"ahu/sp"}, points=points, clock=clock)
    await writer.write("ahu/sp", 19.0, priority=16, by="default")
    view = await writer.priority_view("ahu/sp")
    assert (view.point_id, view.active_priority, view.value) == ("ahu/sp", 16, 19.0)
    assert [s is None for s in view.slots] == [True] * 15 + [False]


async def test_overrides_are_written_at_8_by_their_user_and_relinquished_when_released(
    services: Services, clock: TrioClock
) -> None:
    overrides = services.get(OverrideStore)
    writer = _writer(clock, services.get(PointStore))
    router = CommandRouter()
    router.add(writer, protocol="memory")
    await overrides.set("ahu/sp", 18.5, user="olivia", kind=None)  # as restored at start
    await overrides.set("ahu/temp", 30.0, user="olivia", kind=None)  # read-only: not written
    async with trio.open_nursery() as nursery:
        nursery.start_soon(router.follow_overrides, services.bus, overrides)
        with trio.fail_after(SAFETY_S):
            await writer.wait_written(1)
        assert writer.device.writes == [
            SlotWrite(point_id="ahu/sp", priority=OVERRIDE_PRIORITY, value=18.5)
        ]
        slot = writer.array("ahu/sp").slots()[OVERRIDE_PRIORITY - 1]
        assert slot is not None
        assert slot.by == "olivia"
        await overrides.set("ahu/dmp", 55.0, user="oscar", kind=None)
        with trio.fail_after(SAFETY_S):
            await writer.wait_written(2)
        await overrides.release("ahu/sp", user="olivia")
        with trio.fail_after(SAFETY_S):
            await writer.wait_written(3)
        nursery.cancel_scope.cancel()
    assert writer.device.writes[1:] == [
        SlotWrite(point_id="ahu/dmp", priority=OVERRIDE_PRIORITY, value=55.0),
        SlotWrite(point_id="ahu/sp", priority=OVERRIDE_PRIORITY, value=None),
    ]
    assert writer.array("ahu/sp").active is None
    assert "ahu/temp" not in writer.device.slots


async def test_the_devices_component_runs_expiry_and_overrides_for_every_writer(
    services: Services, clock: TrioClock
) -> None:
    router = services.get(CommandRouter)
    writer = _writer(clock, services.get(PointStore))
    router.add(writer, protocol="memory")
    await services.get(OverrideStore).set("ahu/sp", 24.0, user="olivia", kind=None)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(router.run, services.bus, services.get(OverrideStore))
        await writer.write("ahu/dmp", 10.0, by="olivia", duration_s=0.05)
        with trio.fail_after(SAFETY_S):
            await writer.wait_written(3)  # the override, the damper, the damper's expiry
        nursery.cancel_scope.cancel()
    assert writer.device.slots == {"ahu/sp": {8: 24.0}, "ahu/dmp": {}}
