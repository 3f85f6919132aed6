"""The simulator: drives every point of a scenario that has a ``[signal]``.

One task for all points. A heap orders the points by when they are next due;
the task sleeps until the earliest one, samples every point that is due and
writes it with :meth:`.PointStore.set_if_changed`
(change of value, honouring the point's ``deadband``), like a real poller. Each
point keeps its own ``interval`` on trio's clock, so tests run hours of
simulation in milliseconds under ``autojump_clock``.

Before ``task_status.started()`` every simulated point has its first value:
the engines started at level 50 never see a simulated point without one.

Overridden points need no special care: the PointStore keeps what the
simulator writes in the source layer and shows the override.
"""

from __future__ import annotations

import heapq
import math
from pathlib import Path

import trio
from attrs import frozen

from opencrate.clock import Clock
from opencrate.components.points.store import PointStore
from opencrate.components.scenario.format import Scenario
from opencrate.components.scenario.parse import load_scenario
from opencrate.components.scenario.signals import SignalSampler, point_rng

__all__ = ["Simulator", "SimulatorStatistics"]


@frozen(kw_only=True)
class SimulatorStatistics:
    points: int  # simulated points
    samples: int  # values computed and written
    published: int  # writes that changed the visible value (set_if_changed returned True)
    running: bool


class Simulator:
    """Drives the signals of a scenario into a :class:`PointStore`.

    Build it with :meth:`from_scenario` (a scenario already read) or
    :meth:`from_scenario_file` (read in a worker thread when :meth:`run`
    starts), then run it as a supervised service.
    """

    def __init__(
        self,
        *,
        points: PointStore,
        clock: Clock,
        scenario: Scenario | None = None,
        path: Path | None = None,
        bridged: frozenset[str] = frozenset(),
    ) -> None:
        if (scenario is None) == (path is None):
            raise TypeError("give exactly one of scenario and path")
        self._points = points
        self._clock = clock
        self._scenario = scenario
        self._path = path
        # Protocols whose points come in through a bridge from a simulated device
        # (Modbus in the demo): not driven here, only their deadband is set.
        self._bridged = bridged
        self._samplers: dict[str, SignalSampler] = {}
        self._samples = self._published = 0
        self._running = False

    @classmethod
    def from_scenario(cls, scenario: Scenario, *, points: PointStore, clock: Clock) -> Simulator:
        return cls(points=points, clock=clock, scenario=scenario)

    @classmethod
    def from_scenario_file(
        cls,
        path: Path,
        *,
        points: PointStore,
        clock: Clock,
        bridged: frozenset[str] = frozenset(),
    ) -> Simulator:
        """A simulator for the scenario at ``path``; the file is read when :meth:`run` starts.

        Points bound to a protocol in ``bridged`` are left to that bridge (their
        simulated device serves their signal); only their deadband is set here.
        """
        return cls(points=points, clock=clock, path=path, bridged=bridged)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Write the first value of every simulated point, report started, then run forever.

        Raises :class:`~opencrate.errors.ConfigError` (before ``started``) when
        the scenario file cannot be read. Cancel to stop; a restart begins the
        signals again from their start (random walks included), with fresh
        random generators seeded as before.
        """
        scenario = self._scenario
        if scenario is None:
            assert self._path is not None
            scenario = await trio.to_thread.run_sync(load_scenario, self._path)
        self._samplers = {}
        due: list[tuple[float, int, str]] = []
        start = trio.current_time()
        for order, point in enumerate(scenario.points()):
            if point.signal is None:
                continue
            protocol = (point.binding or {}).get("protocol")
            if protocol in self._bridged:
                if point.deadband is not None:
                    self._points.set_deadband(point.node_id, point.deadband)
                continue
            rng = point_rng(scenario.seed, point.node_id)
            self._samplers[point.node_id] = SignalSampler(point.signal, point.kind, rng)
            if point.deadband is not None:
                self._points.set_deadband(point.node_id, point.deadband)
            self._write(point.node_id, 0.0)
            due.append((start + point.signal.interval_s, order, point.node_id))
        heapq.heapify(due)
        self._running = True
        task_status.started()
        try:
            await self._loop(due, start)
        finally:
            self._running = False

    async def _loop(self, due: list[tuple[float, int, str]], start: float) -> None:
        if not due:
            await trio.sleep_forever()
        while True:
            await trio.sleep_until(due[0][0])
            now = trio.current_time()
            while due[0][0] <= now:
                when, order, node_id = heapq.heappop(due)
                self._write(node_id, when - start)
                interval = self._samplers[node_id].spec.interval_s
                # Fell behind (a stalled loop)? Skip the missed samples, keep the phase.
                missed = max(1, math.ceil((now - when) / interval))
                heapq.heappush(due, (when + missed * interval, order, node_id))

    def _write(self, node_id: str, elapsed_s: float) -> None:
        value = self._samplers[node_id].sample(elapsed_s)
        self._samples += 1
        if self._points.set_if_changed(node_id, value, ts_ms=self._clock.now_ms()):
            self._published += 1

    def statistics(self) -> SimulatorStatistics:
        return SimulatorStatistics(
            points=len(self._samplers),
            samples=self._samples,
            published=self._published,
            running=self._running,
        )
