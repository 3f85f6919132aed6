"""FanOut and Subscription: the queue under the event bus (drops, lag reports, waiting, closing)."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from opencrate.runtime.events import Lagged
from opencrate.runtime.fanout import FanOut, Subscription


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
    # None is "no key" in publish, even for a subscriber that named None as a key.
    none_keyed = fan.subscribe([None], name="none")
    fan.publish(4)
    assert none_keyed.statistics().delivered == 0


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


def test_statistics_name_each_subscriber_with_its_capacity_and_keys() -> None:
    fan: FanOut[int] = FanOut()
    plain = fan.subscribe(capacity=7)
    keyed = fan.subscribe([Lagged, "b"], name="keyed", capacity=3)
    fan.publish(1, "b")
    stats = fan.statistics()
    assert stats.published == 1
    assert stats.subscribers == (plain.statistics(), keyed.statistics())
    assert (plain.statistics().name, plain.statistics().capacity) == ("subscriber", 7)
    assert plain.statistics().keys == ()
    # A type key is named by the type's name, keys sorted by name.
    assert (keyed.statistics().name, keyed.statistics().keys) == ("keyed", ("Lagged", "b"))
    assert keyed.statistics().capacity == 3
    assert keyed.statistics().depth == 1


def test_an_empty_key_list_subscribes_to_everything() -> None:
    fan: FanOut[int] = FanOut()
    sub = fan.subscribe([])
    fan.publish(1)
    fan.publish(2, "a")
    assert [sub.receive_nowait(), sub.receive_nowait()] == [1, 2]
    assert sub.statistics().keys == ()


def test_closing_a_subscription_during_a_publish_skips_no_other_subscriber() -> None:
    fan: FanOut[int] = FanOut()
    to_close: list[Subscription[int]] = []

    def close_the_next_one_on_3(item: int) -> bool:
        if item == 3:
            to_close[0].close()
        return True

    closer = fan.subscribe(name="closer", accept=close_the_next_one_on_3)
    to_close.append(fan.subscribe(name="closed", capacity=1))
    after = fan.subscribe(name="after")
    fan.publish(1)
    fan.publish(2)  # dropped for "closed" (full)
    fan.publish(3)
    # The one closed inside the publish counts the item as dropped too, and the one
    # behind it was not skipped.
    assert [closer.receive_nowait() for _ in range(3)] == [1, 2, 3]
    assert [after.receive_nowait() for _ in range(3)] == [1, 2, 3]
    assert (to_close[0].statistics().delivered, to_close[0].statistics().dropped) == (1, 2)
    assert [s.name for s in fan.statistics().subscribers] == ["closer", "after"]


@pytest.mark.parametrize("keys", [None, ["k"]])
def test_closing_one_subscription_leaves_the_others_of_its_keys(keys: list[str] | None) -> None:
    fan: FanOut[int] = FanOut()
    gone = fan.subscribe(keys, name="gone")
    stays = fan.subscribe(keys, name="stays")
    gone.close()
    fan.publish(1, "k")
    assert stays.receive_nowait() == 1
    assert gone.statistics().dropped == 0  # no longer offered anything
    assert [s.name for s in fan.statistics().subscribers] == ["stays"]


def test_a_subscriber_added_during_a_publish_starts_with_the_next_item() -> None:
    fan: FanOut[int] = FanOut()
    added: list[object] = []

    def subscribe_another(item: int) -> bool:
        if not added:
            added.append(fan.subscribe(name="late"))
            added.append(fan.subscribe(["k"], name="late-keyed"))
        return True

    fan.subscribe(name="early", accept=subscribe_another)
    fan.publish(1, "k")
    fan.publish(2, "k")
    late = fan.statistics().subscribers[1:]
    assert [(s.name, s.delivered) for s in late] == [("late", 1), ("late-keyed", 1)]


async def test_a_closed_subscription_says_so_on_every_receive() -> None:
    fan: FanOut[int] = FanOut()
    sub = fan.subscribe()
    fan.publish(1)
    sub.close()
    closed = "^subscription closed$"
    with pytest.raises(trio.ClosedResourceError, match=closed):
        sub.receive_nowait()
    with pytest.raises(trio.ClosedResourceError, match=closed):
        await sub.receive()
    with pytest.raises(trio.ClosedResourceError, match=closed):
        await sub.receive_batch()


async def test_a_receiver_waiting_when_its_subscription_closes_is_told_why() -> None:
    fan: FanOut[int] = FanOut()
    sub = fan.subscribe()
    errors: list[BaseException] = []

    async def receiver() -> None:
        try:
            await sub.receive()
        except trio.ClosedResourceError as exc:
            errors.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(receiver)
        await trio.testing.wait_all_tasks_blocked()
        sub.close()
    assert [str(e) for e in errors] == ["subscription closed"]


async def test_receive_batch_takes_at_most_1024_by_default() -> None:
    fan: FanOut[int] = FanOut()
    sub = fan.subscribe(capacity=2000)
    for i in range(1025):
        fan.publish(i)
    assert await sub.receive_batch() == list(range(1024))
    assert await sub.receive_batch() == [1024]
