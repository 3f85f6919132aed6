"""The persistence manager: bus updates -> strategies and filters -> each service's ``store``.

One :class:`_ServiceRunner` per configured service, each with its own bus
subscription, so a slow service (a PostgreSQL server far away) never holds up
another; a runner that falls behind by more than its channel gets a ``Lagged``
marker, logs it and counts it (nothing else slows down).

Per runner::

    ValueChanged batch (receive_batch)
      -> per event: plan for the point (cached) -> lines triggered
         (everyUpdate always, everyChange if the value differs from the last one seen)
         -> filters of each line (AND) -> stored if any line passes
      -> deduplicated by (storage name, ts) -> one ``store(samples)`` call

    cron task: sleep until the next fire time of the strategies in use,
      snapshot the PointStore, store each selected point's current value at
      the fire time (filters applied).

    config task: a newer ``Watch[PersistenceConfig]`` version drops the plan
      cache and filter state and re-times the cron task (hot reload).

Stored once per service: whatever number of lines match, a sample is passed
to ``store`` once (openHAB writes it once per matching line).

Filter state is recorded when the decision is made (so two samples of one
point in the same batch see each other). A ``store`` that fails is logged and
counted in :meth:`PersistenceManager.statistics`, and the runner carries on;
services that can survive an outage (PostgreSQL's spool) do not fail here.

Cancellation: cancelling :meth:`PersistenceManager.run` stops every runner;
each first stores what is still queued in its subscription (shielded, at most
``drain_timeout_s``), so a clean shutdown keeps the last readings. A ``store``
already handed to a service completes or rolls back whole.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import trio
from attrs import define, frozen

from opencrate.clock import Clock
from opencrate.components.history.config.model import PersistenceConfig, ServiceConfig
from opencrate.components.history.filters import FilterState
from opencrate.components.history.selectors import Hierarchy
from opencrate.components.history.service import PersistenceService, Sample, SampleRow
from opencrate.components.history.strategies import LineRule, PointPlan, compile_plan, next_fire_ms
from opencrate.components.points.store import PointStore
from opencrate.errors import NotFound
from opencrate.model.values import PointValue
from opencrate.runtime.bus import EventBus
from opencrate.runtime.events import (
    EntityCreated,
    EntityDeleted,
    EntityUpdated,
    Event,
    Lagged,
    ValueChanged,
)
from opencrate.runtime.fanout import Subscription
from opencrate.runtime.progress import CountsProcessed
from opencrate.runtime.watch import Watch

__all__ = ["ManagerStatistics", "PastDecider", "PersistenceManager", "RunnerStatistics"]

log = logging.getLogger(__name__)


@frozen(kw_only=True)
class RunnerStatistics:
    service_id: str
    config_version: int
    updates_seen: int
    stored: int  # samples handed to store()
    store_calls: int
    filtered: int  # updates a line triggered but every triggered line's filters refused
    cron_runs: int
    lagged: int  # updates lost because the runner fell behind the bus
    errors: int
    last_error: str | None
    last_store_ms: int | None
    cached_plans: int


@frozen(kw_only=True)
class ManagerStatistics:
    config_version: int
    runners: tuple[RunnerStatistics, ...]


@define
class _Counters:
    updates_seen: int = 0
    stored: int = 0
    store_calls: int = 0
    filtered: int = 0
    cron_runs: int = 0
    lagged: int = 0
    errors: int = 0
    last_error: str | None = None
    last_store_ms: int | None = None


class _ServiceRunner(CountsProcessed):
    """One service's subscriber: its plans per point, filter memory, cron timer and counters.

    ``processed`` counts the bus events decided and (their samples) handed to the service.
    """

    def __init__(self, manager: PersistenceManager, service: PersistenceService) -> None:
        super().__init__()
        self.manager = manager
        self.service = service
        self.service_id = service.service_id
        self.version, cfg = manager.config.get()
        self.cfg: ServiceConfig | None = cfg.get(self.service_id)
        self.plans: dict[str, PointPlan] = {}
        self._shared_plans: dict[tuple[int, ...], PointPlan] = {}  # see compile_plan
        self.filters = FilterState()
        self.last_values: dict[str, PointValue] = {}
        self.counters = _Counters()
        self._cron_scope: trio.CancelScope | None = None

    # -- decisions ---------------------------------------------------------------
    def plan(self, point_id: str) -> PointPlan | None:
        if self.cfg is None:
            return None
        plan = self.plans.get(point_id)
        if plan is None:
            ancestors = self.manager.hierarchy.ancestors(point_id)
            plan = self.plans[point_id] = compile_plan(
                self.cfg, point_id, ancestors, shared=self._shared_plans
            )
        return plan

    def _through(
        self, lines: tuple[LineRule, ...], point_id: str, value: PointValue, ts_ms: int
    ) -> bool:
        passing = [r for r in lines if self.filters.passes(r.filters, point_id, value, ts_ms)]
        for rule in passing:
            self.filters.record(rule.filters, point_id, value, ts_ms)
        if not passing:
            self.counters.filtered += 1
        return bool(passing)

    def decide(self, batch: list[Event | Lagged], out: list[SampleRow]) -> int:
        """Decide a batch from the bus into ``out``; return how many events it held.

        The loop is :meth:`decide_update` inlined for ``ValueChanged`` (it runs
        for every reading; a call per event was a tenth of the decision). Rows
        are appended, not keyed by (point, ms) as :meth:`decide_update` keys
        them: two readings of a point in the same millisecond are rare, and
        every service stores the later of two rows at one (point, ms).
        """
        last_values = self.last_values
        plans = self.plans
        through = self._through
        append = out.append
        updates = lagged = 0
        for event in batch:
            if type(event) is ValueChanged:  # the hot path: no isinstance chain
                updates += 1
                point_id, value = event.node_id, event.value
                old = last_values.get(point_id)
                last_values[point_id] = value
                plan = plans.get(point_id)
                if plan is None:
                    plan = self.plan(point_id)
                    if plan is None:
                        continue
                if plan.on_change and (old is None or type(old) is not type(value) or old != value):
                    lines, filtered = plan.on_update_or_change, plan.change_filtered
                else:
                    lines, filtered = plan.on_update, plan.update_filtered
                ts_ms = event.ts_ms
                if not lines or (filtered and not through(lines, point_id, value, ts_ms)):
                    continue
                append((plan.storage_id, ts_ms, value))
            elif isinstance(event, Lagged):
                lagged += 1
                self.counters.lagged += event.count
                log.warning(
                    "persistence %s fell behind: %d updates lost", self.service_id, event.count
                )
            elif isinstance(event, EntityCreated | EntityUpdated | EntityDeleted):
                # The hierarchy changed: node* selectors must be evaluated again.
                self.plans.clear()
                plans = self.plans
                if isinstance(event, EntityDeleted):
                    self.last_values.pop(event.entity_id, None)
        self.counters.updates_seen += updates
        return len(batch) - lagged

    def decide_update(
        self, point_id: str, value: PointValue, ts_ms: int, out: dict[tuple[str, int], SampleRow]
    ) -> None:
        """One update: add the sample to ``out`` if a triggered line's filters let it through.

        Lean on purpose: a plan with no filters on the triggered lines costs no
        filter work, and the value is not checked again (PointStore checked
        it; ``store`` checks what it is given). :meth:`decide` inlines the same
        steps; change both together.
        """
        self.counters.updates_seen += 1
        last_values = self.last_values
        old = last_values.get(point_id)
        last_values[point_id] = value
        plan = self.plans.get(point_id)
        if plan is None:
            plan = self.plan(point_id)
            if plan is None:
                return
        if plan.on_change and (old is None or type(old) is not type(value) or old != value):
            lines, filtered = plan.on_update_or_change, plan.change_filtered
        else:
            lines, filtered = plan.on_update, plan.update_filtered
        if not lines or (filtered and not self._through(lines, point_id, value, ts_ms)):
            return
        name = plan.storage_id
        out[(name, ts_ms)] = (name, ts_ms, value)

    async def store(self, samples: Sequence[SampleRow]) -> None:
        """Hand a decided batch to the service; failures are counted, never raised.

        Shielded (for at most ``drain_timeout_s``): once filters recorded a batch
        as stored, a shutdown must not drop it half-way.
        """
        if not samples:
            return
        try:
            with trio.CancelScope(shield=True) as scope:
                scope.deadline = trio.current_time() + self.manager.drain_timeout_s
                await self.service.store(samples)
            if scope.cancelled_caught:
                raise TimeoutError(f"store took longer than {self.manager.drain_timeout_s} s")
        except Exception as exc:  # a failing service must not stop the others
            self.counters.errors += 1
            self.counters.last_error = f"{type(exc).__name__}: {exc}"
            log.error(
                "persistence %s: store of %d samples failed: %s", self.service_id, len(samples), exc
            )
            return
        self.counters.stored += len(samples)
        self.counters.store_calls += 1
        self.counters.last_store_ms = self.manager.clock.now_ms()

    # -- tasks -------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        manager = self.manager
        with manager.bus.subscribe(
            ValueChanged,
            EntityCreated,
            EntityUpdated,
            EntityDeleted,
            name=f"persistence:{self.service_id}",
            capacity=manager.capacity,
        ) as sub:
            # Values already present (restored at level 30) are the baseline for everyChange.
            self.last_values = {
                pid: st.value
                for pid, st in manager.points.snapshot().items()
                if st.value is not None
            }
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._follow_config)
                    nursery.start_soon(self._cron_loop)
                    task_status.started()
                    while True:
                        batch = await sub.receive_batch(manager.batch_max)
                        out: list[SampleRow] = []
                        events = self.decide(batch, out)
                        await self.store(out)
                        self._processed.add(events)
            finally:
                # Shutdown cancels us after the bridges (level 40) stopped: store what
                # is still queued, so the last readings before a clean stop are kept.
                with trio.CancelScope(shield=True):
                    await self._drain(sub)

    async def _drain(self, sub: Subscription[Event]) -> None:
        batch: list[Event | Lagged] = []
        try:
            while True:
                batch.append(sub.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
            pass
        out: list[SampleRow] = []
        self.decide(batch, out)
        await self.store(out)

    async def _follow_config(self) -> None:
        while True:
            self.version, cfg = await self.manager.config.wait_newer(self.version)
            self.cfg = cfg.get(self.service_id)
            self.plans.clear()
            self._shared_plans = {}
            self.filters.clear()
            if self._cron_scope is not None:
                self._cron_scope.cancel()
            log.info("persistence %s: configuration version %d", self.service_id, self.version)

    async def _cron_loop(self) -> None:
        clock = self.manager.clock
        fired: int | None = None
        while True:
            cfg = self.cfg
            schedules = (
                {} if cfg is None else {s.name: s.cron for s in cfg.strategies if cfg.uses(s.name)}
            )
            with trio.CancelScope() as scope:
                self._cron_scope = scope
                if not schedules:
                    await trio.sleep_forever()
                # trio sleeps on its monotonic clock; a wall clock a little behind it
                # (NTP slewing) wakes us before fire_ms by its reckoning, and the same
                # fire time would come round again: never look before the last one.
                now = clock.now_ms() if fired is None else max(clock.now_ms(), fired)
                fires = {name: next_fire_ms(cron, now) for name, cron in schedules.items()}
                fire_ms = min(fires.values())
                await trio.sleep(max(0, fire_ms - now) / 1000)
            self._cron_scope = None
            if scope.cancelled_caught:
                continue  # new configuration: re-time
            due = {name for name, ts in fires.items() if ts == fire_ms}
            fired = fire_ms
            await self.store(self.cron_samples(due, fire_ms))
            self.counters.cron_runs += 1

    def cron_samples(
        self, due: set[str], fire_ms: int, values: Mapping[str, PointValue] | None = None
    ) -> list[Sample]:
        """The value of every point a due strategy selects, stamped ``fire_ms``.

        ``values`` (point id -> value) default to the PointStore's current ones.
        """
        if values is None:
            snapshot = self.manager.points.snapshot().items()
            values = {pid: st.value for pid, st in snapshot if st.value is not None}
        out: dict[str, Sample] = {}
        for point_id, value in values.items():
            plan = self.plan(point_id)
            if plan is None or not plan.on_cron:
                continue
            lines = tuple(r for name in due for r in plan.on_cron.get(name, ()))
            if lines and self._through(lines, point_id, value, fire_ms):
                out[plan.storage_id] = Sample(point_id=plan.storage_id, ts_ms=fire_ms, value=value)
        return list(out.values())

    def statistics(self) -> RunnerStatistics:
        c = self.counters
        return RunnerStatistics(
            service_id=self.service_id,
            config_version=self.version,
            updates_seen=c.updates_seen,
            stored=c.stored,
            store_calls=c.store_calls,
            filtered=c.filtered,
            cron_runs=c.cron_runs,
            lagged=c.lagged,
            errors=c.errors,
            last_error=c.last_error,
            last_store_ms=c.last_store_ms,
            cached_plans=len(self.plans),
        )


class PastDecider:
    """What one service would have stored of updates that happened in the past.

    Made by :meth:`PersistenceManager.past_decider`. Feed it the updates as
    the bus would have carried them, ``(point_id, ts_ms, value)`` in time
    order across all points, in as many :meth:`feed` calls as you like, then
    call :meth:`finish`. They are decided exactly like live ones (selectors,
    ``everyUpdate``/``everyChange``, filters, aliases), and cron strategies
    fire at their times in between, storing the value each point had then.
    It has its own memory (filters, last values): the live runner is not
    touched. Nothing is stored; hand the samples to the service's ``store``.
    """

    def __init__(self, runner: _ServiceRunner) -> None:
        self._runner = runner
        cfg = runner.cfg
        self._crons = (
            {} if cfg is None else {s.name: s.cron for s in cfg.strategies if cfg.uses(s.name)}
        )
        self._next_fire: dict[str, int] | None = None
        self._values: dict[str, PointValue] = {}

    def feed(self, updates: Iterable[tuple[str, int, PointValue]]) -> list[SampleRow]:
        """The samples these updates (and the cron fires before each) would have stored."""
        out: dict[tuple[str, int], SampleRow] = {}
        for point_id, ts_ms, value in updates:
            self._fire_before(ts_ms, out)
            self._values[point_id] = value
            self._runner.decide_update(point_id, value, ts_ms, out)
        return list(out.values())

    def finish(self, until_ms: int) -> list[SampleRow]:
        """The cron samples of the fires after the last update and before ``until_ms``."""
        out: dict[tuple[str, int], SampleRow] = {}
        self._fire_before(until_ms, out)
        return list(out.values())

    def _fire_before(self, ts_ms: int, out: dict[tuple[str, int], SampleRow]) -> None:
        if not self._crons:
            return
        if self._next_fire is None:  # nothing is known before the first update
            self._next_fire = {name: next_fire_ms(c, ts_ms) for name, c in self._crons.items()}
        fires = self._next_fire
        while (fire := min(fires.values())) < ts_ms:
            due = {name for name, at in fires.items() if at == fire}
            for sample in self._runner.cron_samples(due, fire, self._values):
                out[(sample.point_id, fire)] = sample
            for name in due:
                fires[name] = next_fire_ms(self._crons[name], fire)


class PersistenceManager:
    """Feeds every configured service from the bus; see the module docstring.

    ``services`` are the running service instances by id; a configured service
    with no instance is ignored (and reported by the health route), an
    instance with no configuration stores nothing until a configuration
    arrives through ``config``.
    """

    def __init__(
        self,
        *,
        bus: EventBus,
        points: PointStore,
        services: Mapping[str, PersistenceService],
        config: Watch[PersistenceConfig],
        hierarchy: Hierarchy,
        clock: Clock,
        capacity: int = 16_384,
        batch_max: int = 4096,
        drain_timeout_s: float = 5.0,
    ) -> None:
        self.bus = bus
        self.points = points
        self.services = dict(services)
        self.config = config
        self.hierarchy = hierarchy
        self.clock = clock
        self.capacity = capacity
        self.batch_max = batch_max
        self.drain_timeout_s = drain_timeout_s
        self._runners = {sid: _ServiceRunner(self, svc) for sid, svc in self.services.items()}

    async def run(self, *, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
        """Subscribe every runner, report started, then run until cancelled."""
        async with trio.open_nursery() as nursery:
            for runner in self._runners.values():
                await nursery.start(runner.run)
            task_status.started()

    def plan(self, service_id: str, point_id: str) -> PointPlan | None:
        """What ``service_id`` does with ``point_id`` under the current configuration."""
        cfg = self.config.value.get(service_id)
        if cfg is None:
            return None
        return compile_plan(cfg, point_id, self.hierarchy.ancestors(point_id))

    def past_decider(self, service_id: str) -> PastDecider:
        """Decide past updates (a back-fill) for ``service_id`` as its live runner would.

        Raises :class:`NotFound` for an unknown ``service_id``. See :class:`PastDecider`.
        """
        service = self.services.get(service_id)
        if service is None:
            raise NotFound(f"no persistence service {service_id!r}", service=service_id)
        return PastDecider(_ServiceRunner(self, service))

    def storage_id(self, service_id: str, point_id: str) -> str:
        """The name ``point_id`` is stored under in ``service_id`` (its alias, or itself)."""
        plan = self.plan(service_id, point_id)
        return point_id if plan is None else plan.storage_id

    @property
    def processed(self) -> int:
        """Bus events every service's runner has handled (they all take the same events)."""
        return min((r.processed for r in self._runners.values()), default=0)

    async def wait_processed(self, n: int) -> None:
        """Return once every runner has handled at least ``n`` bus events.

        A runner's ``n`` counts once the samples they gave were handed to its
        service's ``store`` (done, or failed and counted as an error).
        """
        for runner in self._runners.values():
            await runner.wait_processed(n)
        await trio.lowlevel.checkpoint()

    def statistics(self) -> ManagerStatistics:
        return ManagerStatistics(
            config_version=self.config.version,
            runners=tuple(r.statistics() for r in self._runners.values()),
        )
