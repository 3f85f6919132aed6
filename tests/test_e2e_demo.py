"""End to end: ``python -m opencrate serve --demo`` as a real process, over real sockets.

Starts the demo, waits for start level 60 (within 10 s), reads the office from
``/api/nodes``, watches ``ValueChanged`` events on ``/api/ws``, then sends
SIGINT and expects exit status 0 within 5 s.
"""

from __future__ import annotations

import json
import signal
import socket
import sys
from pathlib import Path

import httpx
import pytest
import trio
from trio_websocket import open_websocket_url

ROOT = Path(__file__).parents[1]

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_for_level_60(client: httpx.AsyncClient, url: str, process: trio.Process) -> dict:
    while True:
        assert process.returncode is None, "the server exited during start-up"
        try:
            response = await client.get(f"{url}/api/health")
        except httpx.TransportError:
            await trio.sleep(0.1)
            continue
        health: dict = response.json()
        if health["level"] >= 60:
            return health
        await trio.sleep(0.1)


async def test_demo_serves_the_office_streams_values_and_stops_on_sigint(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data = tmp_path / "demo"
    stdout = (tmp_path / "stdout.txt").open("wb")
    stderr = (tmp_path / "stderr.txt").open("wb")
    command = [sys.executable, "-m", "opencrate", "serve", "--demo"]
    command += ["--port", str(port), "--data", str(data)]
    process = await trio.lowlevel.open_process(command, cwd=ROOT, stdout=stdout, stderr=stderr)
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            with trio.fail_after(10):
                health = await wait_for_level_60(client, url, process)
            assert health["status"] == "ok"
            # The demo's admin token, for scripts; without it the building is closed.
            token = (data / "demo-admin.token").read_text(encoding="utf-8").strip()
            assert (data / "demo-admin.token").stat().st_mode & 0o777 == 0o600
            assert (await client.get(f"{url}/api/nodes")).status_code == 401
            client.headers["Authorization"] = f"Bearer {token}"

            nodes = (await client.get(f"{url}/api/nodes", params={"limit": 500})).json()["items"]
            by_id = {node["id"]: node for node in nodes}
            assert by_id["main-office"]["node_type"] == "site"
            assert 40 <= sum(n["node_type"].endswith("point") for n in nodes) <= 80
            zone = by_id["1101/analog-input-1"]
            assert {"zone", "air", "temp", "sensor", "point"} <= set(zone["tags"])
            assert zone["refs"] == {
                "siteRef": "main-office",
                "spaceRef": "room-101",
                "equipRef": "1101",
            }
            # The meter's points come over Modbus TCP from its simulated device, and the
            # BACnet equipment's over BACnet/IP from theirs (found by the start-up scan
            # through the simulator's BBMD, accepted, subscribed): each through its bridge.
            bacnet_keys = {"1001", "1101", "1102", "1201", "1202", "2001"}
            with trio.fail_after(15):
                while True:
                    devices = (await client.get(f"{url}/api/devices")).json()["items"]
                    online = {d["id"] for d in devices if d["state"] == "online"}
                    subscribed = {
                        d["id"] for d in devices
                        if d["protocol"] == "bacnet"
                        and d["details"]["cov_subscriptions"] == d["points"]
                    }  # fmt: skip
                    if {"meter-1"} | bacnet_keys <= online and subscribed == bacnet_keys:
                        break
                    await trio.sleep(0.2)
            by_device = {d["id"]: d for d in devices}
            meter = by_device["meter-1"]
            assert (meter["protocol"], meter["points"]) == ("modbus", 6)
            assert meter["details"]["host"] == "127.0.0.1"
            power = (await client.get(f"{url}/api/points/meter-1/active-power")).json()
            assert power["status"] == "ok"
            assert 20 <= power["value"] <= 70
            ahu = by_device["1001"]
            assert ahu["protocol"] == "bacnet"
            assert ahu["points"] > 5
            discovered = (await client.get(f"{url}/api/discovery/devices")).json()["items"]
            assert {d["device_key"] for d in discovered} == bacnet_keys
            assert {d["state"] for d in discovered} == {"accepted"}
            answer = await client.post(f"{url}/api/discovery/scan", json={})
            assert answer.status_code == 200, answer.text
            scan = answer.json()
            assert set(scan["devices"]) == bacnet_keys
            assert scan["new_devices"] == []
            zone = (await client.get(f"{url}/api/points/1101/analog-input-1")).json()
            assert zone["status"] == "ok"
            assert isinstance(zone["value"], float)

        ws_url = f"ws://127.0.0.1:{port}/api/ws?types=ValueChanged"
        auth = [(b"Authorization", f"Bearer {token}".encode())]
        async with open_websocket_url(ws_url, extra_headers=auth) as ws:
            with trio.fail_after(8):
                events = [json.loads(await ws.get_message()) for _ in range(3)]
        assert {event["type"] for event in events} == {"ValueChanged"}
        assert all(event["node_id"] in by_id for event in events)

        process.send_signal(signal.SIGINT)
        with trio.fail_after(5):
            status = await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        stdout.close()
        stderr.close()
    output = (tmp_path / "stdout.txt").read_text()
    errors = (tmp_path / "stderr.txt").read_text()
    assert status == 0, errors
    assert f"OpenCrate is serving {url}" in output
    assert "demo login: user admin, password " in output
    assert "OpenCrate stopped" in output
    assert "Traceback" not in errors
    assert (data / "nodes.db").is_file()
