"""Hostile input from the network never crashes the bridge or grows its memory without bound.

A whole :class:`BacnetBridge` (``bridge_harness``) on a free loopback port gets:

- malformed datagrams and APDUs, from @bacnet-js/client's socket (``send_raw``) and from raw
  Python UDP sockets: truncated BVLC, lengths that lie, unknown functions and PDU types,
  random bytes from fixed seeds. Afterwards the bridge still answers a Who-Is, its tasks
  are alive (an I-Am still reaches the DiscoveryStore) and a read still works;
- an I-Am flood of 20 000 distinct instances: the DiscoveryStore stops at ``max_devices``,
  the drops are counted, and bacpypes3's device-info cache stays capped;
- a device answering every request with an error: its points go ``fault``, the device is
  not down;
- a device whose answers come in segments for ever: it costs one request deadline, and
  another device keeps being polled on time meanwhile;
- COV notifications for subscriptions the bridge never made (an unknown process id, or a
  real one sent from another address): counted and dropped, the confirmed ones refused.

Real sockets and the real clock; waits on facts (answers, counters, events) under
``fail_after``. The tests that use device.js skip without node (fail with
OPENCRATE_BACNET_JS=1 or OPENCRATE_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import random
import socket
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import pytest
import trio
import trio.lowlevel

from opencrate.components.bacnet import adapter
from opencrate.components.bacnet.records import DeviceState
from opencrate.components.bacnet.values import ObjectRef
from opencrate.components.points.store import PointState
from opencrate.model.values import PointStatus
from opencrate.runtime.events import DeviceDown, DeviceRecovered
from tests.peers.bacnet_js_peer import JsDevice, bacnet_js_device

from .bridge_harness import Running, running_bridge
from .conftest import free_udp_port

SAFETY_S = 30
#: The bridge's own device instance (the ``[bacnet] device_instance`` default).
BRIDGE_INSTANCE = 4_194_301
ZONE = ObjectRef("analog-input", 1)


# -- BACnet/IP by hand --------------------------------------------------------------------------
def bvlc(body: bytes, function: int = 0x0A) -> bytes:
    """A BVLC frame (Original-Unicast-NPDU by default) with its true length."""
    return bytes([0x81, function]) + struct.pack(">H", len(body) + 4) + body


NPDU = b"\x01\x00"  # version 1, no addresses, no reply expected
NPDU_REPLY = b"\x01\x04"  # ... a reply expected (confirmed requests)


def objid(object_type: int, instance: int) -> bytes:
    return struct.pack(">I", (object_type << 22) | instance)


WHO_IS = bvlc(NPDU + b"\x10\x08")


def i_am(instance: int) -> bytes:
    return bvlc(
        NPDU + b"\x10\x00" + b"\xc4" + objid(8, instance) + b"\x22\x05\xc4" + b"\x91\x00"
        + b"\x22\x03\xe7"
    )  # fmt: skip


def cov_notification(
    process_id: int, device: int, obj: tuple[int, int], value: float, *, invoke_id: int | None
) -> bytes:
    """An (un)confirmed COV notification of present-value and status-flags."""
    params = (
        b"\x0b" + process_id.to_bytes(3, "big")  # [0] subscriber process id
        + b"\x1c" + objid(8, device)  # [1] initiating device
        + b"\x2c" + objid(*obj)  # [2] monitored object
        + b"\x39\x3c"  # [3] time remaining 60
        + b"\x4e"  # [4] list of values
        + b"\x09\x55\x2e\x44" + struct.pack(">f", value) + b"\x2f"  # present-value
        + b"\x09\x6f\x2e\x82\x04\x00\x2f"  # status-flags all clear
        + b"\x4f"
    )  # fmt: skip
    if invoke_id is None:
        return bvlc(NPDU + b"\x10\x02" + params)
    return bvlc(NPDU_REPLY + bytes([0x00, 0x05, invoke_id, 0x01]) + params)


def apdu_of(datagram: bytes) -> bytes:
    """The APDU of a BVLC unicast datagram (skipping the NPDU's addresses, if any)."""
    assert datagram[:2] == b"\x81\x0a", datagram.hex()
    control, at = datagram[5], 6
    if control & 0x80:
        raise AssertionError(f"a network-layer message, not an APDU: {datagram.hex()}")
    if control & 0x20:  # destination: net, length, address (and a hop count below)
        at += 3 + datagram[at + 2]
    if control & 0x08:  # source: net, length, address
        at += 3 + datagram[at + 2]
    if control & 0x20:
        at += 1
    return datagram[at:]


def i_am_instance(datagram: bytes) -> int | None:
    try:
        apdu = apdu_of(datagram)
    except (AssertionError, IndexError):
        return None
    if apdu[:3] != b"\x10\x00\xc4":
        return None
    return int.from_bytes(apdu[3:7], "big") & 0x3FFFFF


def is_who_is(datagram: bytes) -> bool:
    try:
        return apdu_of(datagram)[:2] == b"\x10\x08"
    except (AssertionError, IndexError):
        return False


#: Malformed datagrams: each names what is wrong with it.
MALFORMED: list[tuple[str, bytes]] = [
    ("empty", b""),
    ("one octet", b"\x81"),
    ("BVLC header cut", b"\x81\x0a\x00"),
    ("BVLC only, length 4", b"\x81\x0a\x00\x04"),
    ("BVLC length 0", b"\x81\x0a\x00\x00" + NPDU + b"\x10\x08"),
    ("BVLC length 2 (less than its header)", b"\x81\x0a\x00\x02" + NPDU + b"\x10\x08"),
    ("BVLC length longer than the datagram", b"\x81\x0a\x05\xdc" + NPDU + b"\x10\x08"),
    ("BVLC length shorter than the datagram", b"\x81\x0a\x00\x06" + NPDU + b"\x10\x08"),
    ("not BACnet/IP (type 0x82)", b"\x82\x0a\x00\x08" + NPDU + b"\x10\x08"),
    ("unknown BVLC function", bvlc(NPDU + b"\x10\x08", function=0x7F)),
    ("BVLC result truncated", b"\x81\x00\x00\x05\x00"),
    ("forwarded NPDU without its address", b"\x81\x04\x00\x06\x7f\x00"),
    ("register foreign device, no TTL", b"\x81\x05\x00\x04"),
    ("read BDT (we are no BBMD)", b"\x81\x02\x00\x04"),
    ("NPDU version 2", bvlc(b"\x02\x00\x10\x08")),
    ("NPDU cut after the version", bvlc(b"\x01")),
    ("NPDU with a destination, cut", bvlc(b"\x01\x20\xff")),
    ("NPDU with a destination length past the end", bvlc(b"\x01\x20\xff\xff\x09\x01")),
    ("network-layer message, unknown type", bvlc(b"\x01\x80\x7e")),
    ("network-layer who-is-router, truncated", bvlc(b"\x01\x80\x00\xff")),
    ("APDU empty", bvlc(NPDU)),
    ("unknown PDU type 0x80", bvlc(NPDU + b"\x80\x00")),
    ("unknown PDU type 0xf0", bvlc(NPDU + b"\xf0\x01\x02\x03")),
    ("confirmed request cut", bvlc(NPDU_REPLY + b"\x00\x05")),
    ("confirmed request, unknown service", bvlc(NPDU_REPLY + b"\x00\x05\x01\x7f\x00")),
    ("read-property without parameters", bvlc(NPDU_REPLY + b"\x00\x05\x02\x0c")),
    (
        "read-property, tag length past the end",
        bvlc(NPDU_REPLY + b"\x00\x05\x03\x0c\x0c\x02\x3f\xff\xfd\x19"),
    ),
    (
        "read-property of an unknown object type",
        bvlc(NPDU_REPLY + b"\x00\x05\x04\x0c\x0c" + objid(1000, 1) + b"\x19\x55"),
    ),
    (
        "read-property with an extended length tag of 2**32-1",
        bvlc(NPDU_REPLY + b"\x00\x05\x05\x0c\x0d\xff\xff\xff\xff\xff"),
    ),
    (
        "segmented request, window 0",
        bvlc(NPDU_REPLY + b"\x0a\x05\x06\x00\x00\x0c\x0c" + objid(8, BRIDGE_INSTANCE)),
    ),
    ("unconfirmed request, unknown service", bvlc(NPDU + b"\x10\x7f\x00")),
    ("who-is with a low limit only", bvlc(NPDU + b"\x10\x08\x09\x01")),
    ("who-is with a range past 4194303", bvlc(NPDU + b"\x10\x08\x0b\xff\xff\xff\x1b\xff\xff\xff")),
    ("i-am without fields", bvlc(NPDU + b"\x10\x00")),
    ("i-am with wrong tag types", bvlc(NPDU + b"\x10\x00\x21\x01\x21\x02\x21\x03\x21\x04")),
    (
        "i-am of a non-device object",
        bvlc(NPDU + b"\x10\x00\xc4" + objid(0, 5) + b"\x22\x05\xc4\x91\x00\x22\x03\xe7"),
    ),
    ("simple ack nobody waits for", bvlc(NPDU + b"\x20\x99\x0f")),
    ("complex ack nobody waits for", bvlc(NPDU + b"\x30\x98\x0c\x0c" + objid(0, 1))),
    ("segmented complex ack nobody waits for", bvlc(NPDU + b"\x3c\x97\x00\x04\x0c\x0c")),
    ("segment ack nobody waits for", bvlc(NPDU + b"\x40\x96\x00\x04")),
    ("error nobody waits for", bvlc(NPDU + b"\x50\x95\x0c\x91\x01\x91\x1f")),
    ("reject nobody waits for", bvlc(NPDU + b"\x60\x94\x09")),
    ("abort nobody waits for", bvlc(NPDU + b"\x70\x93\x04")),
    ("error cut", bvlc(NPDU + b"\x50")),
    ("unconfirmed COV notification cut", bvlc(NPDU + b"\x10\x02\x09")),
    (
        "confirmed COV notification with an unclosed list",
        bvlc(
            NPDU_REPLY
            + b"\x00\x05\x07\x01\x09\x01\x1c"
            + objid(8, 1)
            + b"\x2c"
            + objid(0, 1)
            + b"\x39\x3c\x4e\x09\x55\x2e\x44\x00\x00"
        ),
    ),
    ("an octet past every tag", bvlc(NPDU + b"\x10\x08" + b"\xff" * 40)),
]


class Raw:
    """A raw UDP socket on 127.0.0.1 (trio), talking to the bridge at ``target``."""

    def __init__(self, sock: trio.socket.SocketType, target: tuple[str, int]) -> None:
        self.sock = sock
        self.target = target

    async def send(self, datagram: bytes) -> None:
        await self.sock.sendto(datagram, self.target)

    async def receive(self) -> bytes:
        data, _ = await self.sock.recvfrom(2048)
        return data

    async def bridge_answers_who_is(self, after: str = "") -> None:
        """Send a Who-Is and wait for the bridge's own I-Am (other answers are skipped);
        fail naming ``after`` when it does not come within 5 s."""
        with trio.move_on_after(5):
            while True:  # UDP: under a flood the kernel may drop our Who-Is; ask again
                await self.send(WHO_IS)
                with trio.move_on_after(0.5):
                    while i_am_instance(await self.receive()) != BRIDGE_INSTANCE:
                        pass
                    return
        pytest.fail(f"the bridge stopped answering a Who-Is{' after: ' + after if after else ''}")


@asynccontextmanager
async def raw_socket(run: Running, host: str = "127.0.0.1") -> AsyncIterator[Raw]:
    host_port = run.address.rsplit(":", 1)
    with trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) as sock:
        await sock.bind((host, 0))
        yield Raw(sock, (host_port[0], int(host_port[1])))


async def wait_state(run: Running, point_id: str, good: Callable[[PointState], bool]) -> PointState:
    """The point's state once ``good`` holds (checked now, then at each change of it)."""
    with run.bus.subscribe(name="test", accept=lambda e: e.node() == point_id) as changes:
        while True:
            state = run.points.get(point_id)
            if state is not None and good(state):
                return state
            await changes.receive()


async def still_working(run: Running, device: JsDevice, raw: Raw) -> None:
    """The bridge answers, records an I-Am, and reads from ``device``."""
    await raw.bridge_answers_who_is()
    discovery = run.bridge.discovery
    await raw.send(i_am(3_000_001))
    while True:
        # The count is read before the list: an I-Am recorded while the list is
        # read still ends the wait (read after, its count would be waited past).
        seen = discovery.recorded
        if "3000001" in {d.device_key for d in await run.store.list()}:
            break
        await discovery.wait_recorded(seen + 1)  # other I-Ams may come first
    assert (await run.store.get("3000001")).state is DeviceState.DISCOVERED
    value = await run.bridge.stack.read_property(device.address, ZONE, "present-value")
    assert value == 20.0
    assert run.bridge.statistics()["running"] is True


def known(device: JsDevice) -> list[tuple[int, str]]:
    return [(device.instance, device.address)]


# -- malformed input ---------------------------------------------------------------------------
async def test_malformed_datagrams_from_the_js_device_leave_the_bridge_working(
    tmp_path: Path,
) -> None:
    async with (
        bacnet_js_device(instance=4501) as device,
        running_bridge(tmp_path, devices=known(device)) as run,
        raw_socket(run) as raw,
    ):
        with trio.fail_after(SAFETY_S):
            for _what, datagram in MALFORMED:
                if datagram:  # device.js cannot send an empty datagram
                    await device.send_raw(run.address, datagram)
            await still_working(run, device, raw)
        assert device.log().count(f"to {run.address}") >= len(MALFORMED) - 1
        # The I-Am of an analog-input is no device: not recorded, counted.
        assert {d.device_key for d in await run.store.list()} == {"4501", "3000001"}
        assert run.bridge.stack.statistics().bad_i_ams == 1


async def test_malformed_datagrams_from_a_raw_socket_leave_the_bridge_working(
    tmp_path: Path,
) -> None:
    async with (
        bacnet_js_device(instance=4502) as device,
        running_bridge(tmp_path, devices=known(device)) as run,
        raw_socket(run) as raw,
    ):
        with trio.fail_after(SAFETY_S):
            for what, datagram in MALFORMED:
                await raw.send(datagram)
                await raw.bridge_answers_who_is(after=what)  # after each one: never dead
            await still_working(run, device, raw)
        assert {d.device_key for d in await run.store.list()} == {"4502", "3000001"}
        assert run.bridge.stack.statistics().bad_i_ams == 1


def random_datagram(rng: random.Random) -> bytes:
    """One datagram of a random shape: pure noise, or BACnet/IP framing around noise."""
    noise = rng.randbytes(rng.choice([0, 1, 2, 3, 5, 8, 16, 64, 300, 1400]))
    shape = rng.randrange(6)
    if shape == 0:
        return noise
    if shape == 1:  # a BVLC header whose length may lie
        length = rng.choice([0, 1, 4, len(noise) + 4, len(noise) + 5, 0xFFFF])
        return bytes([0x81, rng.choice([0x0A, 0x0B, 0x04, rng.randrange(256)])]) + struct.pack(
            ">H", length
        ) + noise  # fmt: skip
    if shape == 2:  # a true BVLC, a plain NPDU, a random APDU
        return bvlc(NPDU + noise)
    if shape == 3:  # a true BVLC, a random NPDU control octet
        return bvlc(bytes([0x01, rng.randrange(256)]) + noise)
    if shape == 4:  # a real PDU type and service, random parameters
        pdu = rng.choice([b"\x00\x05\x01", b"\x10", b"\x20\x01", b"\x30\x02", b"\x50\x03",
                          b"\x60\x04", b"\x70\x05", b"\x08\x05\x06\x00\x01"])  # fmt: skip
        service = bytes([rng.choice([0x00, 0x01, 0x02, 0x05, 0x08, 0x0C, 0x0E, 0x0F, 0x7F])])
        return bvlc(NPDU_REPLY + pdu + service + noise)
    # a good datagram cut short somewhere
    good = rng.choice([WHO_IS, i_am(rng.randrange(1 << 22)),
                       cov_notification(7, 1, (0, 1), 1.0, invoke_id=1)])  # fmt: skip
    return good[: rng.randrange(len(good))]


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
async def test_random_datagrams_never_crash_the_bridge(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    async with (
        bacnet_js_device(instance=4510 + seed) as device,
        running_bridge(tmp_path, devices=known(device)) as run,
        raw_socket(run) as raw,
    ):
        with trio.fail_after(SAFETY_S):
            for batch in range(10):
                for _ in range(40):
                    await raw.send(random_datagram(rng))
                # Paced, so the socket buffer never fills; never a dead bridge.
                await raw.bridge_answers_who_is(after=f"seed {seed}, batch {batch}")
            await still_working(run, device, raw)


# -- I-Am floods --------------------------------------------------------------------------------
async def test_an_i_am_flood_stops_at_max_devices_and_the_drops_are_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        bacnet_js_device(instance=4520) as device,
        running_bridge(tmp_path, devices=known(device), max_devices=50) as run,
        raw_socket(run) as raw,
    ):
        discovery = run.bridge.discovery
        with trio.fail_after(90):
            assert [d.device_key for d in await run.store.list()] == ["4520"]
            for chunk in range(10):  # 20 000 distinct instances (device.js answers a
                # command within 5 s: 2000 I-Ams at a time)
                await device.i_am_flood(run.address, 2000, first_instance=100_000 + 2000 * chunk)
            await raw.bridge_answers_who_is()
            while True:  # a batch recorded at a time (the count read first, as above)
                seen = discovery.recorded
                if len(await run.store.list()) >= 50:
                    break
                await discovery.wait_recorded(seen + 1)
            # The bridge keeps working through it, and a scan still finds the real device
            # (its I-Am may be lost in the flood's tail: UDP; an operator scans again).
            attempts = 1
            while "4520" not in (await discovery.scan()).devices:
                attempts += 1
            assert attempts <= 5
            await raw.bridge_answers_who_is()
        stats = run.bridge.stack.statistics()
        devices = await run.store.list()
        assert len(devices) == 50  # max_devices: the real one and 49 flooded ones
        assert (await run.store.get("4520")).address == device.address
        assert stats.i_ams > 50
        # Every I-Am past the store's limit is dropped and counted: in the stack's channel
        # (the bridge fell behind) or at the DiscoveryStore (max_devices).
        # What the intake recorded is the 49 flooded devices that fit, the real device's own
        # I-Ams (answers to the scans' Who-Is reach the intake too), and the refused ones.
        assert discovery.intake_dropped > 0
        assert 0 <= discovery.recorded - discovery.intake_dropped - 49 <= 4
        assert len(discovery._pending) <= 10_000
        assert run.bridge.stack.events.statistics().current_buffer_used <= 1000
        assert stats.device_cache <= adapter._DEVICE_CACHE_CAP
        # The refusals are logged every few seconds, not once per I-Am.
        refusals = [r for r in caplog.records if "not recorded" in r.getMessage()]
        assert 1 <= len(refusals) <= 3
        assert "discovery store is full" in refusals[0].getMessage()
        assert device.log().count(f"i-am flood: 2000 to {run.address}") == 10


async def test_a_known_device_is_found_by_its_instance_whatever_else_its_address_says(
    tmp_path: Path,
) -> None:
    # A host at a [[bacnet.device]] address that answers a Who-Is with another instance's
    # I-Am first (a flood from there, a router, a hostile host): an unranged directed Who-Is
    # would take that one for the device; the scan names the instance it wants.
    with trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) as host:
        await host.bind(("127.0.0.1", 0))
        where = f"127.0.0.1:{host.getsockname()[1]}"
        asked: list[bytes] = []

        async def answer() -> None:
            while True:
                data, sender = await host.recvfrom(2048)
                if is_who_is(data):
                    asked.append(apdu_of(data))
                    await host.sendto(i_am(123_456), sender)
                    await host.sendto(i_am(4560), sender)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(answer)
            async with running_bridge(
                tmp_path, devices=[(4560, where)], scan_on_start=False, timeout="200ms",
                retries=0,
            ) as run:  # fmt: skip
                with trio.fail_after(SAFETY_S):
                    result = await run.bridge.discovery.scan()
            nursery.cancel_scope.cancel()
    assert "4560" in result.devices
    assert "123456" not in result.devices
    assert result.failed == ("4560",)  # it answers no reads: one deadline, then given up
    assert b"\x10\x08\x0a\x11\xd0\x1a\x11\xd0" in asked  # Who-Is 4560..4560


async def test_the_stacks_channel_drops_and_counts_what_nobody_reads() -> None:
    # The stack alone, its events channel of 2 never read: every I-Am past the second is
    # dropped on the trio side and counted there (events_dropped), memory stays flat.
    port = free_udp_port()
    settings = adapter.StackSettings(
        address=f"127.0.0.1:{port}", device_instance=BRIDGE_INSTANCE, events_capacity=2
    )
    async with adapter.BacnetStack.open(settings) as stack:
        with trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) as sock:
            await sock.bind(("127.0.0.1", 0))
            raw = Raw(sock, ("127.0.0.1", port))
            with trio.fail_after(SAFETY_S):
                for n in range(50):
                    await raw.send(i_am(300_000 + n))
                while stack.statistics().i_ams < 50:
                    await raw.bridge_answers_who_is()  # the stack is a device: it answers
                while stack.statistics().events_dropped < 48:
                    await raw.bridge_answers_who_is()  # the drops happen on the trio side
        stats = stack.statistics()
        assert stats.i_ams == 50
        assert stats.events_dropped == 48
        assert stack.events.statistics().current_buffer_used == 2


async def test_i_ams_from_many_addresses_during_a_scan_keep_the_device_cache_capped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # bacpypes3 caches every I-Am that answers a Who-Is it is waiting on, one entry per
    # address and instance: made-up devices on made-up addresses would fill it for ever.
    cap = 100
    monkeypatch.setattr(adapter, "_DEVICE_CACHE_CAP", cap)
    async with (
        running_bridge(tmp_path, scan_on_start=False, broadcast=True) as run,
        raw_socket(run) as raw,
    ):
        stack = run.bridge.stack
        host, port = run.address.rsplit(":", 1)

        def announce(n: int) -> None:
            # A socket of its own per made-up device: 127.0.1.1, 127.0.1.2, ... 127.0.2.50.
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.bind((f"127.0.{1 + n // 250}.{1 + n % 250}", 0))
                sock.sendto(i_am(200_000 + n), (host, int(port)))

        with trio.fail_after(SAFETY_S):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(partial(stack.who_is, 200_000, 299_999, timeout_s=SAFETY_S))
                while stack.statistics().device_cache == 0:  # the Who-Is is waiting
                    announce(0)
                    await raw.bridge_answers_who_is()
                senders = 3 * cap
                for n in range(1, senders):
                    announce(n)
                    if n % 50 == 0:
                        await raw.bridge_answers_who_is()  # paced: no kernel drops
                while stack.statistics().i_ams < senders:
                    await raw.bridge_answers_who_is()  # the last ones are processed
                assert stack.statistics().device_cache == cap  # full, and no more
                nursery.cancel_scope.cancel()  # the Who-Is
        assert stack.statistics().device_cache == cap


# -- misbehaving devices ----------------------------------------------------------------------
async def test_a_device_answering_errors_has_its_points_fault_but_is_not_down(
    tmp_path: Path,
) -> None:
    async with (
        bacnet_js_device(instance=4530) as device,
        running_bridge(tmp_path, devices=known(device), cov=False) as run,
    ):
        with run.bus.subscribe(DeviceDown, DeviceRecovered, name="health") as health:
            with trio.fail_after(SAFETY_S):
                await run.bridge.discovery.accept("4530")
                poller = run.bridge.poller("4530")
                await wait_state(run, "4530/analog-input-1", lambda s: s.value == 20.0)
                await device.fault("errors")
                for point in poller.points:
                    await wait_state(run, point, lambda s: s.status is PointStatus.FAULT)
                cycles = poller.cycles
                await poller.wait_cycles(cycles + 5)  # polls go on, device answers errors
                await run.bridge.monitor.wait_cycles(run.bridge.monitor.cycles + 2)
                for point in poller.points:
                    state = run.points.get(point)
                    assert state is not None
                    assert state.status is PointStatus.FAULT
                assert run.bridge.device_view("4530").state == "online"
                with pytest.raises(trio.WouldBlock):
                    health.receive_nowait()  # never down
                await device.fault(None)
                await wait_state(run, "4530/analog-input-1", lambda s: s.status is PointStatus.OK)
        assert "fault errors" in device.log()


async def test_a_device_that_segments_forever_costs_one_deadline_and_others_keep_polling(
    tmp_path: Path,
) -> None:
    async with (
        bacnet_js_device(instance=4541) as good,
        bacnet_js_device(instance=4542) as bad,
        running_bridge(tmp_path, devices=known(good) + known(bad), cov=False) as run,
    ):
        deadline = 0.5 * 2 + 1.0  # timeout x (retries + 1) plus the adapter's margin
        with trio.fail_after(SAFETY_S):
            await run.bridge.discovery.accept("4541")
            await run.bridge.discovery.accept("4542")
            healthy, stuck = run.bridge.poller("4541"), run.bridge.poller("4542")
            await stuck.wait_cycles(1)
            await healthy.wait_cycles(1)
            failures = stuck.statistics().failures
            await bad.fault("segments-forever")
            started = trio.current_time()
            healthy_before = healthy.cycles
            # The stuck device's next request ends (bacpypes3 gives up on the answer, or our
            # own deadline cuts it) and its points leave ok: stale (no answer; down when the
            # monitor's check failed at the same time) or fault (the transfer was aborted).
            state = await wait_state(
                run, "4542/analog-input-1", lambda s: s.status is not PointStatus.OK
            )
            elapsed = trio.current_time() - started
            healthy_during = healthy.cycles - healthy_before
            health = stuck.statistics()
        assert elapsed <= deadline + 0.1 + 0.5  # one deadline, after at most one poll interval
        if state.status is PointStatus.FAULT:
            assert run.bridge.stack.statistics().errors >= 1
        else:
            assert state.status in (PointStatus.STALE, PointStatus.DOWN)
            assert health.failures >= failures + 1
            assert "no answer" in (health.last_error or "")
        # 100 ms polls: the other device was read on time while this one was stuck.
        assert healthy_during >= int(elapsed / 0.1) // 2
        assert healthy_during >= 3
        assert "segments forever" in bad.log()
        assert "segments forever" not in good.log()


async def test_cov_notifications_for_subscriptions_never_made_are_counted_and_dropped(
    tmp_path: Path,
) -> None:
    async with (
        bacnet_js_device(instance=4550) as device,
        running_bridge(tmp_path, devices=known(device), poll_interval="1h") as run,
        raw_socket(run) as raw,
    ):
        stack = run.bridge.stack
        with trio.fail_after(SAFETY_S):
            await run.bridge.discovery.accept("4550")
            poller = run.bridge.poller("4550")
            await poller.wait_notifications(4)
            await wait_state(run, "4550/analog-input-1", lambda s: s.value == 20.0)
            real_pid = poller.subscribed["4550/analog-input-1"]
            applied = poller.notifications
            before = stack.statistics()
            # From the device's own address, a process id we never used.
            await device.send_raw(
                run.address, cov_notification(999_999, 4550, (0, 1), 66.0, invoke_id=None)
            )
            # From another address, claiming the device and a real process id (spoofed).
            await raw.send(cov_notification(real_pid, 4550, (0, 1), 77.0, invoke_id=None))
            # The same, confirmed: refused with an error naming the subscription.
            await raw.send(cov_notification(real_pid, 4550, (0, 1), 88.0, invoke_id=42))
            reply = apdu_of(await raw.receive())
            # A real change still comes through (and after the forged ones).
            await device.set("analog-input,1", 21.0)
            await wait_state(run, "4550/analog-input-1", lambda s: s.value == 21.0)
        assert reply[0] == 0x50  # Error PDU
        assert reply[1:3] == bytes([42, 0x01])  # our invoke id, confirmed-cov-notification
        after = stack.statistics()
        assert after.unknown_notifications - before.unknown_notifications == 3
        assert after.notifications - before.notifications == poller.notifications - applied
        state = run.points.get("4550/analog-input-1")
        assert state is not None
        assert state.value == 21.0  # never 66, 77 or 88
