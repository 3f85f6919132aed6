"""Back-fill: a simulated building starts with a recent past in its history.

With ``[scenario] backfill = "24h"`` (the demo's ``office.toml`` sets it) and
the simulator on, start level 30 first writes the last 24 hours of every
simulated point into history, then restoreOnStartup runs as usual and finds
those values, so trends, rollup tiers and the points themselves have data from
the first instant instead of after an hour.

What is written
    Every point with a ``[signal]`` is sampled at its own ``interval`` or every
    minute, whichever is coarser, on a grid that ends one step before
    ``now_ms`` (the simulator's *t* = 0). The maths are the simulator's
    (:class:`~opencrate.components.scenario.signals.SignalSampler` at negative elapsed
    times), so sines, schedules and ramps join the live signal without a step.
    The past is sampled backwards from *t* = 0: a random walk therefore ends
    near its ``start``, where the live walk begins. Back-fill has its own
    random generator per point (seed, id and ``"backfill"``), so it is
    repeatable and leaves the live values exactly what they would be without
    it. The simulator's change-of-value rule (``deadband``) picks which
    samples would have been published.

Which service stores what
    A :class:`~opencrate.components.history.manager.PastDecider` (from
    :meth:`PersistenceManager.past_decider
    <opencrate.components.history.manager.PersistenceManager.past_decider>`) decides,
    per service, exactly as for live updates: selectors, ``everyChange`` /
    ``everyUpdate``, filters, aliases, and cron strategies fired at their
    times with the values then in force. The samples go through each
    service's ``store()`` in time-ordered batches of ``batch_size``, so the
    SQLite history maintains its rollup windows as for any in-order data.

Restarts
    Only the time after a point's newest stored sample is filled: a second
    start on the same data directory fills the downtime gap (at most the
    configured span) and never rewrites history that was recorded live.

Errors and cancellation: a service whose ``last_states`` or ``store`` fails is
logged, reported in :attr:`BackfillReport.failed_services` and skipped (like
restoreOnStartup, one service down must not stop the start). Cancelling stops
between batches; each batch handed to ``store`` is committed or rolled back
whole, and what is committed is valid history.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Mapping
from operator import itemgetter

import trio
from attrs import frozen

from opencrate.components.history.manager import PastDecider, PersistenceManager
from opencrate.components.history.service import PersistenceService, SampleRow
from opencrate.components.scenario.format import PointSpec, Scenario
from opencrate.components.scenario.signals import SignalSampler
from opencrate.errors import InvalidInput
from opencrate.model.values import PointValue

__all__ = ["MIN_STEP_S", "BackfillReport", "backfill_history", "past_values"]

log = logging.getLogger(__name__)

#: Back-fill samples no point more often than this (seconds): 24 h stays quick.
MIN_STEP_S = 60.0

#: Updates decided between two checkpoints (a few milliseconds of work).
_DECIDE_CHUNK = 2_000

#: One point's past: ``(ts_ms, value)`` in time order.
PastSeries = list[tuple[int, PointValue]]


@frozen(kw_only=True)
class BackfillReport:
    """What a back-fill did."""

    span_s: float
    points: int  # simulated points sampled
    updates: int  # values the simulator would have published
    stored: Mapping[str, int]  # service -> samples handed to store()
    failed_services: tuple[str, ...]
    seconds: float


def backfill_rng(seed: int, node_id: str) -> random.Random:
    """The back-fill's own generator for a point (the live one is not consumed)."""
    return random.Random(f"{seed}:{node_id}:backfill")


def past_values(scenario: Scenario, *, end_ms: int, span_s: float) -> dict[str, PastSeries]:
    """Node id -> the values the simulator would have published in ``(end - span, end)``.

    Pure and deterministic (same scenario, seed and arguments: same result);
    CPU work, so async code calls it through ``trio.to_thread.run_sync``.
    Raises :class:`InvalidInput` for a negative or non-finite ``span_s``.
    """
    if not math.isfinite(span_s) or span_s < 0:
        raise InvalidInput(f"backfill span must be a non-negative number of seconds: {span_s!r}")
    return {
        point.node_id: _point_past(scenario.seed, point, end_ms, span_s)
        for point in scenario.points()
        if point.signal is not None
    }


def _point_past(seed: int, point: PointSpec, end_ms: int, span_s: float) -> PastSeries:
    assert point.signal is not None
    step_s = max(point.signal.interval_s, MIN_STEP_S)
    step_ms = round(step_s * 1000)
    count = int(span_s // step_s)
    sampler = SignalSampler(point.signal, point.kind, backfill_rng(seed, point.node_id))
    # Backwards from t = 0, so a random walk's past ends where the live walk starts.
    backwards = [sampler.sample(-k * step_s) for k in range(1, count + 1)]
    published: PastSeries = []
    last: PointValue | None = None
    for k, value in zip(range(count, 0, -1), reversed(backwards), strict=True):
        if _published(last, value, point.deadband):
            published.append((end_ms - k * step_ms, value))
            last = value
    return published


def _published(old: PointValue | None, new: PointValue, deadband: float | None) -> bool:
    # PointStore.set_if_changed's rule: a change of kind or value, numbers by the deadband.
    if old is None or type(old) is not type(new):
        return True
    if deadband is not None and isinstance(new, int | float) and not isinstance(new, bool):
        assert isinstance(old, int | float)
        return new != old and abs(new - old) >= deadband
    return old != new


async def backfill_history(
    scenario: Scenario,
    *,
    manager: PersistenceManager,
    services: Mapping[str, PersistenceService],
    now_ms: int,
    span_s: float | None = None,
    batch_size: int = 10_000,
) -> BackfillReport:
    """Write the simulated past of ``scenario`` into ``services`` (see the module docstring).

    ``services`` are the running services to fill, by the ids the manager
    knows them under (a service that starts later, such as PostgreSQL inside
    the level-30 persistence service, cannot take writes yet: leave it out).
    ``span_s`` defaults to the scenario's ``backfill``; 0 does nothing.
    Raises :class:`InvalidInput` for a bad ``span_s`` or ``batch_size`` and
    :class:`~opencrate.errors.NotFound` for a service the manager does not
    have; service failures are reported, not raised.
    """
    started = time.perf_counter()
    span = scenario.backfill_s if span_s is None else span_s
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInput(f"batch_size must be a positive int, got {batch_size!r}")
    past = await trio.to_thread.run_sync(lambda: past_values(scenario, end_ms=now_ms, span_s=span))
    timeline = await trio.to_thread.run_sync(_in_time_order, past)
    deciders = {service_id: manager.past_decider(service_id) for service_id in services}
    stored: dict[str, int] = {}
    failed: list[str] = []
    for service_id, service in services.items():
        names = sorted({manager.storage_id(service_id, point_id) for point_id in past})
        try:
            stored[service_id] = await _fill(
                service, deciders[service_id], names, timeline, now_ms, batch_size
            )
        except Exception as exc:  # one service down must not stop the start
            log.error("backfill: service %s failed: %s", service_id, exc)
            failed.append(service_id)
    report = BackfillReport(
        span_s=span,
        points=len(past),
        updates=len(timeline),
        stored=stored,
        failed_services=tuple(failed),
        seconds=time.perf_counter() - started,
    )
    log.info("backfill: %s", report)
    return report


def _in_time_order(past: Mapping[str, PastSeries]) -> list[tuple[str, int, PointValue]]:
    """Every point's updates merged into one stream, as the bus would have carried them."""
    timeline = [(point_id, ts, value) for point_id, series in past.items() for ts, value in series]
    timeline.sort(key=itemgetter(1))  # stable: same-ms updates keep the file's point order
    return timeline


async def _fill(
    service: PersistenceService,
    decider: PastDecider,
    names: list[str],
    timeline: list[tuple[str, int, PointValue]],
    now_ms: int,
    batch_size: int,
) -> int:
    """Decide ``timeline`` for one service; store what is newer than it holds, in batches."""
    newest = {name: s.ts_ms for name, s in (await service.last_states(names)).items()}
    pending: list[SampleRow] = []
    count = 0

    async def keep(samples: list[SampleRow], *, flush: bool) -> None:
        nonlocal pending, count
        # Rows are (point_id, ts_ms, value): keep what is newer than the stored history.
        pending.extend(row for row in samples if row[1] > newest.get(row[0], -1))
        while len(pending) >= batch_size or (flush and pending):
            batch, pending = pending[:batch_size], pending[batch_size:]
            await service.store(batch)
            count += len(batch)

    for first in range(0, len(timeline), _DECIDE_CHUNK):
        await keep(decider.feed(timeline[first : first + _DECIDE_CHUNK]), flush=False)
        await trio.lowlevel.checkpoint()  # deciding is CPU work in the trio thread: share it
    await keep(decider.finish(now_ms), flush=True)
    return count
