"""Persistence extensions: openHAB's history queries over any persistence service.

``PersistenceExtensions(service, clock=...)`` offers, per point, every
extension of ``docs/reference/persistence-extensions.md`` in the forms openHAB
has: ``x_since(t)`` = ``[t, now]``, ``x_until(t)`` = ``[now, t]`` (future or
forecast data), ``x_between(b, e)``; ranges are inclusive at both ends. All
the arithmetic happens in the service's query primitives
(:class:`~opencrate.components.history.service.PersistenceService`), which the SQLite
store answers in SQL and from rollups; nothing here loads a window's samples,
except :meth:`~PersistenceExtensions.get_all_states_between`, whose job that is.

Where we deliberately differ from openHAB (each is explained in the reference):

* A ``Since`` with a future ``t``, an ``Until`` with a past ``t`` and a
  ``Between`` with ``e < b`` raise :class:`~opencrate.errors.InvalidInput`
  instead of logging and returning null.
* Windows are evaluated on persisted history only; the live state of the point
  is used only where openHAB's definition names it (``persist()``,
  ``delta_since``/``delta_until``, ``evolution_rate_since``/``_until``, and
  ``previous_state(skip_equal=True)``), and only when a ``current_state``
  function is given; otherwise the newest persisted state stands in for it.
* ``variance``/``deviation`` are time-weighted (consistent with ``average``);
  openHAB mixes a time-weighted mean with an unweighted sum over boundary points.
* ``changed_between`` takes the reference state strictly before ``b``, so a
  change that happens exactly at ``b`` counts.

Errors: :class:`~opencrate.errors.InvalidInput` for bad ranges; anything the
service raises passes through. Cancellation: read-only calls are safe to
cancel; ``persist``/``remove_all_states`` follow the service's ``store``/``remove``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from opencrate.clock import Clock, SystemClock
from opencrate.components.history.service import (
    PersistenceService,
    RiemannType,
    Sample,
    check_range,
)
from opencrate.errors import InvalidInput
from opencrate.model.values import PointValue

__all__ = ["PersistenceExtensions"]

CurrentState = Callable[[str], PointValue | None]


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
    def _since(self, t: int) -> tuple[int, int]:
        now = self.clock.now_ms()
        if t > now:
            raise InvalidInput(f"'since' time {t} is in the future (now is {now}); use 'until'")
        return t, now

    def _until(self, t: int) -> tuple[int, int]:
        now = self.clock.now_ms()
        if t < now:
            raise InvalidInput(f"'until' time {t} is in the past (now is {now}); use 'since'")
        return now, t

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

    # -- windows: booleans and counts ------------------------------------------------
    async def changed_between(self, point_id: str, begin_ms: int, end_ms: int) -> bool:
        """Whether the state changed in ``[b, e]``: an in-window sample differs from the one
        before it (the reference before the window included). No reference: window non-empty."""
        check_range(begin_ms, end_ms)
        stats = await self.service.window_stats(point_id, begin_ms, end_ms)
        if stats.changes:
            return True
        if stats.first is None:
            return False
        reference = await self.service.state_at(point_id, begin_ms - 1)
        return reference is None or reference.value != stats.first.value

    async def changed_since(self, point_id: str, t: int) -> bool:
        return await self.changed_between(point_id, *self._since(t))

    async def changed_until(self, point_id: str, t: int) -> bool:
        return await self.changed_between(point_id, *self._until(t))

    async def updated_between(self, point_id: str, begin_ms: int, end_ms: int) -> bool:
        """Whether at least one sample lies in the window."""
        return await self.count_between(point_id, begin_ms, end_ms) > 0

    async def updated_since(self, point_id: str, t: int) -> bool:
        return await self.updated_between(point_id, *self._since(t))

    async def updated_until(self, point_id: str, t: int) -> bool:
        return await self.updated_between(point_id, *self._until(t))

    async def count_between(self, point_id: str, begin_ms: int, end_ms: int) -> int:
        """Number of samples in the window (no boundary points)."""
        check_range(begin_ms, end_ms)
        return (await self.service.window_stats(point_id, begin_ms, end_ms)).count

    async def count_since(self, point_id: str, t: int) -> int:
        return await self.count_between(point_id, *self._since(t))

    async def count_until(self, point_id: str, t: int) -> int:
        return await self.count_between(point_id, *self._until(t))

    async def count_state_changes_between(self, point_id: str, begin_ms: int, end_ms: int) -> int:
        """Adjacent unequal pairs inside the window; the state before it is ignored."""
        check_range(begin_ms, end_ms)
        return (await self.service.window_stats(point_id, begin_ms, end_ms)).changes

    async def count_state_changes_since(self, point_id: str, t: int) -> int:
        return await self.count_state_changes_between(point_id, *self._since(t))

    async def count_state_changes_until(self, point_id: str, t: int) -> int:
        return await self.count_state_changes_between(point_id, *self._until(t))

    # -- windows: extremes and sums --------------------------------------------------
    async def _extreme(
        self, point_id: str, begin_ms: int, end_ms: int, high: bool
    ) -> Sample | None:
        check_range(begin_ms, end_ms)
        stats = await self.service.window_stats(point_id, begin_ms, end_ms)
        best = stats.max if high else stats.min
        if stats.first is not None and stats.first.ts_ms == begin_ms:
            return best  # a sample at begin replaces the earlier state from the start
        # The state in force before begin held over the window's start: a candidate,
        # stamped at begin (openHAB's boundary point). It wins ties: it is oldest.
        boundary = await self.service.state_at(point_id, begin_ms - 1)
        held = None if boundary is None else _number(boundary.value)
        if boundary is None or held is None:
            return best
        value = None if best is None else _number(best.value)
        if value is None or (held >= value if high else held <= value):
            return Sample(point_id=point_id, ts_ms=begin_ms, value=boundary.value)
        return best

    async def maximum_between(self, point_id: str, begin_ms: int, end_ms: int) -> Sample | None:
        """The highest numeric state in force during the window (oldest on ties)."""
        return await self._extreme(point_id, begin_ms, end_ms, high=True)

    async def maximum_since(self, point_id: str, t: int) -> Sample | None:
        return await self.maximum_between(point_id, *self._since(t))

    async def maximum_until(self, point_id: str, t: int) -> Sample | None:
        return await self.maximum_between(point_id, *self._until(t))

    async def minimum_between(self, point_id: str, begin_ms: int, end_ms: int) -> Sample | None:
        """The lowest numeric state in force during the window (oldest on ties)."""
        return await self._extreme(point_id, begin_ms, end_ms, high=False)

    async def minimum_since(self, point_id: str, t: int) -> Sample | None:
        return await self.minimum_between(point_id, *self._since(t))

    async def minimum_until(self, point_id: str, t: int) -> Sample | None:
        return await self.minimum_between(point_id, *self._until(t))

    async def sum_between(self, point_id: str, begin_ms: int, end_ms: int) -> float:
        """Plain sum of the numeric samples in the window; 0.0 when there are none."""
        check_range(begin_ms, end_ms)
        return (await self.service.window_stats(point_id, begin_ms, end_ms)).sum

    async def sum_since(self, point_id: str, t: int) -> float:
        return await self.sum_between(point_id, *self._since(t))

    async def sum_until(self, point_id: str, t: int) -> float:
        return await self.sum_between(point_id, *self._until(t))

    async def median_between(self, point_id: str, begin_ms: int, end_ms: int) -> float | None:
        """Plain median of the numeric samples in the window; ``b == e``: the state then."""
        check_range(begin_ms, end_ms)
        if begin_ms == end_ms:
            return await self._number_at(point_id, begin_ms)
        return await self.service.median(point_id, begin_ms, end_ms)

    async def median_since(self, point_id: str, t: int) -> float | None:
        return await self.median_between(point_id, *self._since(t))

    async def median_until(self, point_id: str, t: int) -> float | None:
        return await self.median_between(point_id, *self._until(t))

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

    async def average_since(
        self, point_id: str, t: int, riemann: RiemannType = RiemannType.LEFT
    ) -> float | None:
        return await self.average_between(point_id, *self._since(t), riemann)

    async def average_until(
        self, point_id: str, t: int, riemann: RiemannType = RiemannType.LEFT
    ) -> float | None:
        return await self.average_between(point_id, *self._until(t), riemann)

    async def riemann_sum_between(
        self, point_id: str, begin_ms: int, end_ms: int, riemann: RiemannType = RiemannType.LEFT
    ) -> float | None:
        """Integral in value x seconds (W gives Ws, as openHAB); 0.0 over an empty span."""
        check_range(begin_ms, end_ms)
        if begin_ms == end_ms:
            return None if await self._number_at(point_id, begin_ms) is None else 0.0
        stats = await self.service.weighted_stats(point_id, begin_ms, end_ms, riemann)
        return None if stats is None else stats.integral / 1000.0

    async def riemann_sum_since(
        self, point_id: str, t: int, riemann: RiemannType = RiemannType.LEFT
    ) -> float | None:
        return await self.riemann_sum_between(point_id, *self._since(t), riemann)

    async def riemann_sum_until(
        self, point_id: str, t: int, riemann: RiemannType = RiemannType.LEFT
    ) -> float | None:
        return await self.riemann_sum_between(point_id, *self._until(t), riemann)

    async def variance_between(
        self, point_id: str, begin_ms: int, end_ms: int, riemann: RiemannType = RiemannType.LEFT
    ) -> float | None:
        """Time-weighted variance around the time-weighted mean; ``b == e``: 0.0."""
        check_range(begin_ms, end_ms)
        if begin_ms == end_ms:
            return None if await self._number_at(point_id, begin_ms) is None else 0.0
        stats = await self.service.weighted_stats(point_id, begin_ms, end_ms, riemann)
        return None if stats is None else stats.variance

    async def variance_since(
        self, point_id: str, t: int, riemann: RiemannType = RiemannType.LEFT
    ) -> float | None:
        return await self.variance_between(point_id, *self._since(t), riemann)

    async def variance_until(
        self, point_id: str, t: int, riemann: RiemannType = RiemannType.LEFT
    ) -> float | None:
        return await self.variance_between(point_id, *self._until(t), riemann)

    async def deviation_between(
        self, point_id: str, begin_ms: int, end_ms: int, riemann: RiemannType = RiemannType.LEFT
    ) -> float | None:
        """Square root of :meth:`variance_between`."""
        variance = await self.variance_between(point_id, begin_ms, end_ms, riemann)
        return None if variance is None else math.sqrt(variance)

    async def deviation_since(
        self, point_id: str, t: int, riemann: RiemannType = RiemannType.LEFT
    ) -> float | None:
        return await self.deviation_between(point_id, *self._since(t), riemann)

    async def deviation_until(
        self, point_id: str, t: int, riemann: RiemannType = RiemannType.LEFT
    ) -> float | None:
        return await self.deviation_between(point_id, *self._until(t), riemann)

    # -- differences -----------------------------------------------------------------
    async def delta_between(self, point_id: str, begin_ms: int, end_ms: int) -> float | None:
        """``state_at(e) - state_at(b)``; ``None`` if either is missing or not numeric."""
        check_range(begin_ms, end_ms)
        start = await self._number_at(point_id, begin_ms)
        stop = await self._number_at(point_id, end_ms)
        return None if start is None or stop is None else stop - start

    async def delta_since(self, point_id: str, t: int) -> float | None:
        """Current value minus the state at ``t``."""
        self._since(t)
        start = await self._number_at(point_id, t)
        stop = _number(await self._current_value(point_id))
        return None if start is None or stop is None else stop - start

    async def delta_until(self, point_id: str, t: int) -> float | None:
        """The state at ``t`` (a forecast) minus the current value."""
        self._until(t)
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
        self._since(t)
        start = await self._number_at(point_id, t)
        return _rate(start, _number(await self._current_value(point_id)))

    async def evolution_rate_until(self, point_id: str, t: int) -> float | None:
        self._until(t)
        stop = await self._number_at(point_id, t)
        return _rate(_number(await self._current_value(point_id)), stop)

    # -- bulk ------------------------------------------------------------------------
    async def get_all_states_between(
        self, point_id: str, begin_ms: int, end_ms: int, *, limit: int | None = None
    ) -> list[Sample]:
        """The samples in the window, oldest first (at most ``limit``)."""
        check_range(begin_ms, end_ms)
        return await self.service.samples(point_id, begin_ms, end_ms, limit=limit)

    async def get_all_states_since(self, point_id: str, t: int) -> list[Sample]:
        return await self.get_all_states_between(point_id, *self._since(t))

    async def get_all_states_until(self, point_id: str, t: int) -> list[Sample]:
        return await self.get_all_states_between(point_id, *self._until(t))

    async def remove_all_states_between(self, point_id: str, begin_ms: int, end_ms: int) -> int:
        """Delete the samples in the window; returns how many."""
        check_range(begin_ms, end_ms)
        return await self.service.remove(point_id, begin_ms, end_ms)

    async def remove_all_states_since(self, point_id: str, t: int) -> int:
        return await self.remove_all_states_between(point_id, *self._since(t))

    async def remove_all_states_until(self, point_id: str, t: int) -> int:
        return await self.remove_all_states_between(point_id, *self._until(t))


def _rate(start: float | None, stop: float | None) -> float | None:
    if start is None or stop is None or start == 0:
        return None
    return (stop - start) / start * 100.0
