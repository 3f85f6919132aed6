"""@bacnet-js/client (an independent JavaScript BACnet/IP stack) as a test peer.

- ``async with bacnet_js_device(objects=..., segmentation=True, rpm=True) as device``:
  ``tests/peers/bacnet_js/device.js`` on a free loopback UDP port, ready (it printed its
  ``ready`` line) when the block starts, gone (stdin closed, then killed if needed, and
  waited for) when it ends, so no stale device is left to take another test's traffic.
  ``host, port, instance = device`` unpacks it; ``await device.set("analog-input,1", 23.5)``
  changes a value from the field side (COV subscribers are notified); ``device.log()`` is
  what the device wrote on stderr (one line per request).
- ``await run_js_client("read", "127.0.0.1:47900", "analog-input", "1", "present-value")``:
  ``client.js`` from its own free port; its JSON answer, or :class:`JsClientError`.

Both skip the test when node or the npm packages (``tests/peers/bacnet_js/node_modules``,
installed by ``npm ci --prefix tests/peers/bacnet_js``) are missing, and fail it instead
when ``OPENCRATE_BACNET_JS=1`` or ``OPENCRATE_REQUIRE_SERVICES=1`` (as ``.ci/run`` sets).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

PEER_DIR = Path(__file__).parent / "bacnet_js"
DEVICE_JS = PEER_DIR / "device.js"
CLIENT_JS = PEER_DIR / "client.js"
PACKAGE = PEER_DIR / "node_modules" / "@bacnet-js" / "client" / "package.json"
HOST = "127.0.0.1"
START_TIMEOUT_S = 10.0

#: The device's objects when none are given (device.js's built-in set).
DEFAULT_OBJECTS: list[dict[str, Any]] = [
    {
        "type": "analog-input",
        "instance": 1,
        "name": "Zone Temp",
        "units": "degrees-celsius",
        "value": 20.0,
        "description": "Zone air temperature",
        "cov_increment": 0.1,
    },
    {
        "type": "analog-output",
        "instance": 1,
        "name": "Damper Command",
        "units": "percent",
        "commandable": True,
        "relinquish_default": 0.0,
        "description": "Damper position command",
    },
    {
        "type": "binary-value",
        "instance": 1,
        "name": "Fan Enable",
        "value": 0,
        "commandable": True,
        "relinquish_default": 0,
        "description": "Fan enable",
    },
    {
        "type": "multi-state-value",
        "instance": 1,
        "name": "Mode",
        "value": 1,
        "states": ["Off", "Heat", "Cool"],
        "description": "Operating mode",
    },
]


class JsClientError(Exception):
    """client.js exited non-zero; the message is its error text."""


def require_bacnet_js() -> str:
    """The node executable, when node and the pinned npm packages are installed.

    Otherwise skips the test, or fails it when OPENCRATE_BACNET_JS=1 or
    OPENCRATE_REQUIRE_SERVICES=1 (CI), naming what is missing and how to install it.
    """
    node = shutil.which("node")
    if node is None:
        problem = "node is not installed"
    elif not PACKAGE.exists():
        problem = f"@bacnet-js/client is not installed in {PEER_DIR / 'node_modules'}"
    else:
        return node
    hint = "run `npm ci --prefix tests/peers/bacnet_js` (Node.js 20)"
    for name in ("OPENCRATE_BACNET_JS", "OPENCRATE_REQUIRE_SERVICES"):
        if os.environ.get(name) == "1":
            pytest.fail(f"{problem} and {name}=1 (as in CI); {hint}")
    pytest.skip(f"{problem}; {hint}")


def free_udp_port(host: str = HOST) -> int:
    """A UDP port nobody holds on ``host`` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class JsDevice:
    """A running device.js; unpacks as ``host, port, instance``."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        instance: int,
        process: trio.Process,
        events: _Events,
        log_path: Path,
    ) -> None:
        self.host = host
        self.port = port
        self.instance = instance
        self._process = process
        self._events = events
        self._log_path = log_path
        self._lock = trio.Lock()
        self._final_log: str | None = None

    def __iter__(self) -> Iterator[Any]:
        return iter((self.host, self.port, self.instance))

    @property
    def address(self) -> str:
        """``host:port``, as client.js and bacpypes3's ``Address`` take it."""
        return f"{self.host}:{self.port}"

    def log(self) -> str:
        """Everything the device wrote on stderr so far (all of it, once stopped)."""
        if self._final_log is not None:
            return self._final_log
        return self._log_path.read_text(errors="replace")

    async def set(
        self,
        obj: str,
        value: Any = None,
        *,
        status_flags: Sequence[bool] | None = None,
        reliability: int | None = None,
    ) -> dict[str, Any]:
        """Change ``obj`` ("analog-input,1") from the field side; the device's answer.

        On a commandable object ``value`` sets relinquish-default. Raises AssertionError
        with the device's message when it refuses the command.
        """
        command: dict[str, Any] = {"cmd": "set", "object": obj}
        if value is not None:
            command["value"] = value
        if status_flags is not None:
            command["status_flags"] = list(status_flags)
        if reliability is not None:
            command["reliability"] = reliability
        return await self._command(command)

    async def tick(self) -> float | None:
        """One step of analog-input 1's drift; its new value."""
        answer = await self._command({"cmd": "tick"})
        value: float | None = answer["value"]
        return value

    async def subscriptions(self) -> list[dict[str, Any]]:
        """The COV subscriptions in force (expired ones dropped): one dict each with
        object ("analog-input,1"), process_id, subscriber ("host:port"), confirmed and
        time_remaining (seconds; None for a subscription without lifetime)."""
        answer = await self._command({"cmd": "subscriptions"})
        found: list[dict[str, Any]] = answer["subscriptions"]
        return found

    async def fault(self, mode: str | None) -> None:
        """Turn a fault on ("silent", "errors", "segments-forever") or off (None).

        silent: confirmed requests go unanswered (Who-Is still is); errors: each is answered
        with Error device/operational-problem; segments-forever: every complex ack comes in
        segments whose more-follows never ends.
        """
        await self._command({"cmd": "fault", "mode": mode})

    async def i_am_flood(self, to: str, count: int, *, first_instance: int = 100000) -> None:
        """Send ``count`` I-Ams (instances ``first_instance``...) from the device to ``to``."""
        await self._command(
            {"cmd": "i-am-flood", "to": to, "count": count, "first_instance": first_instance}
        )

    async def send_raw(self, to: str, datagram: bytes) -> None:
        """Send one UDP datagram, as given (malformed or not), from the device's socket."""
        await self._command({"cmd": "raw", "to": to, "hex": datagram.hex()})

    def pause(self) -> None:
        """Stop the device process (SIGSTOP): requests go unanswered, as from a dead device."""
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused device run again (SIGCONT); it answers what is still queued."""
        self._process.send_signal(signal.SIGCONT)

    async def _command(self, command: dict[str, Any]) -> dict[str, Any]:
        async with self._lock:
            assert self._process.stdin is not None
            await self._process.stdin.send_all((json.dumps(command) + "\n").encode())
            with trio.fail_after(5):
                answer = await self._events.next()
        assert answer.get("event") != "error", f"device.js refused {command}: {answer}"
        return answer


@asynccontextmanager
async def bacnet_js_device(
    *,
    objects: list[dict[str, Any]] | None = None,
    segmentation: bool = True,
    rpm: bool = True,
    instance: int = 1234,
    port: int | None = None,
    tick_s: float = 0.0,
    max_apdu: int = 1476,
    vendor_id: int = 999,
    name: str | None = None,
    foreign: str | None = None,
    fault: str | None = None,
) -> AsyncIterator[JsDevice]:
    """device.js on 127.0.0.1, ready; stopped and reaped at exit.

    ``objects``: device.js object specs (see :data:`DEFAULT_OBJECTS`, the default).
    ``segmentation=False``: no-segmentation device (whole object-list reads abort).
    ``rpm=False``: ReadPropertyMultiple is rejected. ``port``: a given port (to restart a
    device where a bridge knows it); default a free one (another is tried when that one was
    taken meanwhile). ``tick_s``: analog-input 1 drifts every ``tick_s`` seconds (0: only on
    :meth:`JsDevice.tick`). ``max_apdu``: what the device accepts and answers at most (it
    never segments: a longer answer is aborted with segmentation-not-supported).
    ``foreign``: ``host:port`` of a BBMD the device registers with (before it is ready), so
    a global Who-Is through that BBMD reaches it. ``fault``: start faulty (see
    :meth:`JsDevice.fault`).
    Skips or fails as :func:`require_bacnet_js` does. Raises RuntimeError with the device's
    log when it does not start within 10 s, or exits (a bad object list, a port in use: the
    device binds without SO_REUSEADDR, so it never shares a port with a stale one).
    """
    node = require_bacnet_js()
    with tempfile.TemporaryDirectory(prefix="bacnet-js-") as tmp:
        objects_path = Path(tmp) / "objects.json"
        objects_path.write_text(json.dumps(DEFAULT_OBJECTS if objects is None else objects))
        log_path = Path(tmp) / "device.log"
        options = [
            "--host",
            HOST,
            "--instance",
            str(instance),
            "--objects",
            str(objects_path),
            "--tick-s",
            str(tick_s),
            "--max-apdu",
            str(max_apdu),
            "--vendor-id",
            str(vendor_id),
        ]
        if name is not None:
            options += ["--name", name]
        if not segmentation:
            options.append("--no-segmentation")
        if not rpm:
            options.append("--no-rpm")
        if foreign is not None:
            options += ["--foreign", foreign]
        if fault is not None:
            options += ["--fault", fault]
        attempts = 1 if port is not None else 3
        for attempt in range(attempts):
            chosen = port if port is not None else free_udp_port()
            argv = [node, str(DEVICE_JS), "--port", str(chosen), *options]
            process, events, problem = await _start(argv, log_path)
            if process is not None:
                break
            if "EADDRINUSE" not in problem or attempt == attempts - 1:
                raise RuntimeError(f"device.js did not start on {HOST}:{chosen}:\n{problem}")
        assert process is not None
        assert events is not None
        device = JsDevice(
            host=HOST,
            port=chosen,
            instance=instance,
            process=process,
            events=events,
            log_path=log_path,
        )
        try:
            yield device
        finally:
            await _stop(process)
            device._final_log = log_path.read_text(errors="replace")  # the file goes next


async def _start(
    argv: list[str], log_path: Path
) -> tuple[trio.Process | None, _Events | None, str]:
    """Start device.js and wait for ``ready``: (process, events, "") or (None, None, log)."""
    with log_path.open("wb") as log_file:
        process = await trio.lowlevel.open_process(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log_file
        )
    events = _Events(process)
    try:
        with trio.fail_after(START_TIMEOUT_S):
            ready = await events.next()
    except (trio.TooSlowError, EOFError):
        await _stop(process)
        return None, None, log_path.read_text(errors="replace")
    except BaseException:
        await _stop(process)
        raise
    assert ready["event"] == "ready", ready
    return process, events, ""


class _Events:
    """device.js's stdout, one JSON record a line, read when asked (no background task)."""

    def __init__(self, process: trio.Process) -> None:
        assert process.stdout is not None
        self._stdout = process.stdout
        self._buffer = b""

    async def next(self) -> dict[str, Any]:
        """The next record; EOFError when device.js closed its stdout."""
        while b"\n" not in self._buffer:
            chunk = await self._stdout.receive_some()
            if not chunk:
                raise EOFError("device.js exited")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        record: dict[str, Any] = json.loads(line)
        return record


async def _stop(process: trio.Process) -> None:
    """Close stdin (device.js exits on EOF); kill it if it is still there after 3 s."""
    with trio.CancelScope(shield=True):
        if process.returncode is None:
            process.send_signal(signal.SIGCONT)  # a paused device could not see EOF
        if process.stdin is not None:
            await process.stdin.aclose()
        with trio.move_on_after(3):
            await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()
        if process.stdout is not None:
            await process.stdout.aclose()


async def run_js_client(
    *args: str, timeout_ms: int = 3000, port: int | None = None
) -> dict[str, Any]:
    """``node client.js --port <port or a free one> *args``: its JSON answer (exit 0).

    Raises JsClientError with client.js's message when it exits non-zero.
    """
    node = require_bacnet_js()
    own = free_udp_port() if port is None else port
    argv = [node, str(CLIENT_JS), "--port", str(own), "--timeout-ms", str(timeout_ms)]
    result = await trio.run_process(
        [*argv, *args], capture_stdout=True, capture_stderr=True, check=False
    )
    if result.returncode != 0:
        raise JsClientError(result.stderr.decode(errors="replace").strip())
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer
