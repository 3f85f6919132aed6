"""``opencrate simulate bacnet`` as a user runs it: a subprocess, found and read by a client.

The command runs as ``python -m opencrate`` with this checkout first on ``PYTHONPATH``; the test
waits for its banner (no sleeps), registers a bacpypes3 client with the BBMD the banner names,
finds every device with a global Who-Is, reads a value, stops the process with SIGINT and
expects exit status 0. Bad input exits 1 with a message and no traceback.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import trio

from tests.components.bacnet.peers import free_udp_port, open_client

ROOT = Path(__file__).resolve().parents[3]
OFFICE = "opencrate/components/scenario/examples/office.toml"
SAFETY_S = 20


def _env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{path}" if path else str(ROOT)}


def _command(scenario: str | Path, *options: str) -> list[str]:
    return [sys.executable, "-m", "opencrate", "simulate", "bacnet", "--scenario", str(scenario),
            *options]  # fmt: skip


async def _read_until(stream: trio.abc.ReceiveStream, marker: bytes) -> bytes:
    seen = b""
    while marker not in seen:
        chunk = await stream.receive_some()
        if not chunk:
            raise AssertionError(f"output ended before {marker!r}: {seen.decode()!r}")
        seen += chunk
    return seen


async def test_the_banner_names_every_device_a_client_finds_and_sigint_stops_it() -> None:
    port = free_udp_port()
    process = await trio.lowlevel.open_process(
        _command(OFFICE, "--port", str(port)), cwd=ROOT, env=_env(), stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        with trio.fail_after(SAFETY_S):
            banner = (await _read_until(process.stdout, b"Ctrl-C to stop")).decode()
        rows = [line.split() for line in banner.splitlines()[1:7]]
        assert [row[:4] for row in rows] == [
            ["1001", "AHU-1", f"127.0.0.1:{port}", "17"],
            ["1101", "VAV-101", f"127.0.0.2:{port}", "8"],
            ["1102", "VAV-102", f"127.0.0.3:{port}", "8"],
            ["1201", "VAV-201", f"127.0.0.4:{port}", "8"],
            ["1202", "VAV-202", f"127.0.0.5:{port}", "8"],
            ["2001", "Boiler-1", f"127.0.0.6:{port}", "6"],
        ]
        assert rows[0][4] == "yes"
        assert banner.splitlines()[1].endswith("bacrp 1001 analog-input 1 present-value")
        assert f"BACNET_BBMD_ADDRESS=127.0.0.1 BACNET_BBMD_PORT={port}" in banner
        async with open_client(f"127.0.0.1:{port}") as client:
            with trio.fail_after(SAFETY_S):
                found = await client.who_is(timeout=2.0)  # a global Who-Is waits it all out
                supply = await client.read(f"127.0.0.6:{port}", "analog-input,1", "present-value")
        assert found == {int(row[0]): row[2] for row in rows}
        assert 60.0 < supply < 80.0  # the boiler's hot water supply: a sine of 70 ± 3
        process.send_signal(signal.SIGINT)
        with trio.fail_after(SAFETY_S):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_a_scenario_without_bacnet_equipment_exits_1(tmp_path: Path) -> None:
    plain = tmp_path / "plain.toml"
    plain.write_text('[[site]]\nid = "s"\ndis = "S"\n', encoding="utf-8")
    with trio.fail_after(SAFETY_S):
        done = await trio.run_process(
            _command(plain, "--port", str(free_udp_port())),
            cwd=ROOT, env=_env(), capture_stdout=True, capture_stderr=True, check=False,
        )  # fmt: skip
    assert done.returncode == 1
    assert b"no equipment has a bacnet binding" in done.stderr
    assert b"Traceback" not in done.stderr


async def test_an_address_that_cannot_be_bound_exits_1_naming_it() -> None:
    with trio.fail_after(SAFETY_S):
        done = await trio.run_process(
            _command(OFFICE, "--port", str(free_udp_port()), "--host", "192.0.2.1"),
            cwd=ROOT, env=_env(), capture_stdout=True, capture_stderr=True, check=False,
        )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert b"cannot bind BACnet address 192.0.2.1:" in done.stderr
    assert b"Traceback" not in done.stderr
