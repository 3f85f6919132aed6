"""The asyncio loop thread behind the BACnet adapter: results, errors, cancellation, push."""

from __future__ import annotations

import asyncio
import threading

import pytest
import trio

from opencrate.components.bacnet.loop import AsyncioThread


async def test_run_returns_the_coroutines_result_computed_on_the_loop_thread() -> None:
    async with AsyncioThread.open() as bridge:

        async def where() -> str:
            await asyncio.sleep(0)
            return threading.current_thread().name

        assert await bridge.run(where) == "asyncio"
        assert await bridge.call(lambda a, b: a + b, 2, 3) == 5


async def test_run_raises_the_coroutines_exception_in_trio() -> None:
    async with AsyncioThread.open() as bridge:

        async def fail() -> None:
            raise LookupError("no such object")

        with pytest.raises(LookupError, match="no such object"):
            await bridge.run(fail)


async def test_cancelling_the_trio_caller_cancels_the_asyncio_task() -> None:
    cancelled = threading.Event()
    started = trio.Event()
    async with AsyncioThread.open() as bridge:
        token = trio.lowlevel.current_trio_token()

        async def forever() -> None:
            token.run_sync_soon(started.set)
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        async with trio.open_nursery() as nursery:
            nursery.start_soon(bridge.run, forever)
            await started.wait()
            nursery.cancel_scope.cancel()
        assert cancelled.is_set()
        # the loop still serves later requests
        assert await bridge.call(lambda: 7) == 7


async def test_leaving_the_block_cancels_tasks_still_running_and_joins_the_thread() -> None:
    before = threading.active_count()
    cancelled = threading.Event()
    async with AsyncioThread.open() as bridge:

        async def orphan() -> None:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        await bridge.call(lambda: asyncio.ensure_future(orphan()))
    assert cancelled.is_set()
    assert threading.active_count() == before


async def test_push_delivers_in_order_and_drops_when_the_channel_is_full() -> None:
    send, receive = trio.open_memory_channel[int](2)
    async with AsyncioThread.open() as bridge:

        async def produce() -> None:
            for i in range(5):
                bridge.push(send, i)

        await bridge.run(produce)
        got = [await receive.receive(), await receive.receive()]
        await bridge.call(lambda: None)  # the deliveries queued before this have run
        assert got == [0, 1]
        assert bridge.dropped == 3


async def test_a_task_nobody_keeps_is_not_destroyed_pending() -> None:
    """bacpypes3 starts tasks it does not keep, waiting on futures nobody else holds;
    asyncio holds tasks only weakly, so such a task would be collected mid-wait."""
    import gc

    async with AsyncioThread.open() as bridge:

        async def start_and_forget() -> list[str]:
            loop = asyncio.get_running_loop()
            seen: list[str] = []
            loop.set_exception_handler(lambda _loop, context: seen.append(context["message"]))

            async def orphan() -> None:
                await loop.create_future()  # nobody keeps the future, nor the task

            asyncio.ensure_future(orphan())  # noqa: RUF006  (no reference kept: the point)
            await asyncio.sleep(0)  # it starts, and parks on the future
            gc.collect()
            loop.set_exception_handler(None)
            return seen

        assert await bridge.run(start_and_forget) == []
