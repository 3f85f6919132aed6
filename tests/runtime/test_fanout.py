"""FanOut and Subscription: the queue under the event bus (drops, lag reports, waiting, closing)."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from opencrate.runtime.events import Lagged
from opencrate.runtime.fanout import FanOut


def test_a_subscriber_that_lags_again_after_its_report_gets_a_second_report() -> None:
    fan: FanOut[int] = FanOut()
    sub = fan.subscribe(name="slow", capacity=3)
    for i in range(5):
        fan.publish(i)  # 0, 1, 2 fit; 3 and 4 are dropped
    assert [sub.receive_nowait() for _ in range(3)] == [0, 1, 2]
    for i in range(5, 10):
        fan.publish(i)  # Lagged(2), 5, 6 fit; 7, 8, 9 are dropped
    assert [sub.receive_nowait() for _ in range(3)] == [Lagged(2), 5, 6]
    fan.publish(10)
    fan.publish(11)
    assert [sub.receive_nowait() for _ in range(3)] == [Lagged(3), 10, 11]
    with pytest.raises(trio.WouldBlock):
        sub.receive_nowait()
    stats = sub.statistics()
    assert (stats.delivered, stats.dropped, stats.lag_reports, stats.depth) == (7, 5, 2, 0)
    assert fan.statistics().published == 12


def test_a_marker_waits_until_it_and_the_next_item_both_fit() -> None:
    fan: FanOut[int] = FanOut()
    sub = fan.subscribe(capacity=2)
    for i in range(4):
        fan.publish(i)  # 2 and 3 dropped
    assert sub.receive_nowait() == 0
    fan.publish(4)  # one free slot: not enough for Lagged and 4, so 4 is counted as lost too
    assert sub.statistics().depth == 1
    assert sub.receive_nowait() == 1
    fan.publish(5)
    assert [sub.receive_nowait(), sub.receive_nowait()] == [Lagged(3), 5]
    assert sub.statistics().dropped == 3


def test_depth_and_the_keys_of_a_subscriber() -> None:
    fan: FanOut[int] = FanOut()
    sub = fan.subscribe(["a"], name="keyed", capacity=10)
    fan.publish(1, "a")
    fan.publish(2, "b")  # not its key
    fan.publish(3)  # no key: only for subscribers of everything
    stats = sub.statistics()
    assert (stats.keys, stats.depth, stats.delivered) == (("a",), 1, 1)


async def test_receive_batch_takes_at_most_max_items_in_order() -> None:
    fan: FanOut[int] = FanOut()
    sub = fan.subscribe(capacity=100)
    for i in range(10):
        fan.publish(i)
    assert await sub.receive_batch(4) == [0, 1, 2, 3]
    assert await sub.receive_batch() == [4, 5, 6, 7, 8, 9]
    assert sub.statistics().depth == 0


async def test_a_waiting_receiver_wakes_on_publish_and_a_cancelled_one_loses_nothing() -> None:
    fan: FanOut[int] = FanOut()
    sub = fan.subscribe()
    got: list[list[int | Lagged]] = []

    async def receiver() -> None:
        got.append(await sub.receive_batch())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(receiver)
        await trio.testing.wait_all_tasks_blocked()
        fan.publish(1)
        fan.publish(2)
    assert got == [[1, 2]]
    with trio.move_on_after(0) as scope:
        fan.publish(3)
        await sub.receive()  # cancelled at its checkpoint, before taking the item
    assert scope.cancelled_caught
    assert sub.receive_nowait() == 3


async def test_close_ends_iteration_of_a_waiting_receiver_and_forgets_the_subscriber() -> None:
    fan: FanOut[int] = FanOut()
    sub = fan.subscribe(capacity=4)
    seen: list[int | Lagged] = []

    async def consume() -> None:
        async for item in sub:
            seen.append(item)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consume)
        fan.publish(1)
        await trio.testing.wait_all_tasks_blocked()
        sub.close()
    assert seen == [1]
    fan.publish(2)
    assert fan.statistics().subscribers == ()
    with pytest.raises(trio.ClosedResourceError):
        sub.receive_nowait()
    with pytest.raises(trio.ClosedResourceError):
        await sub.receive_batch()
    sub.close()  # idempotent
