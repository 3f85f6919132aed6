"""Progress / CountsProcessed: waiting on a count instead of on time."""

from __future__ import annotations

import trio
import trio.testing

from opencrate.runtime.progress import CountsProcessed, Progress


async def test_waiters_wake_once_the_count_reaches_their_mark() -> None:
    progress = Progress()
    woke: list[int] = []

    async def waiter(mark: int) -> None:
        await progress.wait(mark)
        woke.append(mark)

    async with trio.open_nursery() as nursery:
        for mark in (3, 1, 2):
            nursery.start_soon(waiter, mark)
        await trio.testing.wait_all_tasks_blocked()
        progress.add()
        await trio.testing.wait_all_tasks_blocked()
        assert woke == [1]
        progress.add(0)  # nothing counted, nobody wakes
        progress.add(-5)
        await trio.testing.wait_all_tasks_blocked()
        assert woke == [1]
        progress.add(2)
    assert sorted(woke) == [1, 2, 3]
    assert progress.count == 3


async def test_a_reached_mark_returns_at_once_but_still_checkpoints() -> None:
    progress = Progress()
    progress.add(2)
    with trio.CancelScope() as scope:
        scope.cancel()
        await progress.wait(1)  # a checkpoint: the cancellation is delivered here
        raise AssertionError("not reached")
    assert scope.cancelled_caught


async def test_an_engine_counts_what_it_processed() -> None:
    class Engine(CountsProcessed):
        def handle(self, batch: list[object]) -> None:
            self._processed.add(len(batch))

    engine = Engine()
    assert engine.processed == 0
    async with trio.open_nursery() as nursery:
        nursery.start_soon(engine.wait_processed, 4)
        await trio.testing.wait_all_tasks_blocked()
        engine.handle([1, 2])
        engine.handle([3, 4, 5])
    assert engine.processed == 5
