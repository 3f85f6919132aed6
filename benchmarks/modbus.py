"""Modbus TCP: our trio client's read rate beside pymodbus's asyncio client, and the
poll-cycle time of 1,000 points with request grouping on and off.

Usage::

    .venv/bin/python benchmarks/modbus.py [--quick] [--seconds S] [--rounds R]

The server is our ``serve_modbus`` in a separate process (this script run with
``--serve``), on 20 loopback ports, one ``RegisterBank`` each: 200 holding
registers at 0..199 (a different value per port and address) and the 1,000-point
layout of part 3. So the client measured never shares an event loop (or, as far
as the 2 cores allow, a core) with the server. pymodbus's
``AsyncModbusTcpClient`` runs in its own process too (this script run with
``--pymodbus``, under ``asyncio.run``), against the same server in the same run;
it connects and warms up before its clock starts, as ours does.

Prints, as min / median / max over R rounds that alternate the two sides (so
machine noise falls on both):

1. holding-register reads per second, sequential: one client reads 10 holding
   registers (FC 3, address 0) in a loop for S seconds; ours beside pymodbus,
   and the ratio of the medians (ours / theirs);
2. the same with 10 devices (10 ports) and 10 clients in parallel (a trio
   nursery; ``asyncio.gather`` for pymodbus), total reads per second;
3. one poll cycle of 1,000 points on 20 devices (50 each: 25 holding float32
   and 25 input int16, contiguous but for a 3-register gap every 10 points):
   ``DevicePoller.poll`` of every class of every device at once, with grouping
   on and off: requests per cycle and ms per cycle.

Checked (the run stops if not): both clients read the same register values,
and those are what the server holds; both pollers leave the same values in
their ``PointStore``, the values the server encodes, all with status ok.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from opencrate.clock import TrioClock
from opencrate.components.modbus.client import ModbusClient
from opencrate.components.modbus.devices import ModbusDevice
from opencrate.components.modbus.poller import BoundPoint, DevicePoller
from opencrate.components.modbus.server import RegisterBank, serve_modbus
from opencrate.components.points.store import PointStore
from opencrate.model.values import PointStatus
from opencrate.runtime.bus import EventBus

HOST = "127.0.0.1"
PORTS = 20  # devices served (part 3); parts 1 and 2 use the first 1 and 10
CONCURRENT = 10
READ_COUNT = 10
HOLDING_REGISTERS = 200
FLOATS_AT = 1000  # holding float32 points of part 3
INTS_AT = 0  # input int16 points of part 3
PER_TABLE = 25
GAP_EVERY, GAP = 10, 3
SCRIPT = str(Path(__file__).resolve())


# -- the register layout (server and checks agree on it) --------------------------------
def holding_word(device: int, address: int) -> int:
    return (device * 1000 + address * 7) % 0x10000


def layout(start: int, width: int) -> list[int]:
    """Addresses of PER_TABLE values ``width`` registers wide, a gap every GAP_EVERY."""
    addresses, address = [], start
    for index in range(PER_TABLE):
        if index and index % GAP_EVERY == 0:
            address += GAP
        addresses.append(address)
        address += width
    return addresses


def float_value(device: int, index: int) -> float:
    return device * 100 + index + 0.25  # exact in float32


def int_value(device: int, index: int) -> int:
    return device * 50 + index - 600  # negative for the first devices: signed


def bank_for(device: int) -> RegisterBank:
    bank = RegisterBank()
    bank.set_words("holding", 0, [holding_word(device, a) for a in range(HOLDING_REGISTERS)])
    floats, ints = layout(FLOATS_AT, 2), layout(INTS_AT, 1)
    # Gaps are mapped (zeros), as on a real device: a grouped read spans them.
    bank.set_words("holding", FLOATS_AT, [0] * (floats[-1] + 2 - FLOATS_AT))
    bank.set_words("input", INTS_AT, [0] * (ints[-1] + 1 - INTS_AT))
    for index, address in enumerate(floats):
        high, low = struct.unpack(">HH", struct.pack(">f", float_value(device, index)))
        bank.set_words("holding", address, [high, low])
    for index, address in enumerate(ints):
        (word,) = struct.unpack(">H", struct.pack(">h", int_value(device, index)))
        bank.set_words("input", address, [word])
    return bank


# -- the server process ------------------------------------------------------------------
async def serve() -> None:
    """Serve PORTS devices; print their ports as a JSON line; stop when stdin closes."""
    async with trio.open_nursery() as nursery:
        ports = [
            await nursery.start(serve_modbus, {1: bank_for(device)}, HOST, 0)
            for device in range(PORTS)
        ]
        print(json.dumps(ports), flush=True)
        await trio.to_thread.run_sync(sys.stdin.read)
        nursery.cancel_scope.cancel()


# -- pymodbus, in its own process --------------------------------------------------------
async def pymodbus_reads(ports: list[int], seconds: float) -> dict[str, object]:
    from pymodbus.client import AsyncModbusTcpClient

    clients = [AsyncModbusTcpClient(HOST, port=port, timeout=3, retries=0) for port in ports]
    for client in clients:
        if not await client.connect():
            raise SystemExit(f"pymodbus could not connect to {client}")
    values: dict[int, list[int]] = {}

    async def reader(index: int, deadline: float | None, reads: int) -> int:
        client, done = clients[index], 0
        while (time.perf_counter() < deadline) if deadline is not None else done < reads:
            answer = await client.read_holding_registers(0, count=READ_COUNT, device_id=1)
            if answer.isError():
                raise SystemExit(f"pymodbus read failed: {answer}")
            values[index] = list(answer.registers)
            done += 1
        return done

    await asyncio.gather(*(reader(i, None, 50) for i in range(len(ports))))  # warm-up
    started = time.perf_counter()
    counts = await asyncio.gather(*(reader(i, started + seconds, 0) for i in range(len(ports))))
    elapsed = time.perf_counter() - started
    for client in clients:
        client.close()
    return {"rate": sum(counts) / elapsed, "values": [values[i] for i in range(len(ports))]}


def run_pymodbus(ports: list[int], seconds: float) -> tuple[float, list[list[int]]]:
    argv = [sys.executable, SCRIPT, "--pymodbus", ",".join(map(str, ports)), str(seconds)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(f"the pymodbus process failed:\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return float(result["rate"]), result["values"]


# -- ours ----------------------------------------------------------------------------------
async def our_reads(
    clients: Sequence[ModbusClient], seconds: float
) -> tuple[float, list[list[int]]]:
    values: list[list[int]] = [[] for _ in clients]
    total = 0
    deadline = time.perf_counter() + seconds

    async def reader(index: int) -> None:
        nonlocal total
        client = clients[index]
        while time.perf_counter() < deadline:
            values[index] = await client.read_holding_registers(0, READ_COUNT)
            total += 1

    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for index in range(len(clients)):
            nursery.start_soon(reader, index)
    return total / (time.perf_counter() - started), values


def spread(values: list[float], fmt: str) -> str:
    return (
        f"min {min(values):{fmt}} / median {statistics.median(values):{fmt}} / "
        f"max {max(values):{fmt}}"
    )


async def compare_reads(title: str, ports: list[int], seconds: float, rounds: int) -> None:
    clients = [ModbusClient(HOST, port, device=f"d{i}") for i, port in enumerate(ports)]
    expected = [
        [holding_word(device, a) for a in range(READ_COUNT)] for device in range(len(ports))
    ]
    for client in clients:  # connect and warm up, as the pymodbus process does
        for _ in range(50):
            await client.read_holding_registers(0, READ_COUNT)
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(rounds):
        rate, values = await our_reads(clients, seconds)
        ours.append(rate)
        if values != expected:
            sys.exit(f"{title}: our client read {values}, the server holds {expected}")
        rate, values = await trio.to_thread.run_sync(run_pymodbus, ports, seconds)
        theirs.append(rate)
        if values != expected:
            sys.exit(f"{title}: pymodbus read {values}, the server holds {expected}")
    for client in clients:
        await client.aclose()
    print(
        f"{title}, {rounds} rounds of {seconds:g} s, reads/s "
        f"({READ_COUNT} holding registers each; same values: checked):"
    )
    print(f"  ours (trio ModbusClient):        {spread(ours, ',.0f')}")
    print(f"  pymodbus AsyncModbusTcpClient:   {spread(theirs, ',.0f')}")
    ratio = statistics.median(ours) / statistics.median(theirs)
    print(f"  ours / theirs (medians): {ratio:.2f}")


# -- part 3: poll cycles -------------------------------------------------------------------
def expected_values() -> dict[str, float]:
    values: dict[str, float] = {}
    for device in range(PORTS):
        for index in range(PER_TABLE):
            values[f"d{device}/f{index}"] = float_value(device, index)
            values[f"d{device}/i{index}"] = int_value(device, index)
    return values


def pollers(ports: list[int], grouping: bool) -> tuple[list[DevicePoller], PointStore]:
    bus, clock = EventBus(), TrioClock()
    store = PointStore(bus, clock)
    result = []
    for device, port in enumerate(ports):
        name = f"d{device}"
        config = {"id": name, "host": HOST, "port": port, "max_gap": 16}
        points = [
            BoundPoint.from_binding(
                f"{name}/f{index}",
                {
                    "device_id": name,
                    "register_type": "holding",
                    "address": address,
                    "data_type": "float32",
                },
            )
            for index, address in enumerate(layout(FLOATS_AT, 2))
        ] + [
            BoundPoint.from_binding(
                f"{name}/i{index}",
                {
                    "device_id": name,
                    "register_type": "input",
                    "address": address,
                    "data_type": "int16",
                },
            )
            for index, address in enumerate(layout(INTS_AT, 1))
        ]
        device_config = ModbusDevice.from_table(config, where=name)
        result.append(
            DevicePoller(
                device_config, points, store=store, bus=bus, clock=clock, grouping=grouping
            )
        )
    return result, store


async def cycle(devices: list[DevicePoller]) -> tuple[float, int]:
    """One poll of every class of every device, all at once: (seconds, requests)."""
    before = sum(p.client.statistics().requests for p in devices)

    async def poll_all(poller: DevicePoller) -> None:
        for poll_class in poller.classes:
            if await poller.poll(poll_class) is not None:
                sys.exit(f"device {poller.device.id} failed: {poller.statistics()}")

    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for poller in devices:
            nursery.start_soon(poll_all, poller)
    elapsed = time.perf_counter() - started
    return elapsed, sum(p.client.statistics().requests for p in devices) - before


async def compare_cycles(ports: list[int], rounds: int) -> None:
    sides = {grouping: pollers(ports, grouping) for grouping in (True, False)}
    times: dict[bool, list[float]] = {True: [], False: []}
    requests: dict[bool, set[int]] = {True: set(), False: set()}
    expected = expected_values()
    for devices, store in sides.values():
        await cycle(devices)  # connect
        values = {k: s.value for k, s in store.snapshot().items()}
        if values != expected:
            wrong = sorted(k for k in expected if values.get(k) != expected[k])[:5]
            sys.exit(f"poll cycle: wrong values for {wrong}")
        if {s.status for s in store.snapshot().values()} != {PointStatus.OK}:
            sys.exit("poll cycle: a point is not ok")
    for _ in range(rounds):
        for grouping, (devices, _store) in sides.items():
            elapsed, sent = await cycle(devices)
            times[grouping].append(elapsed * 1000)
            requests[grouping].add(sent)
    on = {k: s.value for k, s in sides[True][1].snapshot().items()}
    off = {k: s.value for k, s in sides[False][1].snapshot().items()}
    if on != off or on != expected:
        sys.exit("poll cycle: grouping on and off left different values")
    for devices, _store in sides.values():
        for poller in devices:
            await poller.client.aclose()
    print(
        f"poll cycle, {len(expected):,} points on {len(ports)} devices, all polled at once, "
        f"{rounds} rounds (same PointStore values: checked):"
    )
    for grouping, label in ((True, "grouping on: "), (False, "grouping off:")):
        sent = "/".join(str(n) for n in sorted(requests[grouping]))
        print(f"  {label} {sent:>5} requests/cycle, ms/cycle {spread(times[grouping], '.1f')}")
    ratio = statistics.median(times[False]) / statistics.median(times[True])
    print(f"  off / on (medians): {ratio:.1f}x the time")


async def main(ports: list[int], seconds: float, rounds: int) -> None:
    await compare_reads("1 device, sequential", ports[:1], seconds, rounds)
    await compare_reads(
        f"{CONCURRENT} devices, {CONCURRENT} clients at once",
        ports[:CONCURRENT],
        seconds,
        rounds,
    )
    await compare_cycles(ports, max(rounds, 5))


def run(seconds: float, rounds: int) -> None:
    """Start the server process, run the benchmark against it, stop it."""
    server = subprocess.Popen(
        [sys.executable, SCRIPT, "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        if not line:
            sys.exit("the server process did not start")
        ports: list[int] = json.loads(line)
        print(f"server: serve_modbus in process {server.pid}, {PORTS} ports on {HOST}")
        trio.run(main, ports, seconds, rounds)
    finally:
        if server.stdin is not None:
            server.stdin.close()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--pymodbus", nargs=2, metavar=("PORTS", "SECONDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        trio.run(serve)
    elif args.pymodbus:
        ports = [int(p) for p in args.pymodbus[0].split(",")]
        print(json.dumps(asyncio.run(pymodbus_reads(ports, float(args.pymodbus[1])))))
    else:
        if args.quick:
            args.seconds, args.rounds = 0.7, 3
        run(args.seconds, args.rounds)
