"""``opencrate simulate modbus`` as a user runs it: a subprocess, read by mbpoll (libmodbus).

The command runs as ``python -m opencrate`` with this checkout first on ``PYTHONPATH``; the test
waits for its banner (no sleeps), reads the office meter's active power with mbpoll, stops the
server with SIGINT and expects exit status 0. A bad scenario file exits 1 with the ConfigError's
message (file, line, key) and no traceback.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from tests.conftest import require_program

ROOT = Path(__file__).resolve().parents[3]
OFFICE = "opencrate/components/scenario/examples/office.toml"
SAFETY_S = 20


@pytest.fixture
def mbpoll() -> str:
    # A sync fixture, so the skip happens before the test's trio run (with its reason).
    return require_program("mbpoll", shutil.which("mbpoll"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{path}" if path else str(ROOT)}


def _command(scenario: str | Path, port: int) -> list[str]:
    options = ["--scenario", str(scenario), "--port", str(port)]
    return [sys.executable, "-m", "opencrate", "simulate", "modbus", *options]


async def _read_until(stream: trio.abc.ReceiveStream, marker: bytes) -> bytes:
    seen = b""
    while marker not in seen:
        chunk = await stream.receive_some()
        if not chunk:
            raise AssertionError(f"output ended before {marker!r}: {seen.decode()!r}")
        seen += chunk
    return seen


async def test_mbpoll_reads_the_simulated_meter_and_sigint_stops_it(mbpoll: str) -> None:
    port = _free_port()
    process = await trio.lowlevel.open_process(
        _command(OFFICE, port), cwd=ROOT, env=_env(), stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        with trio.fail_after(SAFETY_S):
            banner = (await _read_until(process.stdout, b"Ctrl-C to stop")).decode()
        # The banner's line for the point, and the mbpoll command it suggests, are the ones used.
        line = next(ln for ln in banner.splitlines() if "meter-1/active-power" in ln)
        assert line.split()[:8] == [
            "meter-1",
            "1",
            f"127.0.0.1:{port}",
            "meter-1/active-power",
            "holding",
            "100",
            "101",
            "float32",
        ]
        command = f"mbpoll -a 1 -p {port} -t 4:float -B -r 101 -c 1 -1 127.0.0.1"
        assert line.endswith(command)
        with trio.fail_after(SAFETY_S):
            done = await trio.run_process(
                [mbpoll, *command.split()[1:]], capture_stdout=True, capture_stderr=True
            )
        found = re.findall(r"^\[101\]:\s+(\S+)", done.stdout.decode(), re.MULTILINE)
        assert len(found) == 1, done.stdout.decode()
        # The scenario's signal: a sine of 42 +- 12 kW with noise 1.
        assert 20.0 <= float(found[0]) <= 70.0
        process.send_signal(signal.SIGINT)
        with trio.fail_after(SAFETY_S):
            status = await process.wait()
        assert status == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


TWO_DEVICES = """
[[site]]
id = "s"
dis = "S"

[[equip]]
id = "zz-meter"
dis = "Z meter"
parent = "s"

[equip.binding]
protocol = "modbus"
device_id = "zz-meter"
register_type = "input"
data_type = "uint16"

[[equip.point]]
id = "count"
dis = "Count"
binding = { address = 5 }

[equip.point.signal]
shape = "constant"
value = 7

[[equip]]
id = "aa-meter"
dis = "A meter"
parent = "s"

[equip.binding]
protocol = "modbus"
device_id = "aa-meter"
register_type = "holding"
data_type = "float32"
word_order = "little-endian"

[[equip.point]]
id = "power"
dis = "Power"
binding = { address = 0 }

[equip.point.signal]
shape = "constant"
value = 12.5
"""


async def test_devices_are_unit_ids_in_device_id_order_on_one_port(
    mbpoll: str, tmp_path: Path
) -> None:
    scenario = tmp_path / "two.toml"
    scenario.write_text(TWO_DEVICES, encoding="utf-8")
    port = _free_port()
    process = await trio.lowlevel.open_process(
        _command(scenario, port), cwd=ROOT, env=_env(), stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        with trio.fail_after(SAFETY_S):
            banner = (await _read_until(process.stdout, b"Ctrl-C to stop")).decode()
        rows = [ln.split() for ln in banner.splitlines()[1:] if "-meter/" in ln]
        assert [row[:7] for row in rows] == [
            ["aa-meter", "1", f"127.0.0.1:{port}", "aa-meter/power", "holding", "0", "1"],
            ["zz-meter", "2", f"127.0.0.1:{port}", "zz-meter/count", "input", "5", "6"],
        ]
        assert "CDAB" in rows[0]

        async def read(*args: str) -> tuple[int, str]:
            with trio.fail_after(SAFETY_S):
                done = await trio.run_process(
                    [mbpoll, "-1", "-o", "2", "-p", str(port), *args, "127.0.0.1"],
                    capture_stdout=True,
                    capture_stderr=True,
                    check=False,
                )
            found = re.findall(r"^\[\d+\]:\s+(\S+)", done.stdout.decode(), re.MULTILINE)
            return done.returncode, " ".join(found)

        # CDAB is mbpoll's own 32-bit order: no -B, as the banner says.
        assert await read("-a", "1", "-t", "4:float", "-r", "1") == (0, "12.5")
        assert await read("-a", "2", "-t", "3", "-r", "6") == (0, "7")
        # No third device: the server answers exception 11, mbpoll prints no value.
        assert (await read("-a", "3", "-t", "3", "-r", "6"))[1] == ""
        process.send_signal(signal.SIGINT)
        with trio.fail_after(SAFETY_S):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_a_bad_scenario_exits_1_with_the_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[site]]\nid = "s"\ndis = "S"\nunknown_key = 1\n', encoding="utf-8")
    with trio.fail_after(SAFETY_S):
        done = await trio.run_process(
            _command(bad, _free_port()),
            cwd=ROOT,
            env=_env(),
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    err = done.stderr.decode()
    assert done.returncode == 1
    assert err.startswith(f"Error: {bad}:4 ["), err
    assert "unknown_key" in err
    assert "Traceback" not in err
    assert done.stdout == b""


async def test_a_port_in_use_exits_1_without_a_traceback() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        with trio.fail_after(SAFETY_S):
            done = await trio.run_process(
                _command(OFFICE, port),
                cwd=ROOT,
                env=_env(),
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
    err = done.stderr.decode()
    assert done.returncode == 1
    assert err.startswith(f"Error: cannot listen on 127.0.0.1:{port}: "), err
    assert "Traceback" not in err
