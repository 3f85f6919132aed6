"""When each simulated point is next due: the scenario's signals, without a clock or an event loop.

:class:`SignalSchedule` holds one :class:`~.signals.SignalSampler` per point (seeded with
:func:`~.signals.point_rng`, so the same scenario gives the same values wherever it is
sampled) and a heap of due times in seconds since the start. A driver on any loop (trio,
asyncio) asks :meth:`~SignalSchedule.next_due_s`, sleeps until then and takes
:meth:`~SignalSchedule.due`; points keep their own ``interval`` and a driver that fell behind
skips the missed samples but keeps each point's phase.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable

from opencrate.components.scenario.format import PointSpec
from opencrate.components.scenario.signals import SignalSampler, point_rng
from opencrate.model.values import PointValue

__all__ = ["SignalSchedule"]


class SignalSchedule:
    """The signals of ``points`` (those without a ``signal`` are left out), due by elapsed time."""

    def __init__(self, points: Iterable[PointSpec], *, seed: int) -> None:
        self._samplers: dict[str, SignalSampler] = {}
        self._due: list[tuple[float, int, str]] = []
        for order, point in enumerate(points):
            if point.signal is None:
                continue
            rng = point_rng(seed, point.node_id)
            self._samplers[point.node_id] = SignalSampler(point.signal, point.kind, rng)
            self._due.append((point.signal.interval_s, order, point.node_id))
        heapq.heapify(self._due)

    def __len__(self) -> int:
        return len(self._samplers)

    def first(self) -> list[tuple[str, PointValue]]:
        """Every point's sample at 0 s (call once, before the first :meth:`due`)."""
        return [(node_id, sampler.sample(0.0)) for node_id, sampler in self._samplers.items()]

    def next_due_s(self) -> float | None:
        """Seconds since the start when the next sample is due; ``None`` without signals."""
        return self._due[0][0] if self._due else None

    def due(self, elapsed_s: float) -> list[tuple[str, PointValue]]:
        """Sample every point due by ``elapsed_s``, in due order, and schedule its next sample."""
        samples: list[tuple[str, PointValue]] = []
        while self._due and self._due[0][0] <= elapsed_s:
            when, order, node_id = heapq.heappop(self._due)
            sampler = self._samplers[node_id]
            samples.append((node_id, sampler.sample(when)))
            interval = sampler.spec.interval_s
            # Fell behind (a stalled loop)? Skip the missed samples, keep the phase.
            missed = max(1, math.ceil((elapsed_s - when) / interval))
            heapq.heappush(self._due, (when + missed * interval, order, node_id))
        return samples
