"""A headless chromium driven over the DevTools protocol, for tests that click and type.

``--dump-dom`` only shows what a page draws by itself; a login form needs a
browser that can be typed into. This drives Debian's chromium directly (no
webdriver, no npm): it starts the browser with ``--remote-debugging-port=0``,
reads the port it chose from its stderr, opens the page target's websocket and
sends ``Runtime.evaluate`` commands. Conditions are waited for inside the page
(a promise that resolves when the condition holds), never by sleeping here.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

__all__ = ["Browser", "open_browser"]

_LISTENING = re.compile(rb"DevTools listening on (ws://[^\s]+)")


class Browser:
    """One page of a running chromium."""

    def __init__(self, socket: WebSocketConnection) -> None:
        self._socket = socket
        self._ids = itertools.count(1)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """One protocol command; its result (events that arrive meanwhile are dropped)."""
        ident = next(self._ids)
        command = {"id": ident, "method": method, "params": params}
        await self._socket.send_message(json.dumps(command))
        while True:
            message = json.loads(await self._socket.get_message())
            if message.get("id") != ident:
                continue
            if "error" in message:
                raise RuntimeError(f"{method}: {message['error']}")
            result: dict[str, Any] = message["result"]
            return result

    async def goto(self, url: str) -> None:
        await self.send("Page.navigate", url=url)

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises are awaited)."""
        result = await self.send(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} failed in the page: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, condition: str, *, timeout_s: float = 20) -> None:
        """Until the JavaScript ``condition`` holds in the page (checked there every 50 ms)."""
        waiter = (
            "new Promise((resolve) => { const check = () => { let ok = false;"
            f" try {{ ok = Boolean({condition}); }} catch (e) {{}}"
            " ok ? resolve(true) : setTimeout(check, 50); }; check(); })"
        )
        with trio.fail_after(timeout_s):
            try:
                await self.evaluate(waiter)
            except RuntimeError:
                # A navigation destroys the context the promise ran in: ask again.
                await self.evaluate(waiter)

    async def html(self) -> str:
        found: str = await self.evaluate("document.documentElement.outerHTML")
        return found


@asynccontextmanager
async def open_browser(chromium: str) -> AsyncIterator[Browser]:
    """A headless chromium with one blank page; closed (and its profile removed) on exit."""
    with tempfile.TemporaryDirectory() as profile:
        async with trio.open_nursery() as nursery:
            command = [
                chromium,
                *("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"),
                *("--disable-background-networking", "--disable-component-update"),
                *("--disable-sync", f"--user-data-dir={profile}"),
                *("--window-size=1400,900", "--remote-debugging-port=0"),
                "about:blank",
            ]
            run = functools.partial(
                trio.run_process,
                command,
                stderr=subprocess.PIPE,  # the port is announced there
                check=False,
            )
            process = await nursery.start(run)
            announced: list[str] = []
            found = trio.Event()
            # Read stderr to the end: a full pipe would stall the browser.
            nursery.start_soon(_read_stderr, process.stderr, announced, found)
            try:
                with trio.fail_after(30):
                    await found.wait()
                if not announced:
                    raise RuntimeError("chromium exited before it listened")
                endpoint = announced[0]
                port = int(endpoint.split(":")[2].split("/")[0])
                async with httpx.AsyncClient() as http:
                    targets = (await http.get(f"http://127.0.0.1:{port}/json/list")).json()
                page = next(t for t in targets if t["type"] == "page")
                async with open_websocket_url(page["webSocketDebuggerUrl"]) as socket:
                    yield Browser(socket)
            finally:
                process.terminate()


async def _read_stderr(
    stderr: trio.abc.ReceiveStream, announced: list[str], found: trio.Event
) -> None:
    seen = b""
    async for chunk in stderr:
        if not found.is_set():
            seen += chunk
            match = _LISTENING.search(seen)
            if match:
                announced.append(match.group(1).decode())
                found.set()
    found.set()  # the browser is gone; the waiter sees nothing announced
