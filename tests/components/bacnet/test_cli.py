"""``opencrate discover scan|list|show|accept|ignore`` against a real server and bridge on
loopback, with a bacpypes3 device found by a directed Who-Is (``[[bacnet.device]]``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio
from asyncclick.testing import CliRunner
from bacpypes3.local.analog import AnalogInputObject, AnalogOutputObject

from opencrate.app import Services
from opencrate.cli.main import cli
from opencrate.clock import TrioClock
from opencrate.components.bacnet.bridge import BacnetBridge
from tests.harness import running_services

from .conftest import bacpypes_device, free_udp_port

SAFETY_S = 30


def _objects() -> list[Any]:
    return [
        AnalogInputObject(
            objectIdentifier=("analog-input", 1), objectName="Return Air Temp",
            presentValue=22.0, statusFlags=[0, 0, 0, 0], eventState="normal",
            outOfService=False, units="degrees-celsius", covIncrement=0.1,
        ),
        AnalogOutputObject(
            objectIdentifier=("analog-output", 1), objectName="Heating Valve Cmd",
            presentValue=0.0, statusFlags=[0, 0, 0, 0], eventState="normal",
            outOfService=False, units="percent", relinquishDefault=0.0, covIncrement=0.1,
        ),
    ]  # fmt: skip


@pytest.fixture
async def live_services(tmp_path: Path, clock: TrioClock) -> AsyncIterator[Services]:
    port = free_udp_port()
    section = {
        "address": f"127.0.0.1:{free_udp_port()}", "timeout": "500ms", "scan_timeout": "300ms",
        "scan_on_start": False, "device": [{"instance": 4001, "address": f"127.0.0.1:{port}"}],
    }  # fmt: skip
    running = running_services(tmp_path / "data", clock, sections={"bacnet": section})
    async with (
        bacpypes_device(4001, port, _objects()),
        running as svc,
        trio.open_nursery() as nursery,
    ):
        await nursery.start(svc.get(BacnetBridge).run)
        yield svc
        nursery.cancel_scope.cancel()


async def _run(*args: str) -> tuple[int, str]:
    result = await CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


async def test_scan_list_show_accept_ignore_from_the_terminal(api_url: str) -> None:
    with trio.fail_after(SAFETY_S):
        code, out = await _run("discover", "scan", "--url", api_url)
        assert code == 0, out
        assert "global scan: 1 devices (1 new), 2 point objects" in out
        code, out = await _run("discover", "list", "--url", api_url)
        assert code == 0, out
        assert out.split()[:2] == ["4001", "discovered"]
        code, out = await _run("discover", "list", "--url", api_url, "--json")
        assert json.loads(out.splitlines()[0])["device_key"] == "4001"
        code, out = await _run("discover", "show", "4001", "--url", api_url)
        assert code == 0, out
        assert "analog-output-1" in out
        assert "Heating Valve Cmd" in out
        code, out = await _run("discover", "accept", "4001", "--url", api_url)
        assert code == 0, out
        assert "accepted 4001: 3 nodes created, 2 points polled" in out
        assert "4001/analog-input-1" in out
        code, out = await _run("devices", "list", "--url", api_url)
        assert "4001" in out
        assert "bacnet" in out


async def test_errors_name_what_was_wrong_and_exit_non_zero(api_url: str) -> None:
    code, out = await _run("discover", "show", "999", "--url", api_url)
    assert code != 0
    assert "999" in out
    code, out = await _run("discover", "scan", "--url", api_url, "--timeout", "forever")
    assert code != 0
    assert "timeout" in out
    with trio.fail_after(SAFETY_S):
        await _run("discover", "scan", "--url", api_url)
    code, out = await _run("discover", "ignore", "4001", "--url", api_url)
    assert (code, out.strip()) == (0, "ignored 4001")
    code, out = await _run("discover", "list", "--url", api_url)
    assert out.strip() == ""
    code, out = await _run("discover", "list", "--all", "--url", api_url)
    assert "ignored" in out
