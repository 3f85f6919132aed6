from __future__ import annotations

import trio
import trio.testing

from opencrate.runtime.events import Lagged
from opencrate.runtime.watch import Broadcast, Watch


async def test_watch_waiter_gets_newest_value_not_a_backlog() -> None:
    watch = Watch("v0")
    seen: list[tuple[int, str]] = []

    async def waiter() -> None:
        seen.append(await watch.wait_newer(0))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        assert watch.statistics().waiting == 1
        # Three quick sets before the waiter runs: it sees only the last.
        watch.set("v1")
        watch.set("v2")
        watch.set("v3")
    assert seen == [(3, "v3")]


async def test_watch_returns_at_once_when_already_newer() -> None:
    watch = Watch(1)
    watch.set(2)
    assert await watch.wait_newer(0) == (1, 2)


async def test_watch_wait_is_cancellable(autojump_clock: trio.testing.MockClock) -> None:
    watch = Watch(0)
    with trio.move_on_after(5) as scope:
        await watch.wait_newer(0)
    assert scope.cancelled_caught
    assert watch.statistics().waiting == 0


async def test_broadcast_every_receiver_gets_every_notice_and_lag_is_reported() -> None:
    notices: Broadcast[str] = Broadcast(capacity=2)
    with notices.subscribe(name="a") as a, notices.subscribe(name="b") as b:
        notices.send("p1")
        assert await a.receive_batch() == ["p1"]
        notices.send("p2")
        notices.send("p3")  # b is full (p1, p2): p3 is dropped for b only
        assert await a.receive_batch() == ["p2", "p3"]
        assert await b.receive_batch() == ["p1", "p2"]
        notices.send("p4")
        assert await b.receive_batch() == [Lagged(1), "p4"]
        assert await a.receive_batch() == ["p4"]
