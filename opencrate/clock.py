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

import re
import time
from datetime import UTC, datetime
from typing import Protocol

import trio

from opencrate.errors import InvalidInput

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


# ASCII only: str.isdigit() also accepts "²" and other digits int() refuses.
_INTEGER = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")

_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def parse_duration_ms(text: str) -> int:
    """Parse ``"90s"``, ``"15m"``, ``"2h"``, ``"7d"``, ``"1w"`` or a bare number of ms."""
    raw = text.strip()
    for unit in ("ms", "s", "m", "h", "d", "w"):
        if raw.endswith(unit) and _DECIMAL.fullmatch(raw[: -len(unit)].strip()):
            return round(float(raw[: -len(unit)]) * _UNITS_MS[unit])
    if _INTEGER.fullmatch(raw) and not raw.startswith("-"):
        return int(raw)
    raise InvalidInput(f"not a duration: {text!r} (use e.g. 90s, 15m, 2h, 7d)", value=text)


def parse_time_ms(text: str, *, now_ms: int | None = None, ahead: bool = False) -> int:
    """Parse a point in time: ISO 8601, epoch milliseconds, or a duration from now.

    A duration (``"2h"``) means that long ago, or that long ahead with
    ``ahead=True`` (expiry times). Naive ISO times are taken as UTC. Raises
    :class:`~opencrate.errors.InvalidInput` naming the text when it is none of these.
    """
    raw = text.strip()
    if _INTEGER.fullmatch(raw):
        return int(raw)
    try:
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        pass
    else:
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return int(dt.timestamp() * 1000)
    direction = "ahead" if ahead else "ago"
    try:
        duration = parse_duration_ms(raw)
    except InvalidInput:
        raise InvalidInput(
            f"not a time: {text!r} (use ISO 8601, epoch ms, or a duration {direction} like 2h)",
            value=text,
        ) from None
    now = SystemClock().now_ms() if now_ms is None else now_ms
    return now + duration if ahead else now - duration
