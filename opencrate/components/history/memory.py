"""The ``memory`` persistence service: bounded per point, volatile, for forecasts and tests.

Each point keeps at most ``max_entries`` samples (default 512, as openHAB's
inmemory service); storing one more drops the *oldest*. Samples may arrive in
any order (forecasts are in the future, imports in the past); they are kept
sorted by time and a sample at an existing timestamp replaces it.

Everything is computed in Python over the sorted lists, following the
contract in :mod:`opencrate.components.history.service` (the SQLite and PostgreSQL
services compute the same answers in SQL). Queries are answered at ``RAW``
resolution whatever was asked (the page says so). Methods never block; each
is a trio checkpoint, so cancellation behaves as with the other services.
"""

from __future__ import annotations

import bisect
import statistics as pystats
from collections.abc import Iterable, Mapping, Sequence

import trio
from attrs import frozen

from opencrate.components.history.service import (
    HistoryPage,
    Resolution,
    RiemannType,
    Sample,
    SampleRow,
    WeightedStats,
    WindowExtreme,
    WindowStats,
    check_range,
    check_samples,
)
from opencrate.errors import InvalidInput
from opencrate.model.values import PointValue

__all__ = ["MemoryService", "MemoryStatistics", "weighted_series"]


@frozen(kw_only=True)
class MemoryStatistics:
    service_id: str
    points: int
    samples: int
    max_entries: int
    stored: int
    dropped: int  # oldest samples pushed out by the per-point bound


def _numeric(value: PointValue) -> float | None:
    if isinstance(value, str):
        return None
    return float(value)


def weighted_series(
    points: Sequence[tuple[int, float]], riemann: RiemannType
) -> WeightedStats | None:
    """Integral, mean and variance of an augmented numeric series (see the service contract).

    Each point gets a weight (ms) from its neighbours: LEFT its following
    segment, RIGHT its preceding one, MIDPOINT and TRAPEZOIDAL half of each.
    ``None`` when the series spans no time.
    """
    n = len(points)
    if n == 0:
        return None
    weights: list[float] = []
    for i, (ts, _v) in enumerate(points):
        prev_ts = points[i - 1][0] if i > 0 else ts
        next_ts = points[i + 1][0] if i + 1 < n else ts
        if riemann is RiemannType.LEFT:
            weights.append(float(next_ts - ts))
        elif riemann is RiemannType.RIGHT:
            weights.append(float(ts - prev_ts))
        else:
            weights.append((next_ts - prev_ts) / 2.0)
    duration = sum(weights)
    if duration <= 0:
        return None
    integral = sum(w * v for w, (_t, v) in zip(weights, points, strict=True))
    mean = integral / duration
    variance = sum(w * (v - mean) ** 2 for w, (_t, v) in zip(weights, points, strict=True))
    return WeightedStats(
        duration_ms=int(points[-1][0] - points[0][0]),
        integral=integral,
        mean=mean,
        variance=variance / duration,
    )


class _Series:
    """One point's samples, sorted by time (parallel lists for bisect)."""

    __slots__ = ("ts", "values")

    def __init__(self) -> None:
        self.ts: list[int] = []
        self.values: list[PointValue] = []

    def put(self, ts: int, value: PointValue) -> bool:
        """Insert or replace; True when a new entry was added."""
        i = bisect.bisect_left(self.ts, ts)
        if i < len(self.ts) and self.ts[i] == ts:
            self.values[i] = value
            return False
        self.ts.insert(i, ts)
        self.values.insert(i, value)
        return True

    def span(self, begin: int, end: int) -> range:
        return range(bisect.bisect_left(self.ts, begin), bisect.bisect_right(self.ts, end))

    def sample(self, point_id: str, i: int) -> Sample:
        return Sample(point_id=point_id, ts_ms=self.ts[i], value=self.values[i])


class MemoryService:
    """A :class:`.PersistenceService` in memory (see module)."""

    def __init__(self, service_id: str = "memory", *, max_entries: int = 512) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise InvalidInput(f"max_entries must be a positive int, got {max_entries!r}")
        self.service_id = service_id
        self.max_entries = max_entries
        self._series: dict[str, _Series] = {}
        self._stored = self._dropped = 0

    # -- writes ------------------------------------------------------------------
    async def store(self, samples: Sequence[SampleRow]) -> None:
        """Upsert ``samples``; all or nothing (InvalidInput before anything changes)."""
        await trio.lowlevel.checkpoint()
        check_samples(samples)
        for point_id, ts_ms, value in samples:
            series = self._series.setdefault(point_id, _Series())
            series.put(ts_ms, value)
            if len(series.ts) > self.max_entries:
                del series.ts[0], series.values[0]
                self._dropped += 1
        self._stored += len(samples)

    async def remove(self, point_id: str, begin_ms: int, end_ms: int) -> int:
        await trio.lowlevel.checkpoint()
        check_range(begin_ms, end_ms)
        series = self._series.get(point_id)
        if series is None:
            return 0
        span = series.span(begin_ms, end_ms)
        del series.ts[span.start : span.stop], series.values[span.start : span.stop]
        if not series.ts:
            del self._series[point_id]  # free the point once it is empty
        return len(span)

    # -- queries -----------------------------------------------------------------
    async def query(
        self,
        point_id: str,
        begin_ms: int,
        end_ms: int,
        *,
        resolution: Resolution = Resolution.RAW,
        descending: bool = False,
        limit: int = 10_000,
    ) -> HistoryPage:
        """Raw samples in the range, at most ``limit``; ``next_ms`` continues the page."""
        await trio.lowlevel.checkpoint()
        check_range(begin_ms, end_ms)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidInput(f"limit must be a positive int, got {limit!r}")
        series = self._series.get(point_id)
        indexes = list(series.span(begin_ms, end_ms)) if series else []
        if descending:
            indexes.reverse()
        page, rest = indexes[:limit], indexes[limit:]
        assert series is not None or not page
        samples = tuple(series.sample(point_id, i) for i in page) if series else ()
        next_ms = None
        if rest and series is not None:
            next_ms = series.ts[rest[0]]
        return HistoryPage(
            point_id=point_id, resolution=Resolution.RAW, samples=samples, next_ms=next_ms
        )

    async def last_states(self, point_ids: Iterable[str] | None = None) -> Mapping[str, Sample]:
        await trio.lowlevel.checkpoint()
        wanted = self._series.keys() if point_ids is None else point_ids
        found: dict[str, Sample] = {}
        for point_id in wanted:
            series = self._series.get(point_id)
            if series is not None:
                found[point_id] = series.sample(point_id, len(series.ts) - 1)
        return found

    async def state_at(self, point_id: str, ts_ms: int) -> Sample | None:
        await trio.lowlevel.checkpoint()
        series = self._series.get(point_id)
        if series is None:
            return None
        i = bisect.bisect_right(series.ts, ts_ms) - 1
        return series.sample(point_id, i) if i >= 0 else None

    async def next_sample(self, point_id: str, ts_ms: int) -> Sample | None:
        await trio.lowlevel.checkpoint()
        series = self._series.get(point_id)
        if series is None:
            return None
        i = bisect.bisect_left(series.ts, ts_ms)
        return series.sample(point_id, i) if i < len(series.ts) else None

    async def last_differing(self, point_id: str, ts_ms: int, value: PointValue) -> Sample | None:
        await trio.lowlevel.checkpoint()
        series = self._series.get(point_id)
        if series is None:
            return None
        for i in range(bisect.bisect_right(series.ts, ts_ms) - 1, -1, -1):
            if series.values[i] != value:
                return series.sample(point_id, i)
        return None

    async def first_differing(self, point_id: str, ts_ms: int, value: PointValue) -> Sample | None:
        await trio.lowlevel.checkpoint()
        series = self._series.get(point_id)
        if series is None:
            return None
        for i in range(bisect.bisect_left(series.ts, ts_ms), len(series.ts)):
            if series.values[i] != value:
                return series.sample(point_id, i)
        return None

    async def window_stats(self, point_id: str, begin_ms: int, end_ms: int) -> WindowStats:
        await trio.lowlevel.checkpoint()
        check_range(begin_ms, end_ms)
        series = self._series.get(point_id)
        span = series.span(begin_ms, end_ms) if series else range(0)
        total, numeric_count, changes = 0.0, 0, 0
        low: int | None = None
        high: int | None = None
        for i in span:
            assert series is not None
            number = _numeric(series.values[i])
            if i > span.start and series.values[i] != series.values[i - 1]:
                changes += 1
            if number is None:
                continue
            numeric_count += 1
            total += number
            if low is None or number < float(series.values[low]):
                low = i
            if high is None or number > float(series.values[high]):
                high = i

        def at(i: int | None) -> Sample | None:
            return None if i is None or series is None else series.sample(point_id, i)

        return WindowStats(
            count=len(span),
            numeric_count=numeric_count,
            sum=total,
            min=at(low),
            max=at(high),
            first=at(span.start) if span else None,
            last=at(span.stop - 1) if span else None,
            changes=changes,
        )

    async def window_extreme(
        self, point_id: str, begin_ms: int, end_ms: int, *, high: bool
    ) -> WindowExtreme:
        stats = await self.window_stats(point_id, begin_ms, end_ms)
        at_begin = await self.state_at(point_id, begin_ms)
        return WindowExtreme(best=stats.max if high else stats.min, at_begin=at_begin)

    async def weighted_stats(
        self,
        point_id: str,
        begin_ms: int,
        end_ms: int,
        riemann: RiemannType = RiemannType.LEFT,
    ) -> WeightedStats | None:
        await trio.lowlevel.checkpoint()
        check_range(begin_ms, end_ms)
        series = self._series.get(point_id)
        if series is None:
            return None
        numeric = [
            (t, n)
            for t, v in zip(series.ts, series.values, strict=True)
            if (n := _numeric(v)) is not None
        ]
        times = [t for t, _ in numeric]
        points: list[tuple[int, float]] = []
        before = bisect.bisect_right(times, begin_ms) - 1
        if before >= 0:
            points.append((begin_ms, numeric[before][1]))
        points.extend(
            numeric[bisect.bisect_right(times, begin_ms) : bisect.bisect_right(times, end_ms)]
        )
        at_end = bisect.bisect_right(times, end_ms) - 1
        if at_end >= 0 and points and points[-1][0] < end_ms:
            points.append((end_ms, numeric[at_end][1]))
        return weighted_series(points, RiemannType(riemann))

    async def median(self, point_id: str, begin_ms: int, end_ms: int) -> float | None:
        await trio.lowlevel.checkpoint()
        check_range(begin_ms, end_ms)
        series = self._series.get(point_id)
        if series is None:
            return None
        numbers = [
            n
            for i in series.span(begin_ms, end_ms)
            if (n := _numeric(series.values[i])) is not None
        ]
        return float(pystats.median(numbers)) if numbers else None

    async def samples(
        self, point_id: str, begin_ms: int, end_ms: int, *, limit: int | None = None
    ) -> list[Sample]:
        await trio.lowlevel.checkpoint()
        check_range(begin_ms, end_ms)
        series = self._series.get(point_id)
        if series is None:
            return []
        span = series.span(begin_ms, end_ms)
        if limit is not None:
            span = span[:limit]
        return [series.sample(point_id, i) for i in span]

    def statistics(self) -> MemoryStatistics:
        return MemoryStatistics(
            service_id=self.service_id,
            points=len(self._series),
            samples=sum(len(s.ts) for s in self._series.values()),
            max_entries=self.max_entries,
            stored=self._stored,
            dropped=self._dropped,
        )
