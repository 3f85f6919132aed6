"""Plain-Python reference for the persistence-service contract (for property tests).

Written straight from the contract in ``opencrate/components/history/service.py``, one
sample at a time, with no cleverness: every service's SQL, rollups and
windowing is checked against this.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence

from opencrate.components.history.service import RiemannType
from opencrate.model.values import PointValue

Series = Sequence[tuple[int, PointValue]]  # sorted by ts, unique ts


def is_number(value: PointValue) -> bool:
    return not isinstance(value, str)


def state_at(series: Series, ts: int) -> tuple[int, PointValue] | None:
    found = None
    for t, v in series:
        if t <= ts:
            found = (t, v)
    return found


def in_window(series: Series, begin: int, end: int) -> list[tuple[int, PointValue]]:
    return [(t, v) for t, v in series if begin <= t <= end]


def count(series: Series, begin: int, end: int) -> int:
    return len(in_window(series, begin, end))


def total(series: Series, begin: int, end: int) -> float:
    return sum(float(v) for _, v in in_window(series, begin, end) if is_number(v))


def changes(series: Series, begin: int, end: int) -> int:
    window = in_window(series, begin, end)
    return sum(1 for (_, a), (_, b) in itertools.pairwise(window) if a != b)


def extreme(series: Series, begin: int, end: int, high: bool) -> tuple[int, float] | None:
    """In-window numeric extreme, oldest on ties (no boundary point)."""
    best: tuple[int, float] | None = None
    for t, v in in_window(series, begin, end):
        if not is_number(v):
            continue
        x = float(v)
        if best is None or (x > best[1] if high else x < best[1]):
            best = (t, x)
    return best


def median(series: Series, begin: int, end: int) -> float | None:
    values = [float(v) for _, v in in_window(series, begin, end) if is_number(v)]
    return statistics.median(values) if values else None


def augmented(series: Series, begin: int, end: int) -> list[tuple[int, float]]:
    numeric = [(t, float(v)) for t, v in series if is_number(v)]
    points: list[tuple[int, float]] = []
    before = [p for p in numeric if p[0] <= begin]
    if before:
        points.append((begin, before[-1][1]))
    points += [p for p in numeric if begin < p[0] <= end]
    at_end = [p for p in numeric if p[0] <= end]
    if at_end and at_end[-1][0] < end:
        points.append((end, at_end[-1][1]))
    return points


def weights(points: list[tuple[int, float]], riemann: RiemannType) -> list[float]:
    n = len(points)
    ts = [t for t, _ in points]
    out = []
    for i in range(n):
        prev_t = ts[i - 1] if i > 0 else ts[i]
        next_t = ts[i + 1] if i + 1 < n else ts[i]
        if riemann is RiemannType.LEFT:
            out.append(float(next_t - ts[i]))
        elif riemann is RiemannType.RIGHT:
            out.append(float(ts[i] - prev_t))
        else:
            out.append((next_t - prev_t) / 2)
    return out


def weighted(
    series: Series, begin: int, end: int, riemann: RiemannType
) -> tuple[float, float, float, float] | None:
    """``(duration_ms, integral, mean, variance)`` or ``None``."""
    points = augmented(series, begin, end)
    if not points:
        return None
    duration = points[-1][0] - points[0][0]
    if duration <= 0:
        return None
    w = weights(points, riemann)
    integral = sum(wi * v for wi, (_, v) in zip(w, points, strict=True))
    mean = integral / duration
    variance = sum(wi * (v - mean) ** 2 for wi, (_, v) in zip(w, points, strict=True)) / duration
    return duration, integral, mean, variance


def boundary_values(series: Series, begin: int, end: int) -> list[PointValue]:
    """openHAB's window series: the state at ``begin`` unless a sample lies there, the
    samples, the state at ``end`` unless a sample lies there (any kind of value)."""
    inside = in_window(series, begin, end)
    values = [v for _, v in inside]
    first, last = state_at(series, begin), state_at(series, end)
    if (not inside or inside[0][0] != begin) and first is not None:
        values.insert(0, first[1])
    if (not inside or inside[-1][0] != end) and last is not None:
        values.append(last[1])
    return values


def openhab_variance(series: Series, begin: int, end: int, riemann: RiemannType) -> float | None:
    """Σ (v - time-weighted mean)² / n over the numeric values of :func:`boundary_values`."""
    if begin == end:
        at = state_at(series, begin)
        return 0.0 if at is not None and is_number(at[1]) else None
    stats = weighted(series, begin, end, riemann)
    numbers = [float(v) for v in boundary_values(series, begin, end) if is_number(v)]
    if stats is None or not numbers:
        return None
    return sum((v - stats[2]) ** 2 for v in numbers) / len(numbers)
