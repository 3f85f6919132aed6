"""``opencrate serve`` as a real process: SIGINT exits 0 within 5 s whatever the clients do.

Two clients that never read hold the server's socket writes: a websocket
stream and a 32 MB download, each on a socket with a tiny receive buffer.
Before the server bounded its writes, the process did not exit (hypercorn
0.18's socket write is shielded and has no timeout).
"""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import trio

from tests.api.test_slow_clients import SHUTDOWN_LIMIT_S, _stuck_client
from tests.harness import REPO_ROOT

pytestmark = pytest.mark.slow


async def _start(data: Path) -> tuple[trio.Process, str, trio.abc.ReceiveStream]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = await trio.lowlevel.open_process(
        [sys.executable, "-m", "opencrate", "serve", "--data", str(data), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=REPO_ROOT,
    )
    assert proc.stdout is not None
    seen = b""
    with trio.fail_after(60):
        while (match := re.search(rb"serving (http://[0-9.:]+)", seen)) is None:
            chunk = await proc.stdout.receive_some()
            assert chunk, f"server exited: {seen.decode()}"
            seen += chunk
    return proc, match.group(1).decode(), proc.stdout


async def test_sigint_exits_0_in_5_s_with_clients_that_never_read(tmp_path: Path) -> None:
    data = tmp_path / "data"
    token_file = tmp_path / "admin.token"
    await trio.run_process(
        [sys.executable, "-m", "opencrate", "init", "--data", str(data),
         "--admin-token-file", str(token_file)],
        capture_stdout=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        cwd=REPO_ROOT,
    )  # fmt: skip
    token = token_file.read_text(encoding="utf-8").strip()
    proc, url, output = await _start(data)
    try:
        port = int(url.rsplit(":", 1)[1])
        auth = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=url, headers=auth, timeout=30) as client:
            reply = await client.put(
                "/api/properties/site/firmware",
                content=os.urandom(32 * 1024 * 1024),
                headers={"Content-Type": "application/octet-stream"},
            )
            assert reply.status_code == 200, reply.text
        download = (
            f"GET /api/properties/site/firmware/blob HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        ).encode()
        key = base64.b64encode(os.urandom(16)).decode()
        stream = (
            f"GET /api/ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        ).encode()
        with await _stuck_client(port, download), await _stuck_client(port, stream):
            started = trio.current_time()
            proc.send_signal(signal.SIGINT)
            with trio.fail_after(SHUTDOWN_LIMIT_S):
                status = await proc.wait()
            took = trio.current_time() - started
        rest = b""
        while chunk := await output.receive_some():
            rest += chunk
        assert status == 0, rest.decode()
        assert took < SHUTDOWN_LIMIT_S
        assert b"OpenCrate stopped" in rest
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await output.aclose()
