"""Persistence extensions: openHAB's history queries over any persistence service.

``PersistenceExtensions(service, clock=...)`` offers, per point, every
extension of ``docs/reference/persistence-extensions.md`` in the forms openHAB
has: ``x_since(t)`` = ``[t, now]``, ``x_until(t)`` = ``[now, t]`` (future or
forecast data), ``x_between(b, e)``; ranges are inclusive at both ends. All
the arithmetic happens in the service's query primitives
(:class:`~opencrate.components.history.service.PersistenceService`), which the SQLite
store answers in SQL and from rollups; nothing here loads a window's samples,
except :meth:`~PersistenceExtensions.get_all_states_between`, whose job that is,
and openHAB's unweighted variance, which needs every value (as openHAB does).

As openHAB, a ``Since`` with a future ``t`` and an ``Until`` with a past ``t``
answer ``None`` (:meth:`PersistenceExtensions.refusal` says why). Where we
deliberately differ from openHAB (each is explained in the reference):

* A ``Between`` with ``e < b`` raises :class:`~opencrate.errors.InvalidInput`
  (openHAB answers null or an empty window, depending on the extension).
* Windows are evaluated on persisted history only; the live state of the point
  is used only where openHAB's definition names it (``persist()``,
  ``delta_since``/``delta_until``, ``evolution_rate_since``/``_until``, and
  ``previous_state``/``next_state(skip_equal=True)``), and only when a ``current_state``
  function is given; otherwise the newest persisted state stands in for it.

``variance``/``deviation`` are openHAB's (an unweighted mean of squared
distances from the time-weighted average over the window's samples and its
boundary points); ``weighted=True`` asks for the variance of the step function.
``changed_*`` takes its reference state at ``b`` inclusive, as openHAB.

Errors: :class:`~opencrate.errors.InvalidInput` for bad ranges; anything the
service raises passes through. Cancellation: read-only calls are safe to
cancel; ``persist``/``remove_all_states`` follow the service's ``store``/``remove``.
"""

from __future__ import annotations

import enum
import functools
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Concatenate, ParamSpec, TypeVar

from opencrate.clock import Clock, SystemClock
from opencrate.components.history.service import (
    PersistenceService,
    RiemannType,
    Sample,
    WeightedStats,
    check_range,
)
from opencrate.errors import InvalidInput
from opencrate.model.values import PointValue

__all__ = ["PersistenceExtensions", "TimeSeriesPolicy", "result_unit"]

#: Extensions whose result is a plain count, flag, time or percentage: no unit.
_UNITLESS = frozenset(
    {"changed", "updated", "count", "countStateChanges", "evolutionRate"}
    | {"lastUpdate", "nextUpdate", "lastChange", "nextChange"}
)


def result_unit(extension: str, unit: str | None) -> str | None:
    """The unit of ``extension``'s (openHAB name, no form) result for a point in ``unit``.

    As openHAB: values, averages, sums, extremes, deltas and the deviation carry the
    point's unit; the variance its square (``°C²``); the Riemann sum unit x seconds
    (``kW·s``); counts, flags, times and the evolution rate (a percentage) none.
    """
    if unit is None or extension in _UNITLESS:
        return None
    # A compound unit is bracketed so that the power or product applies to all of it.
    base = f"({unit})" if any(c in unit for c in " /*·^") else unit
    if extension == "variance":
        return f"{base}²"
    if extension == "riemannSum":
        return f"{base}·s"
    return unit


class TimeSeriesPolicy(enum.StrEnum):
    """openHAB's ``TimeSeries.Policy``: how :meth:`PersistenceExtensions.persist_time_series`
    meets the samples already stored in the series' span."""

    ADD = "ADD"
    REPLACE = "REPLACE"

    @classmethod
    def parse(cls, value: object) -> TimeSeriesPolicy:
        """``value`` as a policy (any case); :class:`InvalidInput` naming it if unknown."""
        try:
            return cls(str(value).upper())
        except ValueError:
            raise InvalidInput(
                f"time series policy {value!r} is not one of ADD, REPLACE", field="policy"
            ) from None


CurrentState = Callable[[str], PointValue | None]


P = ParamSpec("P")
R = TypeVar("R")
#: ``x_between(point_id, begin_ms, end_ms, ...)`` and ``x_since`` / ``x_until(point_id, t, ...)``.
Between = Callable[Concatenate["PersistenceExtensions", str, int, int, P], Awaitable[R]]
SinceOrUntil = Callable[Concatenate["PersistenceExtensions", str, int, P], Awaitable[R]]


# window_form runs while the class body below executes, at import. mutmut forks each test
# run from a process that imported this module already, so a mutant of it is never the one
# that built the methods: not mutated (the tests check the forms' names and docs all the same).
def window_form(
    between: Between[P, R],
    window: Callable[[PersistenceExtensions, int], tuple[int, int] | None],
) -> SinceOrUntil[P, R | None]:  # pragma: no mutate block
    """``x_since`` or ``x_until(point_id, t, ...)``: ``x_between`` over ``window(t)``.

    ``window`` is :meth:`PersistenceExtensions._since` (``[t, now]``) or ``_until``
    (``[now, t]``); each answers None for a ``t`` on the wrong side of now, and so
    does the extension then (openHAB's null).
    """
    form = window.__name__.lstrip("_")

    @functools.wraps(between)
    async def within(
        self: PersistenceExtensions, point_id: str, t: int, /, *args: P.args, **kwargs: P.kwargs
    ) -> R | None:
        span = window(self, t)
        if span is None:
            return None
        return await between(self, point_id, *span, *args, **kwargs)

    within.__name__ = within.__qualname__ = between.__name__.replace("_between", f"_{form}")
    within.__doc__ = (
        f"``{between.__name__}`` over ``{'[t, now]' if form == 'since' else '[now, t]'}``."
    )
    return within


def _number(value: PointValue | None) -> float | None:
    if value is None or isinstance(value, str):
        return None
    return float(value)


class PersistenceExtensions:
    """Per-point history queries with openHAB's semantics, over one service.

    ``current_state(point_id)`` (for example ``lambda p: points.get(p).value``)
    gives the live value where openHAB's definition uses it; without it the
    newest persisted state at ``now`` is used.
    """

    def __init__(
        self,
        service: PersistenceService,
        *,
        clock: Clock | None = None,
        current_state: CurrentState | None = None,
    ) -> None:
        self.service = service
        self.clock: Clock = clock or SystemClock()
        self._current = current_state

    # -- ranges ----------------------------------------------------------------------
    def refusal(self, form: str, t: int) -> str | None:
        """Why a ``form`` (``since`` or ``until``) window at ``t`` answers None, or None if it
        does not: a ``since`` in the future or an ``until`` in the past (openHAB's
        "open begin and/or end not allowed")."""
        now = self.clock.now_ms()
        if form == "since" and t > now:
            return f"'since' time {t} is in the future (now is {now}); use 'until'"
        if form == "until" and t < now:
            return f"'until' time {t} is in the past (now is {now}); use 'since'"
        return None

    def _since(self, t: int) -> tuple[int, int] | None:
        now = self.clock.now_ms()
        return None if t > now else (t, now)

    def _until(self, t: int) -> tuple[int, int] | None:
        now = self.clock.now_ms()
        return None if t < now else (now, t)

    async def _current_value(self, point_id: str) -> PointValue | None:
        if self._current is not None:
            value = self._current(point_id)
            if value is not None:
                return value
        sample = await self.service.state_at(point_id, self.clock.now_ms())
        return None if sample is None else sample.value

    # -- single samples --------------------------------------------------------------
    async def persist(
        self, point_id: str, value: PointValue | None = None, *, ts_ms: int | None = None
    ) -> Sample:
        """Store ``value`` at ``ts_ms`` (default: the live state, now); returns the sample.

        Raises :class:`InvalidInput` when no value is given and there is no live state.
        """
        if value is None and self._current is not None:
            value = self._current(point_id)
        if value is None:
            raise InvalidInput(f"point {point_id}: no current state to persist")
        sample = Sample(
            point_id=point_id, ts_ms=self.clock.now_ms() if ts_ms is None else ts_ms, value=value
        )
        await self.service.store([sample])
        return sample

    async def persist_time_series(
        self,
        point_id: str,
        series: Sequence[tuple[int, PointValue]],
        policy: TimeSeriesPolicy = TimeSeriesPolicy.ADD,
    ) -> int:
        """Store ``(ts_ms, value)`` pairs (openHAB's ``persist(TimeSeries)``); returns how
        many. ``ADD`` replaces only samples at the same ms; ``REPLACE`` first removes every
        sample in ``[oldest ts, newest ts]`` of the series. An empty series does nothing.

        Raises :class:`InvalidInput` for an unknown policy; the service's own checks
        (value kinds, timestamps) apply to each sample.
        """
        policy = TimeSeriesPolicy.parse(policy)
        if not series:
            return 0
        samples = [Sample(point_id=point_id, ts_ms=ts, value=value) for ts, value in series]
        if policy is TimeSeriesPolicy.REPLACE:
            stamps = [s.ts_ms for s in samples]
            await self.service.remove(point_id, min(stamps), max(stamps))
        await self.service.store(samples)
        return len(samples)

    async def persisted_state(self, point_id: str, ts_ms: int) -> Sample | None:
        """The newest sample at or before ``ts_ms`` (the state in force then)."""
        return await self.service.state_at(point_id, ts_ms)

    #: openHAB's deprecated name for :meth:`persisted_state` (no log line here).
    historic_state = persisted_state

    async def last_update(self, point_id: str) -> int | None:
        """Timestamp of the newest sample at or before now."""
        sample = await self.service.state_at(point_id, self.clock.now_ms())
        return None if sample is None else sample.ts_ms

    async def next_update(self, point_id: str) -> int | None:
        """Timestamp of the oldest sample at or after now (forecasts)."""
        sample = await self.service.next_sample(point_id, self.clock.now_ms())
        return None if sample is None else sample.ts_ms

    async def last_change(self, point_id: str) -> int | None:
        """When the newest persisted state began: the oldest sample of the newest equal run.

        ``None`` when nothing is persisted, or when every sample equals the newest
        (the change is older than the history), as openHAB.
        """
        now = self.clock.now_ms()
        newest = await self.service.state_at(point_id, now)
        if newest is None:
            return None
        before = await self.service.last_differing(point_id, newest.ts_ms, newest.value)
        if before is None:
            return None
        start = await self.service.next_sample(point_id, before.ts_ms + 1)
        return None if start is None else start.ts_ms

    async def next_change(self, point_id: str) -> int | None:
        """Timestamp of the first future sample that differs from the current state."""
        now = self.clock.now_ms()
        current = await self._current_value(point_id)
        if current is None:
            return None
        sample = await self.service.first_differing(point_id, now + 1, current)
        return None if sample is None else sample.ts_ms

    async def previous_state(self, point_id: str, *, skip_equal: bool = False) -> Sample | None:
        """The newest sample at or before now; with ``skip_equal`` the newest that differs
        from the current state (openHAB's ``previousState(true)``)."""
        now = self.clock.now_ms()
        if not skip_equal:
            return await self.service.state_at(point_id, now)
        current = await self._current_value(point_id)
        if current is None:
            return None
        return await self.service.last_differing(point_id, now, current)

    async def next_state(self, point_id: str, *, skip_equal: bool = False) -> Sample | None:
        """The oldest sample at or after now (a forecast); with ``skip_equal`` the oldest
        that differs from the current state (openHAB's ``nextState(true)``)."""
        now = self.clock.now_ms()
        if not skip_equal:
            return await self.service.next_sample(point_id, now)
        current = await self._current_value(point_id)
        if current is None:
            return await self.service.next_sample(point_id, now)
        return await self.service.first_differing(point_id, now, current)

    # -- windows: booleans and counts ------------------------------------------------
    async def changed_between(self, point_id: str, begin_ms: int, end_ms: int) -> bool:
        """Whether the state changed in ``[b, e]``: an in-window sample differs from the one
        before it, the first one from the state in force at ``b`` (inclusive, as openHAB: a
        sample exactly at ``b`` is its own reference). No reference: window non-empty."""
        check_range(begin_ms, end_ms)
        stats = await self.service.window_stats(point_id, begin_ms, end_ms)
        if stats.changes:
            return True
        if stats.first is None:
            return False
        reference = await self.service.state_at(point_id, begin_ms)
        return reference is None or reference.value != stats.first.value

    async def updated_between(self, point_id: str, begin_ms: int, end_ms: int) -> bool:
        """Whether at least one sample lies in the window."""
        return await self.count_between(point_id, begin_ms, end_ms) > 0

    async def count_between(self, point_id: str, begin_ms: int, end_ms: int) -> int:
        """Number of samples in the window (no boundary points)."""
        check_range(begin_ms, end_ms)
        return (await self.service.window_stats(point_id, begin_ms, end_ms)).count

    async def count_state_changes_between(self, point_id: str, begin_ms: int, end_ms: int) -> int:
        """Adjacent unequal pairs inside the window; the state before it is ignored."""
        check_range(begin_ms, end_ms)
        return (await self.service.window_stats(point_id, begin_ms, end_ms)).changes

    # -- windows: extremes and sums --------------------------------------------------
    async def _extreme(
        self, point_id: str, begin_ms: int, end_ms: int, high: bool
    ) -> Sample | None:
        check_range(begin_ms, end_ms)
        found = await self.service.window_extreme(point_id, begin_ms, end_ms, high=high)
        best, boundary = found.best, found.at_begin
        if boundary is None or boundary.ts_ms == begin_ms:
            return best  # a sample at begin replaces the earlier state from the start
        # The state in force before begin held over the window's start: a candidate,
        # stamped at begin (openHAB's boundary point). It wins ties: it is oldest.
        held = _number(boundary.value)
        if held is None:
            return best
        value = None if best is None else _number(best.value)
        if value is None or (held >= value if high else held <= value):
            return Sample(point_id=point_id, ts_ms=begin_ms, value=boundary.value)
        return best

    async def maximum_between(self, point_id: str, begin_ms: int, end_ms: int) -> Sample | None:
        """The highest numeric state in force during the window (oldest on ties)."""
        return await self._extreme(point_id, begin_ms, end_ms, high=True)

    async def minimum_between(self, point_id: str, begin_ms: int, end_ms: int) -> Sample | None:
        """The lowest numeric state in force during the window (oldest on ties)."""
        return await self._extreme(point_id, begin_ms, end_ms, high=False)

    async def sum_between(self, point_id: str, begin_ms: int, end_ms: int) -> float:
        """Plain sum of the numeric samples in the window; 0.0 when there are none."""
        check_range(begin_ms, end_ms)
        return (await self.service.window_stats(point_id, begin_ms, end_ms)).sum

    async def median_between(self, point_id: str, begin_ms: int, end_ms: int) -> float | None:
        """Plain median of the numeric samples in the window; ``b == e``: the state then."""
        check_range(begin_ms, end_ms)
        if begin_ms == end_ms:
            return await self._number_at(point_id, begin_ms)
        return await self.service.median(point_id, begin_ms, end_ms)

    async def _number_at(self, point_id: str, ts_ms: int) -> float | None:
        sample = await self.service.state_at(point_id, ts_ms)
        return None if sample is None else _number(sample.value)

    # -- windows: time-weighted ------------------------------------------------------
    async def average_between(
        self, point_id: str, begin_ms: int, end_ms: int, riemann: RiemannType = RiemannType.LEFT
    ) -> float | None:
        """Time-weighted mean (see the service contract); ``b == e``: the state then."""
        check_range(begin_ms, end_ms)
        if begin_ms == end_ms:
            return await self._number_at(point_id, begin_ms)
        stats = await self.service.weighted_stats(point_id, begin_ms, end_ms, riemann)
        return None if stats is None else stats.mean

    async def riemann_sum_between(
        self, point_id: str, begin_ms: int, end_ms: int, riemann: RiemannType = RiemannType.LEFT
    ) -> float | None:
        """Integral in value x seconds (W gives Ws, as openHAB); 0.0 over an empty span."""
        stats = await self._spread(point_id, begin_ms, end_ms, riemann)
        return stats if not isinstance(stats, WeightedStats) else stats.integral / 1000.0

    async def variance_between(
        self,
        point_id: str,
        begin_ms: int,
        end_ms: int,
        riemann: RiemannType = RiemannType.LEFT,
        *,
        weighted: bool = False,
    ) -> float | None:
        """openHAB's variance: Σ (v - mean)² / n over the numeric points of the window's
        series (the boundary points included), ``mean`` being the time-weighted average;
        ``b == e``: 0.0 at a numeric state. ``weighted=True``: the variance of the step
        function instead, Σ w (v - mean)² / duration with the integral's weights."""
        stats = await self._spread(point_id, begin_ms, end_ms, riemann)
        if not isinstance(stats, WeightedStats):
            return stats
        if weighted:
            return stats.variance
        # Unlike the other statistics this one needs every value: no query primitive
        # holds a sum of squares over boundary points. openHAB loads the window too.
        values = map(_number, await self._series(point_id, begin_ms, end_ms))
        numbers = [v for v in values if v is not None]
        if not numbers:
            return None
        return math.fsum((v - stats.mean) ** 2 for v in numbers) / len(numbers)

    async def _series(self, point_id: str, begin_ms: int, end_ms: int) -> list[PointValue]:
        """Values of the window's series: the state at ``b`` unless a sample lies there, the
        samples, the state at ``e`` unless a sample lies there (openHAB's boundaries)."""
        inside = await self.service.samples(point_id, begin_ms, end_ms)
        values = [s.value for s in inside]
        if not inside or inside[0].ts_ms != begin_ms:
            first = await self.service.state_at(point_id, begin_ms)
            if first is not None:
                values.insert(0, first.value)
        if not inside or inside[-1].ts_ms != end_ms:
            last = await self.service.state_at(point_id, end_ms)
            if last is not None:
                values.append(last.value)
        return values

    async def _spread(
        self, point_id: str, begin_ms: int, end_ms: int, riemann: RiemannType
    ) -> WeightedStats | float | None:
        """The window's weighted stats; 0.0 for an empty span at a numeric state, else None."""
        check_range(begin_ms, end_ms)
        if begin_ms == end_ms:
            return None if await self._number_at(point_id, begin_ms) is None else 0.0
        return await self.service.weighted_stats(point_id, begin_ms, end_ms, riemann)

    async def deviation_between(
        self,
        point_id: str,
        begin_ms: int,
        end_ms: int,
        riemann: RiemannType = RiemannType.LEFT,
        *,
        weighted: bool = False,
    ) -> float | None:
        """Square root of :meth:`variance_between` (same ``weighted`` option)."""
        variance = await self.variance_between(
            point_id, begin_ms, end_ms, riemann, weighted=weighted
        )
        return None if variance is None or variance < 0 else math.sqrt(variance)

    # -- differences -----------------------------------------------------------------
    async def delta_between(self, point_id: str, begin_ms: int, end_ms: int) -> float | None:
        """``state_at(e) - state_at(b)``; ``None`` if either is missing or not numeric."""
        check_range(begin_ms, end_ms)
        start = await self._number_at(point_id, begin_ms)
        stop = await self._number_at(point_id, end_ms)
        return None if start is None or stop is None else stop - start

    async def delta_since(self, point_id: str, t: int) -> float | None:
        """Current value minus the state at ``t``."""
        if self._since(t) is None:
            return None
        start = await self._number_at(point_id, t)
        stop = _number(await self._current_value(point_id))
        return None if start is None or stop is None else stop - start

    async def delta_until(self, point_id: str, t: int) -> float | None:
        """The state at ``t`` (a forecast) minus the current value."""
        if self._until(t) is None:
            return None
        stop = await self._number_at(point_id, t)
        start = _number(await self._current_value(point_id))
        return None if start is None or stop is None else stop - start

    async def evolution_rate_between(
        self, point_id: str, begin_ms: int, end_ms: int
    ) -> float | None:
        """``(stop - start) / start * 100`` over the states at ``b`` and ``e``; ``None`` if
        start is 0 or missing."""
        check_range(begin_ms, end_ms)
        return _rate(
            await self._number_at(point_id, begin_ms), await self._number_at(point_id, end_ms)
        )

    async def evolution_rate_since(self, point_id: str, t: int) -> float | None:
        if self._since(t) is None:
            return None
        start = await self._number_at(point_id, t)
        return _rate(start, _number(await self._current_value(point_id)))

    async def evolution_rate_until(self, point_id: str, t: int) -> float | None:
        if self._until(t) is None:
            return None
        stop = await self._number_at(point_id, t)
        return _rate(_number(await self._current_value(point_id)), stop)

    # -- bulk ------------------------------------------------------------------------
    async def get_all_states_between(
        self, point_id: str, begin_ms: int, end_ms: int, *, limit: int | None = None
    ) -> list[Sample]:
        """The samples in the window, oldest first (at most ``limit``)."""
        check_range(begin_ms, end_ms)
        return await self.service.samples(point_id, begin_ms, end_ms, limit=limit)

    async def remove_all_states_between(self, point_id: str, begin_ms: int, end_ms: int) -> int:
        """Delete the samples in the window; returns how many."""
        check_range(begin_ms, end_ms)
        return await self.service.remove(point_id, begin_ms, end_ms)

    # -- the Since and Until forms of the windows above ------------------------------
    changed_since = window_form(changed_between, _since)
    changed_until = window_form(changed_between, _until)
    updated_since = window_form(updated_between, _since)
    updated_until = window_form(updated_between, _until)
    count_since = window_form(count_between, _since)
    count_until = window_form(count_between, _until)
    count_state_changes_since = window_form(count_state_changes_between, _since)
    count_state_changes_until = window_form(count_state_changes_between, _until)
    maximum_since = window_form(maximum_between, _since)
    maximum_until = window_form(maximum_between, _until)
    minimum_since = window_form(minimum_between, _since)
    minimum_until = window_form(minimum_between, _until)
    sum_since = window_form(sum_between, _since)
    sum_until = window_form(sum_between, _until)
    median_since = window_form(median_between, _since)
    median_until = window_form(median_between, _until)
    average_since = window_form(average_between, _since)
    average_until = window_form(average_between, _until)
    riemann_sum_since = window_form(riemann_sum_between, _since)
    riemann_sum_until = window_form(riemann_sum_between, _until)
    variance_since = window_form(variance_between, _since)
    variance_until = window_form(variance_between, _until)
    deviation_since = window_form(deviation_between, _since)
    deviation_until = window_form(deviation_between, _until)
    get_all_states_since = window_form(get_all_states_between, _since)
    get_all_states_until = window_form(get_all_states_between, _until)
    remove_all_states_since = window_form(remove_all_states_between, _since)
    remove_all_states_until = window_form(remove_all_states_between, _until)


def _rate(start: float | None, stop: float | None) -> float | None:
    if start is None or stop is None or start == 0:
        return None
    return (stop - start) / start * 100.0
