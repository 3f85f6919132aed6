"""BACnet/IP: our trio bridge beside bacpypes3's own asyncio client, against our simulator.

Usage::

    .venv/bin/python benchmarks/bacnet.py [--runs N] [--seconds S] [--parts reads,cov,discovery]

The devices are ``BacnetSimulator.generated(devices=20, objects=100)`` in a separate
process (this script run with ``--serve``, plain asyncio): 20 devices on 127.0.0.1 ..
127.0.0.20, all on one UDP port, the first a BBMD; each has 100 filler objects (analog
value, analog input, binary value, multi-state value in turn). bacpypes3's own client runs
in a process of its own too (this script run with ``--bacpypes3``, under ``asyncio.run``),
against the same simulator in the same run. Every client binds a fresh port of its own:
bacpypes3 loops 127.x traffic on its own port back to itself, and binds with SO_REUSEPORT, so
a shared or stale port would steal traffic silently (stack-feasibility §5). The two sides
alternate run by run, so machine noise falls on both; each side warms up before its clock.

Prints per run, then min / median / max over N runs and the ratio of the medians:

1. points read per second by ReadPropertyMultiple: every device's 100 objects as four RPMs of
   25 objects x (present-value, status-flags, reliability), in a loop for S seconds; one
   device, then 10 devices read at once (one task per device). Ours twice: straight through
   ``BacnetStack.read_property_multiple``, and through ``DevicePoller.poll`` (the same four
   RPMs, values into a ``PointStore``); theirs ``Application.read_property_multiple``.
   25 objects a request keeps each answer in one APDU (see ``RPM_BATCH``). A request with no
   answer after its retries is counted ("timed out") and the loop goes on.
2. COV notifications per second delivered: 10 other devices x 10 analog objects subscribed
   (unconfirmed notifications: with confirmed ones, the bridge's default, and a simulator
   that never pauses, a run had not finished after 8 minutes), the simulator changing all
   100 values as fast as it can for S seconds, then once more after a pause (so the last
   values arrive on a quiet network and can be checked). Ours: one ``DevicePoller`` per
   device (``run``: its SubscribeCOVs), notifications routed to ``on_notification`` as the
   bridge does, counted when applied to the ``PointStore``; theirs:
   ``Application.change_of_value`` contexts, counted at ``get_value``. Rate = notifications of
   the fast changes, from the first to the last to arrive; the simulator's change count is
   printed beside it (unconfirmed notifications a client cannot take in time are lost).
3. discovery of the 20 devices (2,000 objects): ours ``DiscoveryService.scan`` (global Who-Is
   through the BBMD as a foreign device, then identity, object list and each object's name,
   description, units, present value and priority array, into a ``DiscoveryStore`` on a
   temporary directory); theirs the same Who-Is and the same reads (the same RPM batches of
   16 objects, segmented answers), four devices at a time as ``DiscoveryService`` does (with
   all 20 at once bacpypes3 lost a segmented exchange under load and stopped with
   no-response). Both wait the same Who-Is window, so the time past it is printed too.

Checked (the run stops if not): both sides read the present values the simulator holds;
after each COV run the ``PointStore`` (ours) and the last notified values (theirs) equal the
simulator's final values; both discoveries find the same 20 devices with the same objects and
names, the simulator's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from opencrate.clock import TrioClock
from opencrate.components.bacnet.adapter import BacnetStack, CovNotification, StackSettings
from opencrate.components.bacnet.discovery import DiscoveryService
from opencrate.components.bacnet.points import BacnetPoint, from_device
from opencrate.components.bacnet.poller import (
    POLLED,
    BacnetDevice,
    DevicePoller,
    process_id_source,
)
from opencrate.components.bacnet.settings import BacnetSettings
from opencrate.components.bacnet.sim_classes import MAX_APDU
from opencrate.components.bacnet.sim_objects import extra_objects
from opencrate.components.bacnet.simulator import BacnetSimulator
from opencrate.components.bacnet.store import DiscoveryStore
from opencrate.components.bacnet.values import POINT_TYPES, ObjectRef
from opencrate.components.nodes.store import NodeStore
from opencrate.components.points.store import PointStore
from opencrate.errors import BridgeTimeout
from opencrate.model.values import PointStatus
from opencrate.runtime.bus import EventBus

HOST = "127.0.0.1"
DEVICES, OBJECTS, FIRST_INSTANCE = 20, 100, 3001
#: Objects per ReadPropertyMultiple. 25 objects' replies (about 750 bytes) fit one APDU of the
#: 1024 bytes both clients accept (the poller now sizes its batches to one APDU too); 50 need
#: segmentation, and under load bacpypes3 0.0.110's segmented-response retransmission fails on
#: the device side (AssertionError in ServerSSM.fill_window), so the request gets no answer.
RPM_BATCH = 25
RPM_DEVICES = 10  # part 1 reads devices 0..9; part 2 changes devices 10..19
COV_PER_DEVICE = 10
COV_LIFETIME_S = 120
#: APDU timeout and retries, both sides: the bridge's defaults.
APDU_TIMEOUT_S, APDU_RETRIES = 3.0, 1
#: Devices read at once in a discovery (DiscoveryService's own limit), bacpypes3's side too.
DISCOVERY_CONCURRENCY = 4
WHO_IS_S = 1.0  # the Who-Is window of part 3, both sides
REGISTER_S = 0.5  # foreign-device registration, before the clock starts
DESCRIBED = ("object-name", "description", "units", "present-value", "priority-array")
DESCRIBE_BATCH = 16  # discovery's RPM batch (inventory.py), for bacpypes3 too
IDENTITY = ("object-name", "vendor-name", "vendor-identifier", "model-name",
            "max-apdu-length-accepted", "segmentation-supported")  # fmt: skip
SCRIPT = str(Path(__file__).resolve())
FILLERS = extra_objects(OBJECTS)
OBJECT_IDS = [(o.object_type, o.instance) for o in FILLERS]
ANALOG_IDS = [i for i in OBJECT_IDS if i[0].startswith("analog-")][:COV_PER_DEVICE]


def expected_present(obj: Any) -> Any:
    """A filler object's present value as read (plain: float, "inactive", state number)."""
    if obj.object_type.startswith("binary-"):
        return "active" if obj.initial else "inactive"
    return obj.initial


EXPECTED_PV = {f"{o.object_type},{o.instance}": expected_present(o) for o in FILLERS}
EXPECTED_NAMES = {f"{o.object_type},{o.instance}": o.name for o in FILLERS}


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def our_settings(foreign_bbmd: str | None = None) -> StackSettings:
    """Our stack on a fresh port, with the same timeout and retries as bacpypes3's."""
    return StackSettings(
        address=f"{HOST}:{free_udp_port()}",
        foreign_bbmd=foreign_bbmd,
        timeout_s=APDU_TIMEOUT_S,
        retries=APDU_RETRIES,
    )


def lost(failures: int) -> str:
    return f" ({failures} timed out)" if failures else ""


def spread(values: Sequence[float], fmt: str) -> str:
    return (
        f"min {min(values):{fmt}} / median {statistics.median(values):{fmt}} / "
        f"max {max(values):{fmt}}"
    )


# -- the simulator process (plain asyncio) ------------------------------------------------
async def serve(port: int) -> None:
    """Serve the devices; print them as a JSON line; answer JSON commands, one per stdin line."""
    sim = BacnetSimulator.generated(
        devices=DEVICES, objects=OBJECTS, host=HOST, port=port, first_instance=FIRST_INSTANCE
    )
    await sim.start()
    print(json.dumps(sim.devices()), flush=True)
    loop = asyncio.get_running_loop()
    failed: dict[str, int] = {}

    def count(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        # bacpypes3 callbacks that raise (a confirmed notification to a client that has gone,
        # a segmented answer whose retransmission fails): counted, printed once at the end.
        name = type(context.get("exception")).__name__
        failed[name] = failed.get(name, 0) + 1

    loop.set_exception_handler(count)
    counter = 0
    try:
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            command = json.loads(line)
            if command["do"] == "churn":
                counter, result = await churn(sim, command, counter)
            else:  # "subscriptions": how many COV subscriptions the devices hold now
                # The simulator keeps no count; bacpypes3's detections hold them (0.0.110).
                result = {
                    "subscriptions": sum(
                        len(detection.cov_subscriptions)
                        for served in sim._served
                        for detection in served.app._cov_detections.values()
                    )
                }
            print(json.dumps(result), flush=True)
    finally:
        await sim.close()
        if failed:
            summary = ", ".join(f"{name} x {n}" for name, n in sorted(failed.items()))
            print(f"simulator: bacpypes3 callbacks that raised: {summary}", file=sys.stderr)


async def churn(
    sim: BacnetSimulator, command: dict[str, Any], counter: int
) -> tuple[int, dict[str, Any]]:
    """Change every target's value, pass after pass, for the command's seconds."""
    loop = asyncio.get_running_loop()
    targets = [(int(i), str(t), int(n)) for i, t, n in command["targets"]]
    deadline = loop.time() + float(command["seconds"])
    passes = 0
    while loop.time() < deadline:
        counter += 1
        for instance, object_type, object_instance in targets:
            await sim.set_value(instance, object_type, object_instance, float(counter))
        passes += 1
        await asyncio.sleep(0)  # the COV detections run and notify; then the next pass
    await asyncio.sleep(0.5)  # a quiet moment, then the final values
    counter += 1
    for instance, object_type, object_instance in targets:
        await sim.set_value(instance, object_type, object_instance, float(counter))
    final = {f"{i}/{t},{n}": float(counter) for i, t, n in targets}
    return counter, {"changes": passes * len(targets), "final": final}


def cov_rate(arrivals: Sequence[tuple[float, float]], final: float) -> tuple[int, float]:
    """Notifications of the fast changes (values below ``final``) and their rate per second."""
    fast = [at for at, value in arrivals if value < final]
    if len(fast) < 2:
        return len(fast), 0.0
    return len(fast), len(fast) / (fast[-1] - fast[0])


class Simulator:
    """The simulator process, driven through its stdin and stdout (blocking: use a thread)."""

    def __init__(self) -> None:
        self.port = free_udp_port()
        self.process = subprocess.Popen(
            [sys.executable, SCRIPT, "--serve", str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            sys.exit("the simulator process did not start")
        self.devices: list[tuple[int, str]] = [(int(i), str(a)) for i, a in json.loads(line)]

    @property
    def bbmd(self) -> str:
        return self.devices[0][1]

    def command(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            sys.exit("the simulator process stopped")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


# -- bacpypes3's own client, in its own process (plain asyncio) ---------------------------
def b3_application(port: int, foreign: str | None = None) -> Any:
    from bacpypes3.app import Application
    from bacpypes3.basetypes import HostNPort, IPMode
    from bacpypes3.local.device import DeviceObject
    from bacpypes3.local.networkport import NetworkPortObject

    device = DeviceObject(
        objectIdentifier=("device", 4_194_000),
        objectName="bacpypes3 client",
        vendorIdentifier=999,
        apduTimeout=int(APDU_TIMEOUT_S * 1000),
        numberOfApduRetries=APDU_RETRIES,
    )
    network_port = NetworkPortObject(
        f"{HOST}:{port}",
        objectIdentifier=("network-port", 1),
        objectName="NetworkPort-1",
        networkNumberQuality="unknown",
    )
    if foreign is not None:
        network_port.bacnetIPMode = IPMode.foreign
        network_port.fdBBMDAddress = HostNPort(foreign)
        network_port.fdSubscriptionLifetime = 60
    return Application.from_object_list([device, network_port])


def b3_plain(value: Any) -> Any:
    from bacpypes3.primitivedata import Enumerated

    if isinstance(value, Enumerated):
        return str(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, int):
        return int(value)
    return str(value)


def b3_requests(objects: Sequence[tuple[str, int]], props: Sequence[str]) -> list[Any]:
    from bacpypes3.primitivedata import ObjectIdentifier

    parameters: list[Any] = []
    for object_type, instance in objects:
        parameters.extend([ObjectIdentifier((object_type, instance)), list(props)])
    return parameters


async def b3_reads(spec: dict[str, Any]) -> dict[str, Any]:
    from bacpypes3.apdu import AbortPDU
    from bacpypes3.pdu import Address

    app = b3_application(spec["port"])
    await asyncio.sleep(0.1)  # the socket binds
    batches = [
        b3_requests(OBJECT_IDS[start : start + RPM_BATCH], POLLED)
        for start in range(0, OBJECTS, RPM_BATCH)
    ]
    failures = 0
    values: dict[str, dict[str, Any]] = {}

    async def reader(address: str, deadline: float | None, cycles: int) -> int:
        nonlocal failures
        target, done = Address(address), 0
        while (time.perf_counter() < deadline) if deadline is not None else done < cycles:
            seen: dict[str, Any] = {}
            try:
                for request in batches:
                    for objid, prop, _index, value in await app.read_property_multiple(
                        target, request
                    ):
                        if str(prop) == "present-value":
                            seen[f"{objid[0]},{objid[1]}"] = b3_plain(value)
            except AbortPDU:  # no-response after the retries: counted, not fatal
                failures += 1
                continue
            values[address] = seen
            done += 1
        return done

    addresses = spec["addresses"]
    await asyncio.gather(*(reader(a, None, 5) for a in addresses))  # warm-up
    started = time.perf_counter()
    deadline = started + float(spec["seconds"])
    cycles = await asyncio.gather(*(reader(a, deadline, 0) for a in addresses))
    elapsed = time.perf_counter() - started
    app.close()
    return {"rate": sum(cycles) * OBJECTS / elapsed, "values": values, "failures": failures}


async def b3_cov(spec: dict[str, Any]) -> dict[str, Any]:
    from bacpypes3.pdu import Address
    from bacpypes3.primitivedata import ObjectIdentifier

    app = b3_application(spec["port"])
    await asyncio.sleep(0.1)
    loop = asyncio.get_running_loop()
    last: dict[str, float] = {}
    arrivals: list[tuple[float, float]] = []
    changed = asyncio.Event()
    contexts = []
    for address, instance, object_type, object_instance in spec["targets"]:
        context = app.change_of_value(
            Address(address),
            ObjectIdentifier((object_type, object_instance)),
            issue_confirmed_notifications=False,
            lifetime=COV_LIFETIME_S,
        )
        # Entered by hand, not with ``async with``: a cancelled body would abandon the
        # subscription instead of cancelling it at the device.
        await context.__aenter__()
        contexts.append((f"{instance}/{object_type},{object_instance}", context))

    async def watch(key: str, context: Any) -> None:
        while True:
            prop, value = await context.get_value()
            if str(prop) == "present-value":
                last[key] = float(value)
                arrivals.append((time.perf_counter(), float(value)))
                changed.set()

    watchers = [asyncio.ensure_future(watch(key, context)) for key, context in contexts]
    while len(last) < len(contexts):  # every subscription's first notification
        await asyncio.wait_for(changed.wait(), 20)
        changed.clear()
    base = len(arrivals)
    print("ready", flush=True)
    final = json.loads(await loop.run_in_executor(None, sys.stdin.readline))
    while last != final:
        changed.clear()
        await asyncio.wait_for(changed.wait(), 20)
    count, rate = cov_rate(arrivals[base:], max(final.values()))
    for watcher in watchers:
        watcher.cancel()
    await asyncio.gather(*watchers, return_exceptions=True)
    # SubscribeCOV without a lifetime: cancelled at the device.
    await asyncio.gather(*(context.__aexit__(None, None, None) for _key, context in contexts))
    app.close()
    return {"count": count, "rate": rate, "final": last}


async def b3_discovery(spec: dict[str, Any]) -> dict[str, Any]:
    from bacpypes3.primitivedata import ObjectIdentifier

    app = b3_application(spec["port"], foreign=spec["bbmd"])
    await asyncio.sleep(REGISTER_S)  # registration with the BBMD (stack-feasibility §5)
    started = time.perf_counter()
    i_ams = await app.who_is(timeout=WHO_IS_S)

    limit = asyncio.Semaphore(DISCOVERY_CONCURRENCY)

    async def read(i_am: Any) -> tuple[int, dict[str, str]]:
        async with limit:
            return await describe(i_am)

    async def describe(i_am: Any) -> tuple[int, dict[str, str]]:
        address, instance = i_am.pduSource, int(i_am.iAmDeviceIdentifier[1])
        device = ObjectIdentifier(("device", instance))
        await app.read_property_multiple(address, [device, list(IDENTITY)])
        object_list = await app.read_property(address, device, "object-list")
        wanted = [(str(o[0]), int(o[1])) for o in object_list if str(o[0]) in POINT_TYPES]
        names: dict[str, str] = {}
        for start in range(0, len(wanted), DESCRIBE_BATCH):
            batch = wanted[start : start + DESCRIBE_BATCH]
            for objid, prop, _index, value in await app.read_property_multiple(
                address, b3_requests(batch, DESCRIBED)
            ):
                if str(prop) == "object-name":
                    names[f"{objid[0]},{objid[1]}"] = str(value)
        return instance, names

    found = await asyncio.gather(*(read(i_am) for i_am in i_ams))
    elapsed = time.perf_counter() - started
    app.close()
    return {"seconds": elapsed, "devices": {str(i): names for i, names in found}}


async def theirs_main(spec: dict[str, Any]) -> dict[str, Any]:
    part = spec["part"]
    if part == "reads":
        return await b3_reads(spec)
    if part == "cov":
        return await b3_cov(spec)
    return await b3_discovery(spec)


def run_theirs(spec: dict[str, Any]) -> dict[str, Any]:
    argv = [sys.executable, SCRIPT, "--bacpypes3", json.dumps(spec)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)
    if done.returncode:
        sys.exit(f"the bacpypes3 process failed:\n{done.stderr}")
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


# -- part 1: RPM reads --------------------------------------------------------------------
def refs(objects: Sequence[tuple[str, int]]) -> list[ObjectRef]:
    return [ObjectRef(t, i) for t, i in objects]


def poller_for(
    stack: BacnetStack,
    instance: int,
    address: str,
    objects: Sequence[tuple[str, int]],
    store: PointStore,
    settings: BacnetSettings,
) -> DevicePoller:
    points = [
        BacnetPoint(point_id=f"{instance}/{t},{i}", device_instance=instance, object=obj)
        for t, i in objects
        for obj in [ObjectRef(t, i)]
    ]
    device = BacnetDevice(
        instance=instance,
        address=address,
        max_apdu=MAX_APDU,
        segmentation="segmented-both",
        max_per_request=RPM_BATCH,
    )
    bus = EventBus()
    return DevicePoller(
        device,
        points,
        stack=stack,
        store=store,
        bus=bus,
        clock=TrioClock(),
        settings=settings,
        process_ids=process_id_source(),
    )


async def our_reads(
    stack: BacnetStack, devices: Sequence[tuple[int, str]], seconds: float, *, warm: int = 0
) -> tuple[float, dict[str, dict[str, Any]], int]:
    batches = [
        [(o, POLLED) for o in refs(OBJECT_IDS[start : start + RPM_BATCH])]
        for start in range(0, OBJECTS, RPM_BATCH)
    ]
    values: dict[str, dict[str, Any]] = {}
    total = 0
    failures = 0
    deadline = time.perf_counter() + seconds

    async def reader(address: str) -> None:
        nonlocal total, failures
        done = 0
        while (time.perf_counter() < deadline) if not warm else done < warm:
            seen: dict[str, Any] = {}
            try:
                for request in batches:
                    answers = await stack.read_property_multiple(address, request)
                    for (obj, prop), value in answers.items():
                        if prop == "present-value":
                            seen[f"{obj.object_type},{obj.instance}"] = value
            except BridgeTimeout:  # no answer after the retries: counted, not fatal
                failures += 1
                continue
            values[address] = seen
            done += 1
        total += done

    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _instance, address in devices:
            nursery.start_soon(reader, address)
    return total * OBJECTS / (time.perf_counter() - started), values, failures


async def our_polls(
    pollers: Sequence[DevicePoller], seconds: float, *, warm: int = 0
) -> tuple[float, int]:
    total = 0
    failures = 0
    deadline = time.perf_counter() + seconds

    async def polling(poller: DevicePoller) -> None:
        nonlocal total, failures
        points = list(poller.points.values())
        done = 0
        while (time.perf_counter() < deadline) if not warm else done < warm:
            if await poller.poll(points) is not None:  # a timeout: the poller would back off
                failures += 1
                continue
            done += 1
        total += done

    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for poller in pollers:
            nursery.start_soon(polling, poller)
    return total * OBJECTS / (time.perf_counter() - started), failures


def check_read(title: str, who: str, values: dict[str, dict[str, Any]], addresses: list[str]):
    expected = {address: EXPECTED_PV for address in addresses}
    if values != expected:
        sys.exit(f"{title}: {who} read values other than the simulator's")


def check_store(title: str, store: PointStore, devices: Sequence[tuple[int, str]]) -> None:
    snapshot = store.snapshot()
    for instance, _address in devices:
        for obj in FILLERS:
            state = snapshot.get(f"{instance}/{obj.object_type},{obj.instance}")
            want = from_device(ObjectRef(obj.object_type, obj.instance), expected_present(obj))
            if state is None or state.value != want or state.status is not PointStatus.OK:
                sys.exit(f"{title}: the poller left {state} for {obj.name}, expected {want}")


async def compare_reads(
    title: str, sim: Simulator, devices: list[tuple[int, str]], seconds: float, runs: int
) -> None:
    addresses = [a for _, a in devices]
    adapter: list[float] = []
    polled: list[float] = []
    theirs: list[float] = []
    settings = BacnetSettings(cov=False)
    async with BacnetStack.open(our_settings()) as stack:
        store = PointStore(EventBus(), TrioClock())
        pollers = [poller_for(stack, i, a, OBJECT_IDS, store, settings) for i, a in devices]
        await our_reads(stack, devices, 0, warm=5)
        await our_polls(pollers, 0, warm=5)
        check_store(title, store, devices)
        print(f"{title}, {runs} runs of {seconds:g} s, points/s:")
        for run in range(1, runs + 1):
            rate, values, failed = await our_reads(stack, devices, seconds)
            check_read(title, "BacnetStack", values, addresses)
            adapter.append(rate)
            rate, poll_failed = await our_polls(pollers, seconds)
            polled.append(rate)
            spec = {"part": "reads", "port": free_udp_port(), "addresses": addresses,
                    "seconds": seconds}  # fmt: skip
            answer = await trio.to_thread.run_sync(run_theirs, spec)
            check_read(title, "bacpypes3", answer["values"], addresses)
            theirs.append(float(answer["rate"]))
            print(
                f"  run {run}: BacnetStack {adapter[-1]:,.0f}{lost(failed)}, "
                f"DevicePoller {polled[-1]:,.0f}{lost(poll_failed)}, "
                f"bacpypes3 {theirs[-1]:,.0f}{lost(answer['failures'])}"
            )
        check_store(title, store, devices)
    print(f"  ours, BacnetStack.read_property_multiple:    {spread(adapter, ',.0f')}")
    print(f"  ours, DevicePoller.poll into a PointStore:   {spread(polled, ',.0f')}")
    print(f"  bacpypes3 Application.read_property_multiple: {spread(theirs, ',.0f')}")
    median = statistics.median(theirs)
    print(
        f"  ours / theirs (medians): BacnetStack {statistics.median(adapter) / median:.2f}, "
        f"DevicePoller {statistics.median(polled) / median:.2f} (same values: checked)"
    )


# -- part 2: COV --------------------------------------------------------------------------
def cov_targets(devices: Sequence[tuple[int, str]]) -> list[list[Any]]:
    return [[i, t, n] for i, _a in devices for t, n in ANALOG_IDS]


async def our_cov(sim: Simulator, devices: list[tuple[int, str]], seconds: float) -> dict[str, Any]:
    settings = BacnetSettings(
        cov_confirmed=False, cov_lifetime_s=COV_LIFETIME_S, poll_interval_s=3600.0
    )
    async with BacnetStack.open(our_settings()) as stack:
        store = PointStore(EventBus(), TrioClock())
        pollers = {i: poller_for(stack, i, a, ANALOG_IDS, store, settings) for i, a in devices}
        arrivals: list[tuple[float, float]] = []
        changed = trio.Event()

        async def dispatch() -> None:  # as BacnetBridge._dispatch
            nonlocal changed
            async for event in stack.events:
                if isinstance(event, CovNotification):
                    poller = pollers.get(event.device_instance)
                    if poller is not None:
                        before = poller.notifications
                        poller.on_notification(event)
                        value = event.values.get("present-value")
                        if poller.notifications > before and isinstance(value, float):
                            arrivals.append((time.perf_counter(), value))
                            changed.set()
                            changed = trio.Event()

        def values() -> dict[str, float | None]:
            snapshot = store.snapshot()
            return {
                key: (snapshot[key].value if key in snapshot else None)
                for p in pollers.values()
                for key in p.points
            }

        async with trio.open_nursery() as nursery:
            nursery.start_soon(dispatch)
            for poller in pollers.values():
                nursery.start_soon(poller.run)
            with trio.fail_after(20):
                for poller in pollers.values():
                    await poller.wait_notifications(len(poller.points))
            base = len(arrivals)
            command = {"do": "churn", "seconds": seconds, "targets": cov_targets(devices)}
            done = await trio.to_thread.run_sync(sim.command, command)
            final = done["final"]
            with trio.fail_after(20):
                while values() != final:
                    await changed.wait()
            nursery.cancel_scope.cancel()  # the pollers cancel their subscriptions on the way out
        count, rate = cov_rate(arrivals[base:], max(final.values()))
    return {
        "count": count,
        "rate": rate,
        "changes": done["changes"],
        "dropped": stack.statistics().events_dropped,
    }


async def their_cov(sim: Simulator, devices: list[tuple[int, str]], seconds: float) -> dict:
    def drive() -> dict[str, Any]:
        targets = [[a, i, t, n] for i, a in devices for t, n in ANALOG_IDS]
        spec = {"part": "cov", "port": free_udp_port(), "targets": targets}
        process = subprocess.Popen(
            [sys.executable, SCRIPT, "--bacpypes3", json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdin is not None
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            sys.exit("the bacpypes3 COV process did not subscribe")
        done = sim.command({"do": "churn", "seconds": seconds, "targets": cov_targets(devices)})
        process.stdin.write(json.dumps(done["final"]) + "\n")
        process.stdin.flush()
        out, _ = process.communicate(timeout=60)
        if process.returncode:
            sys.exit("the bacpypes3 COV process failed")
        answer: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        if answer["final"] != done["final"]:
            sys.exit("COV: bacpypes3's last values are not the simulator's")
        answer["changes"] = done["changes"]
        return answer

    return await trio.to_thread.run_sync(drive)


async def compare_cov(sim: Simulator, devices: list[tuple[int, str]], seconds: float, runs: int):
    ours: list[float] = []
    theirs: list[float] = []
    points = len(devices) * len(ANALOG_IDS)
    print(
        f"COV, {points} objects on {len(devices)} devices (unconfirmed), the simulator changing "
        f"all as fast as it can, {runs} runs of {seconds:g} s, notifications/s delivered:"
    )
    for run in range(1, runs + 1):
        line = [f"  run {run}:"]
        for side, results in (("ours", ours), ("bacpypes3", theirs)):
            left = await trio.to_thread.run_sync(sim.command, {"do": "subscriptions"})
            if left["subscriptions"]:
                sys.exit(f"COV: {left['subscriptions']} subscriptions left from the last side")
            if side == "ours":
                answer = await our_cov(sim, devices, seconds)
            else:
                answer = await their_cov(sim, devices, seconds)
            results.append(float(answer["rate"]))
            line.append(
                f"{side} {answer['rate']:,.0f} ({answer['count']:,} delivered of "
                f"{answer['changes']:,} changes"
                + (
                    f", {answer['dropped']} dropped by the stack's channel"
                    if answer.get("dropped")
                    else ""
                )
                + ")"
            )
        print(", ".join(line).replace(":,", ":"))
    print(f"  ours, DevicePoller subscriptions into a PointStore: {spread(ours, ',.0f')}")
    print(f"  bacpypes3 Application.change_of_value:             {spread(theirs, ',.0f')}")
    ratio = statistics.median(ours) / statistics.median(theirs)
    print(f"  ours / theirs (medians): {ratio:.2f} (same final values: checked)")


# -- part 3: discovery --------------------------------------------------------------------
async def our_discovery(sim: Simulator) -> tuple[float, dict[str, dict[str, str]]]:
    bus, clock = EventBus(), TrioClock()
    with tempfile.TemporaryDirectory() as tmp:
        store = DiscoveryStore(Path(tmp) / "discovery.db", clock=clock)
        nodes = NodeStore(Path(tmp) / "nodes.db", bus=bus, clock=clock)
        settings = our_settings(foreign_bbmd=sim.bbmd)
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(store.running())
            await stack.enter_async_context(nodes.running())
            bacnet = await stack.enter_async_context(BacnetStack.open(settings))
            await trio.sleep(REGISTER_S)  # registration with the BBMD (stack-feasibility §5)
            service = DiscoveryService(
                bacnet, store, nodes, settings=BacnetSettings(), bus=bus, clock=clock
            )
            started = time.perf_counter()
            result = await service.scan(timeout_s=WHO_IS_S)
            elapsed = time.perf_counter() - started
            if result.failed:
                sys.exit(f"discovery: reading {result.failed} failed")
            found = {}
            for key in result.devices:
                found[key] = {
                    f"{p.object_type},{p.object_instance}": p.object_name or ""
                    for p in await store.points(key)
                }
    return elapsed, found


async def compare_discovery(sim: Simulator, runs: int) -> None:
    expected = {str(i): EXPECTED_NAMES for i, _ in sim.devices}
    ours: list[float] = []
    theirs: list[float] = []
    print(
        f"discovery, {len(sim.devices)} devices x {OBJECTS} objects, Who-Is window "
        f"{WHO_IS_S:g} s, {runs} runs, seconds (total / past the window):"
    )
    for run in range(1, runs + 1):
        elapsed, found = await our_discovery(sim)
        if found != expected:
            sys.exit("discovery: ours found other devices, objects or names than the simulator's")
        ours.append(elapsed)
        spec = {"part": "discovery", "port": free_udp_port(), "bbmd": sim.bbmd}
        answer = await trio.to_thread.run_sync(run_theirs, spec)
        if answer["devices"] != expected:
            sys.exit("discovery: bacpypes3 found other devices, objects or names")
        theirs.append(float(answer["seconds"]))
        print(
            f"  run {run}: ours {ours[-1]:.2f} / {ours[-1] - WHO_IS_S:.2f}, "
            f"bacpypes3 {theirs[-1]:.2f} / {theirs[-1] - WHO_IS_S:.2f}"
        )
    past_ours = [s - WHO_IS_S for s in ours]
    past_theirs = [s - WHO_IS_S for s in theirs]
    print(f"  ours, DiscoveryService.scan:   total {spread(ours, '.2f')}")
    print(f"                                 past the window {spread(past_ours, '.2f')}")
    print(f"  bacpypes3, Who-Is + reads:     total {spread(theirs, '.2f')}")
    print(f"                                 past the window {spread(past_theirs, '.2f')}")
    total = statistics.median(ours) / statistics.median(theirs)
    past = statistics.median(past_ours) / statistics.median(past_theirs)
    print(
        f"  ours / theirs (medians): total {total:.2f}, past the window {past:.2f} "
        "(same devices, objects and names: checked)"
    )


async def main(sim: Simulator, seconds: float, runs: int, parts: set[str]) -> None:
    reading = sim.devices[:RPM_DEVICES]
    if "reads" in parts:
        title = f"RPM of {RPM_BATCH} objects x 3 properties"
        await compare_reads(f"{title}, 1 device (100 points)", sim, reading[:1], seconds, runs)
        await compare_reads(
            f"{title}, {RPM_DEVICES} devices at once ({RPM_DEVICES * OBJECTS} points)",
            sim,
            reading,
            seconds,
            runs,
        )
    if "cov" in parts:
        await compare_cov(sim, sim.devices[RPM_DEVICES:], seconds, runs)
    if "discovery" in parts:
        await compare_discovery(sim, runs)


def run(seconds: float, runs: int, parts: set[str]) -> None:
    """Start the simulator process, run the benchmark against it, stop it."""
    started = time.perf_counter()
    sim = Simulator()
    try:
        print(
            f"simulator: BacnetSimulator.generated(devices={DEVICES}, objects={OBJECTS}) in "
            f"process {sim.process.pid}, {HOST}..{sim.devices[-1][1]}"
        )
        trio.run(main, sim, seconds, runs, parts)
    finally:
        sim.close()
    print(f"({time.perf_counter() - started:.0f} s in all)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per side (default 3)")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per timed run")
    parser.add_argument(
        "--parts", default="reads,cov,discovery", help="which parts (default all three)"
    )
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--bacpypes3", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve))
    elif args.bacpypes3:
        spec = json.loads(args.bacpypes3)
        print(json.dumps(asyncio.run(asyncio.wait_for(theirs_main(spec), 240))))
    else:
        if args.runs < 1:
            parser.error("--runs must be at least 1")
        parts = set(args.parts.split(","))
        if not parts <= {"reads", "cov", "discovery"}:
            parser.error(f"--parts: not a part: {args.parts}")
        run(args.seconds, args.runs, parts)
