"""A count of work done and a way to wait for it.

Engines and bus subscribers count what they have processed in a
:class:`Progress`, and expose it as ``processed`` plus
``async def wait_processed(n)``. A test (or anything that must know that an
event has been handled) then waits on that fact instead of sleeping and
polling: the store actors do their work in threads, which an
``autojump_clock`` does not wait for, so time is no measure of progress.
"""

from __future__ import annotations

import trio

__all__ = ["CountsProcessed", "Progress"]


class Progress:
    """A monotonic counter whose waiters wake when it reaches their mark."""

    __slots__ = ("_changed", "_count")

    def __init__(self) -> None:
        self._count = 0
        self._changed = trio.Event()

    @property
    def count(self) -> int:
        return self._count

    def add(self, n: int = 1) -> None:
        """Count ``n`` more (nothing for ``n <= 0``) and wake the waiters. Never blocks."""
        if n <= 0:
            return
        self._count += n
        self._changed.set()
        self._changed = trio.Event()

    async def wait(self, count: int) -> None:
        """Return once at least ``count`` have been counted. Always checkpoints.

        Cancellation: just stops waiting; bound it with ``trio.fail_after``.
        """
        if self._count >= count:
            await trio.lowlevel.checkpoint()
            return
        while self._count < count:
            await self._changed.wait()


class CountsProcessed:
    """Base of an engine that counts what it processed: ``processed``, ``wait_processed``.

    The engine calls ``super().__init__()`` and ``self._processed.add(n)`` once
    ``n`` more items are fully handled (their store writes done); what an item
    is (a bus event, a purge run) is stated by each engine.
    """

    def __init__(self) -> None:
        self._processed = Progress()

    @property
    def processed(self) -> int:
        """How many items this engine has fully handled since it was made."""
        return self._processed.count

    async def wait_processed(self, n: int) -> None:
        """Return once :attr:`processed` is at least ``n``; see :meth:`Progress.wait`."""
        await self._processed.wait(n)
