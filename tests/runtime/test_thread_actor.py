"""The generic thread actor: draining into batches, a reply per command, closed vs broken."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import outcome
import pytest
import trio
import trio.testing

from opencrate.errors import StoreBroken, StoreClosed, StoreError
from opencrate.runtime.thread_actor import ThreadActor, run_each


class Recorder:
    """A batch runner that records the size of each batch and the thread it ran in."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.threads: set[int] = set()

    def __call__(self, batch: Sequence[Callable[[], Any]]) -> list[outcome.Outcome[Any]]:
        self.sizes.append(len(batch))
        self.threads.add(threading.get_ident())
        return run_each(batch)


async def test_queued_commands_are_drained_into_one_batch_up_to_the_bound() -> None:
    actor = ThreadActor("test", max_batch=4)
    runner = Recorder()
    results: list[int] = []

    async def call(i: int) -> None:
        results.append(await actor.call(lambda: i * 10))

    async with trio.open_nursery() as nursery:
        for i in range(10):
            nursery.start_soon(call, i)
        await trio.testing.wait_all_tasks_blocked()  # all ten queued before serving
        nursery.start_soon(actor.serve, runner)
        await actor.aclose()  # runs all that is queued first
    assert sorted(results) == [i * 10 for i in range(10)]
    assert runner.sizes == [4, 4, 2]
    assert threading.get_ident() not in runner.threads
    stats = actor.statistics()
    assert (stats.batches, stats.max_batch_size, stats.commands_served) == (3, 4, 10)


async def test_each_caller_gets_its_own_result_or_its_own_exception() -> None:
    actor = ThreadActor("test")

    def fail() -> int:
        raise KeyError("mine")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(actor.serve)
        assert await actor.call(lambda: 1) == 1
        with pytest.raises(KeyError, match="mine"):
            await actor.call(fail)
        assert await actor.call(lambda: 2) == 2
        await actor.aclose()
    assert actor.statistics().commands_failed == 1


async def test_aclose_runs_what_is_queued_even_when_closed_mid_batch() -> None:
    # Closed while a batch runs and more wait: the next batch drains to the end
    # of a closed channel (EndOfChannel, not WouldBlock) and must still run.
    actor = ThreadActor("test")
    gate = threading.Event()
    started = trio.Event()
    done: list[int] = []

    def first() -> int:
        trio.from_thread.run_sync(started.set)
        gate.wait()
        return 0

    async def call(fn: Callable[[], int]) -> None:
        done.append(await actor.call(fn))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(actor.serve)
        nursery.start_soon(call, first)
        await started.wait()
        for i in range(1, 4):
            nursery.start_soon(call, lambda i=i: i)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(actor.aclose)
        await trio.testing.wait_all_tasks_blocked()
        gate.set()
    assert sorted(done) == [0, 1, 2, 3]
    with pytest.raises(StoreClosed, match="test is closed"):
        await actor.call(lambda: 4)


async def test_aclose_is_idempotent_and_waits_for_the_queue_to_drain() -> None:
    actor = ThreadActor("test")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(actor.serve)
        await actor.call(lambda: None)
        await actor.aclose()
        await actor.aclose()
    assert actor.statistics().closed


async def test_a_batch_runner_that_raises_breaks_the_actor_for_everyone() -> None:
    actor = ThreadActor("store demo", store="demo")

    def explode(batch: Sequence[Callable[[], Any]]) -> list[outcome.Outcome[Any]]:
        raise RuntimeError("disk on fire")

    errors: list[BaseException] = []

    async def call() -> None:
        try:
            await actor.call(lambda: 1)
        except StoreError as exc:
            errors.append(exc)

    with pytest.RaisesGroup(pytest.RaisesExc(RuntimeError, match="disk on fire")):
        async with trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(call)
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(actor.serve, explode)
    assert len(errors) == 3
    for exc in errors:
        assert isinstance(exc, StoreBroken)
        assert "store demo is broken: RuntimeError: disk on fire" in str(exc)
        assert exc.detail == {"store": "demo"}
        assert isinstance(exc.__cause__, RuntimeError)
    with pytest.raises(StoreBroken):
        await actor.call(lambda: 2)
    assert actor.statistics().broken


async def test_a_command_taken_off_the_channel_is_answered_even_if_serve_is_cancelled() -> None:
    actor = ThreadActor("test")
    gate = threading.Event()
    started = trio.Event()
    got: list[str] = []

    def slow() -> str:
        trio.from_thread.run_sync(started.set)
        gate.wait()
        return "ran"

    async def call() -> None:
        got.append(await actor.call(slow))

    serving = trio.CancelScope()

    async def serve() -> None:
        with serving:
            await actor.serve()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(call)
        nursery.start_soon(serve)
        await started.wait()
        serving.cancel()  # while the command runs in the worker thread
        await trio.testing.wait_all_tasks_blocked()
        gate.set()
    assert got == ["ran"]


async def test_a_cancelled_serve_leaves_the_queue_for_the_next_serve() -> None:
    actor = ThreadActor("test")
    got: list[int] = []

    async def call() -> None:
        got.append(await actor.call(lambda: 7))

    async with trio.open_nursery() as nursery:
        with trio.CancelScope() as scope:
            scope.cancel()
            await actor.serve()  # cancelled before it took anything
        nursery.start_soon(call)
        await trio.testing.wait_all_tasks_blocked()
        assert got == []
        nursery.start_soon(actor.serve)
        await trio.testing.wait_all_tasks_blocked()
        await actor.aclose()
    assert got == [7]


async def test_refuse_answers_the_queued_callers_and_every_later_one() -> None:
    actor = ThreadActor("test")
    errors: list[BaseException] = []

    async def call() -> None:
        try:
            await actor.call(lambda: 1)
        except StoreClosed as exc:
            errors.append(exc)

    async with trio.open_nursery() as nursery:
        for _ in range(2):
            nursery.start_soon(call)
        await trio.testing.wait_all_tasks_blocked()
        actor.refuse()
    assert len(errors) == 2
    with pytest.raises(StoreClosed):
        await actor.call(lambda: 1)


async def test_a_full_channel_blocks_callers_until_there_is_room() -> None:
    actor = ThreadActor("test", capacity=1)
    got: list[int] = []
    all_answered = trio.Event()

    async def call(i: int) -> None:
        got.append(await actor.call(lambda: i))
        if len(got) == 3:
            all_answered.set()

    async with trio.open_nursery() as nursery:
        for i in range(3):
            nursery.start_soon(call, i)
        await trio.testing.wait_all_tasks_blocked()
        assert actor.statistics().queue_depth == 1  # one queued, two waiting to send
        nursery.start_soon(actor.serve)
        await all_answered.wait()
        await actor.aclose()
    assert sorted(got) == [0, 1, 2]


async def test_serving_twice_at_once_is_refused() -> None:
    actor = ThreadActor("test")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(actor.serve)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(StoreError, match="already running"):
            await actor.serve()
        await actor.aclose()


def test_max_batch_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        ThreadActor("test", max_batch=0)
