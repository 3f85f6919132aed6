"""A private asyncio loop in a thread, driven from trio (for bacpypes3 in tests).

``async with asyncio_thread() as loop: await loop.run(coro_fn, *args)`` runs the coroutine
on the loop thread and waits for it from trio; a trio cancellation cancels the asyncio
task. At exit every task still on the loop is cancelled and awaited, then the loop is
stopped, closed and its thread joined, so nothing leaks into the next test.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import trio

T = TypeVar("T")


class AsyncioThread:
    """Runs coroutines on one asyncio loop that lives in its own thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    async def run(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """``await fn(*args, **kwargs)`` on the loop thread; its result or its exception."""

        async def call() -> T:
            return await fn(*args, **kwargs)

        future = asyncio.run_coroutine_threadsafe(call(), self.loop)
        token = trio.lowlevel.current_trio_token()
        done = trio.Event()
        future.add_done_callback(lambda _: token.run_sync_soon(done.set))
        try:
            await done.wait()
        except trio.Cancelled:
            future.cancel()
            raise
        return future.result()

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Schedule a plain function on the loop thread (fire and forget)."""
        self.loop.call_soon_threadsafe(fn, *args)


@asynccontextmanager
async def asyncio_thread() -> AsyncIterator[AsyncioThread]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="asyncio-loop", daemon=True)
    thread.start()
    runner = AsyncioThread(loop)
    try:
        yield runner
    finally:
        with trio.CancelScope(shield=True):

            async def cancel_rest() -> None:
                me = asyncio.current_task()
                rest = [t for t in asyncio.all_tasks() if t is not me]
                for task in rest:
                    task.cancel()
                await asyncio.gather(*rest, return_exceptions=True)

            await runner.run(cancel_rest)
            loop.call_soon_threadsafe(loop.stop)
            await trio.to_thread.run_sync(thread.join)
            loop.close()
