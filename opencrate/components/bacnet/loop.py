"""A private asyncio event loop on its own thread, driven from trio.

bacpypes3 is asyncio through and through (its services create asyncio tasks
and futures, its timers are ``loop.call_later``). Rather than run trio and
asyncio in one loop (trio-asyncio), OpenCrate keeps asyncio on a thread of its
own (stack-feasibility §5, the "thread bridge"): nothing of asyncio leaks into
the trio side, asyncio's timers keep real time even under trio's
``MockClock``, and a bug on the asyncio side cannot block the trio loop.

The bridge is three operations:

- :meth:`AsyncioThread.run` awaits a coroutine function on the loop thread and
  returns its result (or raises its exception) in trio. If the trio caller is
  cancelled, the asyncio task is cancelled too and given a moment to unwind,
  so a request never outlives the task that asked for it.
- :meth:`AsyncioThread.call` runs a plain function on the loop thread.
- :meth:`AsyncioThread.push` is for the loop thread: it hands a value to a
  trio memory channel without ever blocking asyncio; when the channel is
  full the value is dropped and counted (``dropped``), which is what keeps a
  flood of unsolicited packets from growing memory.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import trio

__all__ = ["AsyncioThread"]

T = TypeVar("T")

#: How long a cancelled request may take to unwind on the asyncio side.
_CANCEL_GRACE_S = 1.0


class AsyncioThread:
    """An asyncio loop running on a daemon thread; see the module docstring."""

    def __init__(self, loop: asyncio.AbstractEventLoop, token: trio.lowlevel.TrioToken) -> None:
        self._loop = loop
        self._token = token
        self.dropped = 0  # values :meth:`push` could not deliver (channel full or closed)

    @classmethod
    @asynccontextmanager
    async def open(cls, name: str = "asyncio") -> AsyncIterator[AsyncioThread]:
        """Start the loop thread; on exit cancel what still runs there, stop and join it."""
        loop = asyncio.new_event_loop()
        loop.set_task_factory(_kept_tasks())
        started = threading.Event()

        def main() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(started.set)
            loop.run_forever()
            # Stopped: like asyncio.run's exit, cancel what is left (a timer may have
            # started a task since the last round) and let it unwind on this thread,
            # so no task or coroutine is destroyed pending when the loop closes.
            loop.run_until_complete(_cancel_all())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        thread = threading.Thread(target=main, name=name, daemon=True)
        thread.start()
        await trio.to_thread.run_sync(started.wait)
        bridge = cls(loop, trio.lowlevel.current_trio_token())
        try:
            yield bridge
        finally:
            with trio.CancelScope(shield=True):
                await bridge._stop(thread)

    async def _stop(self, thread: threading.Thread) -> None:
        with trio.move_on_after(_CANCEL_GRACE_S * 2):
            await self.run(_cancel_all)
        self._loop.call_soon_threadsafe(self._loop.stop)
        await trio.to_thread.run_sync(thread.join)  # the thread closes the loop

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    async def run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Await ``fn(*args)`` on the loop thread; its result or exception here.

        Cancellation of the caller cancels the asyncio task (waiting up to a
        second for it to finish unwinding) and then propagates as usual.
        """
        done = trio.Event()  # the future has its result
        unwound = trio.Event()  # the task itself has finished (its finally blocks ran)

        async def task() -> T:
            try:
                return await fn(*args)
            finally:
                self._wake(unwound.set)

        future = asyncio.run_coroutine_threadsafe(task(), self._loop)
        future.add_done_callback(lambda _: self._wake(done.set))
        try:
            await done.wait()
        finally:
            if not done.is_set():
                # Cancelling the concurrent future cancels the asyncio task; wait
                # (shielded, briefly) until it has really stopped.
                future.cancel()
                with trio.CancelScope(shield=True), trio.move_on_after(_CANCEL_GRACE_S):
                    await unwound.wait()
        return future.result()

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run the plain function ``fn(*args)`` on the loop thread (it may create tasks)."""

        async def wrapper() -> T:
            return fn(*args)

        return await self.run(wrapper)

    def push(self, channel: trio.MemorySendChannel[T], value: T) -> None:
        """From the loop thread: deliver ``value`` to ``channel`` soon, or drop and count it."""

        def deliver() -> None:
            try:
                channel.send_nowait(value)
            except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
                self.dropped += 1

        self._wake(deliver)

    def _wake(self, fn: Callable[[], object]) -> None:
        try:
            self._token.run_sync_soon(fn)
        except trio.RunFinishedError:
            pass  # trio has gone: nobody is waiting any more


async def _cancel_all() -> None:
    """Cancel every other task of the running loop and wait for them, in a few rounds:
    a cancelled bacpypes3 task may start another (a segmentation timer) on its way out."""
    for _ in range(5):
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if not tasks:
            return
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _kept_tasks() -> Callable[..., asyncio.Task[Any]]:
    """A task factory that holds every task until it is done.

    asyncio keeps only weak references to tasks, and bacpypes3 starts some it
    does not keep (a segmentation state machine's timeout, when the machine
    itself has been dropped): such a task can be collected while pending
    ("Task was destroyed but it is pending!") and its work is lost.
    """
    running: set[asyncio.Task[Any]] = set()

    def factory(
        loop: asyncio.AbstractEventLoop, coro: Any, *, context: Any = None
    ) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.Task(coro, loop=loop, context=context)
        running.add(task)
        task.add_done_callback(running.discard)
        return task

    return factory
