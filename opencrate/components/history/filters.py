"""Filter evaluation: does a sample pass, given what was last stored through the filter?

Each filter keeps its state per point in memory (as openHAB): the last sample
stored *through* it. The state moves only when a sample passed and was stored,
and is lost on restart or config reload (so the first sample after either
always passes the threshold and time filters).

Semantics (value kinds: ``float``/``int`` are numbers; ``bool`` and ``str`` are not):

* threshold ``> v``: passes when ``|new - last| > v`` (strictly). ``> % v``:
  the difference as a percentage of ``|last|`` (a change away from 0 always
  passes). The first sample, non-numbers and a change of kind always pass.
* time ``T n``: passes when ``ts >= last ts + n``.
* equal ``= a, b`` / not equal ``! a, b``: the value compared with each text:
  numbers numerically (``"1"`` equals ``1.0``), booleans also as ``ON``/``OFF``.
* range ``[] lo hi``: passes when ``lo <= v <= hi``; ``][ lo hi``: when
  ``v <= lo`` or ``v >= hi``. Non-numbers pass.
"""

from __future__ import annotations

from collections.abc import Iterable

from opencrate.components.history.config.model import (
    EqualsFilter,
    Filter,
    RangeFilter,
    ThresholdFilter,
    TimeFilter,
)
from opencrate.model.values import PointValue

__all__ = ["FilterState", "filter_passes", "value_equals_text"]

_TRUE = frozenset({"true", "on", "1", "1.0", "open"})
_FALSE = frozenset({"false", "off", "0", "0.0", "closed"})


def _is_number(value: PointValue) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def value_equals_text(value: PointValue, text: str) -> bool:
    """Whether a point value equals a filter's text (see the module docstring)."""
    if isinstance(value, bool):
        return text.strip().lower() in (_TRUE if value else _FALSE)
    if isinstance(value, int | float):
        try:
            return float(text) == value
        except ValueError:
            return False
    return value == text


def filter_passes(
    spec: Filter, value: PointValue, ts_ms: int, last: tuple[int, PointValue] | None
) -> bool:
    """Evaluate one filter; ``last`` is ``(ts_ms, value)`` last stored through it, or None."""
    if isinstance(spec, ThresholdFilter):
        if last is None or not _is_number(value) or type(last[1]) is not type(value):
            return True
        old = last[1]
        assert isinstance(old, int | float)
        assert isinstance(value, int | float)
        diff = abs(value - old)
        if spec.relative:
            if old == 0:
                return diff > 0
            return diff / abs(old) * 100.0 > spec.value
        return diff > spec.value
    if isinstance(spec, TimeFilter):
        return last is None or ts_ms >= last[0] + spec.interval_ms
    if isinstance(spec, EqualsFilter):
        hit = any(value_equals_text(value, text) for text in spec.values)
        return not hit if spec.negate else hit
    assert isinstance(spec, RangeFilter)
    if not _is_number(value):
        return True
    assert isinstance(value, int | float)
    if spec.inside:
        return spec.lower <= value <= spec.upper
    return value <= spec.lower or value >= spec.upper


class FilterState:
    """Per-filter, per-point memory of the last sample stored through each filter."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], tuple[int, PointValue]] = {}

    def passes(
        self, filters: Iterable[Filter], point_id: str, value: PointValue, ts_ms: int
    ) -> bool:
        """True when every filter passes (logical AND; no filters: True)."""
        return all(
            filter_passes(f, value, ts_ms, self._last.get((f.name, point_id))) for f in filters
        )

    def record(
        self, filters: Iterable[Filter], point_id: str, value: PointValue, ts_ms: int
    ) -> None:
        """Remember that a sample was stored through ``filters``."""
        for f in filters:
            self._last[(f.name, point_id)] = (ts_ms, value)

    def clear(self) -> None:
        self._last.clear()

    def __len__(self) -> int:
        return len(self._last)
