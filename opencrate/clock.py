"""Wall-clock time for timestamps, replaceable in tests.

Timestamps in OpenCrate are integer milliseconds since the Unix epoch (UTC):
exact, cheap to compare and to store, and what the history tables key on.

Intervals and timeouts use trio's clock (``trio.sleep``), so tests run them on
``autojump_clock``. Anything that compares a *timestamp* with an interval that
has passed (override expiry, stale values, event expiration) must take its
"now" from a :class:`Clock` so the two agree: production uses
:class:`SystemClock`; tests use :class:`TrioClock`, which moves with trio's
(possibly virtual) clock.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

import trio

# Re-exported: the parsers live with the other input checks.
from opencrate.validation import parse_duration_ms, parse_time_ms

__all__ = [
    "Clock",
    "SystemClock",
    "TrioClock",
    "ms_to_datetime",
    "ms_to_iso",
    "parse_duration_ms",
    "parse_time_ms",
]


class Clock(Protocol):
    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch."""
        ...


class SystemClock:
    """The operating system's wall clock."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class TrioClock:
    """Wall time anchored once, then advanced by trio's clock.

    Under ``autojump_clock`` a ``trio.sleep(3600)`` returns at once, and this
    clock has moved one hour: expiry logic sees the time it expects. Must be
    created inside a trio run; it may then be read from that run's worker
    threads too (store actors stamp commits in their thread), because it keeps
    the run's clock object instead of asking the thread-local run context.
    """

    def __init__(self, start_ms: int | None = None) -> None:
        self._start_ms = SystemClock().now_ms() if start_ms is None else start_ms
        self._trio_clock = trio.lowlevel.current_clock()
        self._trio_start = self._trio_clock.current_time()

    def now_ms(self) -> int:
        elapsed = self._trio_clock.current_time() - self._trio_start
        return self._start_ms + round(elapsed * 1000)


def ms_to_datetime(ts_ms: int) -> datetime:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC)


def ms_to_iso(ts_ms: int) -> str:
    """ISO 8601 in UTC with milliseconds, e.g. ``2026-11-23T03:10:24.123Z``."""
    return ms_to_datetime(ts_ms).isoformat(timespec="milliseconds").replace("+00:00", "Z")
