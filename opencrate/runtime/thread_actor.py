"""The thread actor: commands over a bounded channel, run in batches in one worker thread.

::

    caller --(command: fn + reply slot)--> memory channel --> serve() task
                                                      |  trio.to_thread, CapacityLimiter(1)
    caller <------------- reply ----------------------+  run_batch([fn, ...]) --> the resource

The machinery under both the SQLite :class:`~opencrate.runtime.actor.StoreActor`
and the PostgreSQL history service. It knows nothing of databases: a command
is a function of no arguments, and the owner's ``run_batch`` runs a batch of
them in the worker thread, returning one :class:`outcome.Outcome` per command
(the store actor: one transaction, a savepoint each; :func:`run_each`: one
after the other).

* **Draining (group commit).** :meth:`ThreadActor.serve` takes one command,
  then every command already queued, up to ``max_batch``, and hands them to
  ``run_batch`` in one thread hop. ``max_batch=1`` is one hop per command.
* **Every command taken off the channel gets its reply.** The thread hop is
  shielded from cancellation (it is bounded: the batch runs to its end). A
  caller cancelled while it waits just drops its reply.
* **Closed** (you closed it): :meth:`~ThreadActor.aclose` refuses new calls
  with :class:`~opencrate.errors.StoreClosed`, lets ``serve`` run what is
  already queued, and returns once it has. Idempotent.
* **Broken** (it died under you): when ``run_batch`` itself raises, or the
  owner calls :meth:`~ThreadActor.break_` because its task ended with an
  error, the batch in flight, everything queued and every later call get
  :class:`~opencrate.errors.StoreBroken` naming the actor, caused by the error.
* A ``serve`` that is cancelled leaves what is queued on the channel, so it
  can be served again (a restart). An owner that will not restart calls
  :meth:`~ThreadActor.refuse`: what is queued, and every later call, is then
  refused instead of left waiting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import outcome
import trio
from attrs import frozen

from opencrate.errors import StoreBroken, StoreClosed, StoreError

__all__ = ["BatchRunner", "ThreadActor", "ThreadActorStatistics", "run_each"]

T = TypeVar("T")

#: Runs a batch of commands in the worker thread: one outcome per command, in order.
BatchRunner = Callable[[Sequence[Callable[[], Any]]], list[outcome.Outcome[Any]]]


def run_each(batch: Sequence[Callable[[], Any]]) -> list[outcome.Outcome[Any]]:
    """The plain batch runner: each command on its own, its exception its own reply."""
    return [outcome.capture(fn) for fn in batch]


class _Reply(Generic[T]):
    """A one-shot reply slot: the actor fills it, the caller waits for it."""

    __slots__ = ("done", "result")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.result: outcome.Outcome[T] | None = None

    def set(self, result: outcome.Outcome[T]) -> None:
        self.result = result
        self.done.set()

    async def wait(self) -> T:
        await self.done.wait()
        assert self.result is not None
        return self.result.unwrap()


@frozen
class _Command(Generic[T]):
    fn: Callable[[], T]
    reply: _Reply[T]


@frozen(kw_only=True)
class ThreadActorStatistics:
    queue_depth: int
    queue_capacity: int
    commands_served: int
    commands_failed: int  # commands whose reply is an error
    batches: int
    last_batch_size: int
    max_batch_size: int
    closed: bool  # refuses new calls (closed or broken)
    broken: bool


class ThreadActor:
    """A command channel, a reply slot per command and a draining serve loop (see module).

    ``label`` names the actor in its errors (``"store alarms"``); ``detail`` is
    the errors' structured context (``store="alarms"``).
    """

    def __init__(
        self, label: str, *, capacity: int = 1024, max_batch: int = 512, **detail: Any
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch!r}")
        self.label = label
        self.detail = detail
        self.capacity = capacity
        self.max_batch = max_batch
        #: The worker thread's limiter: whatever else the owner runs on its
        #: resource (opening, closing) takes it too, so one thread touches it at a time.
        self.limiter = trio.CapacityLimiter(1)
        self._send, self._receive = trio.open_memory_channel[_Command[Any]](capacity)
        self._closed = False
        self._broken_by: BaseException | None = None
        self._serving = False
        self._drained = trio.Event()
        self._served = self._failed = self._batches = 0
        self._last_batch = self._max_seen_batch = 0

    @property
    def closed(self) -> bool:
        """True once the actor refuses new calls (closed or broken)."""
        return self._closed or self._broken_by is not None

    @property
    def broken_by(self) -> BaseException | None:
        """The error that broke the actor, if one did."""
        return self._broken_by

    # -- calls -------------------------------------------------------------------
    async def call(self, fn: Callable[[], T]) -> T:
        """Queue ``fn`` for the worker thread and wait for its result (or its exception).

        Raises :class:`StoreClosed` once closed, :class:`StoreBroken` once
        broken. Waits while the channel is full (back-pressure). Once queued,
        ``fn`` runs even if this caller is cancelled.
        """
        if self._closed or self._broken_by is not None:
            raise self.refusal()
        reply: _Reply[T] = _Reply()
        try:
            await self._send.send(_Command(fn, reply))
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise self.refusal() from None
        return await reply.wait()

    # -- serving -----------------------------------------------------------------
    async def serve(self, run_batch: BatchRunner = run_each) -> None:
        """Run queued commands in batches until :meth:`aclose`, then return.

        Returns once the channel is closed and everything queued before has
        run. Cancelled, it returns at once, leaving what is queued for the next
        ``serve``. When ``run_batch`` raises, the actor is broken and that
        exception propagates.
        """
        if self._serving:
            raise StoreError(f"{self.label} is already running", **self.detail)
        self._serving = True
        self._drained = trio.Event()
        try:
            async for first in self._receive:
                batch = [first]
                try:
                    while len(batch) < self.max_batch:
                        batch.append(self._receive.receive_nowait())
                except (trio.WouldBlock, trio.EndOfChannel):
                    # EndOfChannel: closed while these were queued; they still run.
                    pass
                await self._run(batch, run_batch)
        except trio.ClosedResourceError:
            pass  # refused (broken or given up) while serving: nothing is left to run
        finally:
            self._serving = False
            self._drained.set()

    async def _run(self, batch: list[_Command[Any]], run_batch: BatchRunner) -> None:
        try:
            with trio.CancelScope(shield=True):
                results = await trio.to_thread.run_sync(
                    run_batch, [command.fn for command in batch], limiter=self.limiter
                )
            if len(results) != len(batch):
                raise RuntimeError(f"{len(results)} results for a batch of {len(batch)}")
        except BaseException as exc:
            self.break_(exc)
            for command in batch:
                command.reply.set(outcome.Error(self.refusal()))
            raise
        self._batches += 1
        self._last_batch = len(batch)
        self._max_seen_batch = max(self._max_seen_batch, len(batch))
        self._served += len(batch)
        for command, result in zip(batch, results, strict=True):
            if isinstance(result, outcome.Error):
                self._failed += 1
            command.reply.set(result)

    # -- closing -----------------------------------------------------------------
    async def aclose(self) -> None:
        """Refuse new calls; if serving, wait until what is queued has run. Idempotent."""
        self._closed = True
        self._send.close()
        if self._serving:
            await self._drained.wait()
        else:
            await trio.lowlevel.checkpoint()

    def break_(self, exc: BaseException) -> None:
        """Mark the actor broken by ``exc`` and refuse everything (the first error wins)."""
        if self._broken_by is None:
            self._broken_by = exc
        self.refuse()

    def refuse(self) -> None:
        """Give up for good: refuse what is queued and every later call.

        With :class:`StoreBroken` when broken, else :class:`StoreClosed`.
        """
        self._closed = True
        self._send.close()
        while True:
            try:
                command = self._receive.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                break
            command.reply.set(outcome.Error(self.refusal()))
        # Closing the receive end also wakes senders blocked on a full channel.
        self._receive.close()

    def refusal(self) -> StoreError:
        if self._broken_by is None:
            return StoreClosed(f"{self.label} is closed", **self.detail)
        cause = self._broken_by
        err = StoreBroken(f"{self.label} is broken: {type(cause).__name__}: {cause}", **self.detail)
        err.__cause__ = cause
        return err

    def statistics(self) -> ThreadActorStatistics:
        return ThreadActorStatistics(
            queue_depth=self._receive.statistics().current_buffer_used,
            queue_capacity=self.capacity,
            commands_served=self._served,
            commands_failed=self._failed,
            batches=self._batches,
            last_batch_size=self._last_batch,
            max_batch_size=self._max_seen_batch,
            closed=self.closed,
            broken=self._broken_by is not None,
        )
