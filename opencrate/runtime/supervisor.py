"""The supervision tree: start levels, restart with backoff, orderly shutdown.

::

    root nursery
    ├── level 10  stores       one actor task per store (opened and migrated)
    └── upper levels, nested, each reached only when the one below has started
        ├── 20 model           node model loaded, caches warm
        ├── 30 restore         restoreOnStartup has run
        ├── 40 bridges
        ├── 50 engines
        └── 60 api

A level runs its *steps* in order (one-shot work such as restoring points),
then starts its *services* (long-running tasks) with ``nursery.start``, and
only then is it reached; :attr:`Supervisor.level` says how far start-up got.

Shutdown (:meth:`Supervisor.request_shutdown`, wired to SIGINT/SIGTERM by the
CLI) unwinds from the top: each level is cancelled after every level above it
has finished, the API level first, after a grace period in which it closes its
websockets with 1001 and hypercorn stops accepting. Stores are closed last with
:meth:`~opencrate.runtime.actor.StoreActor.aclose`, which drains their queues
and commits: nothing acknowledged to a caller is lost.

A service that raises is logged and restarted with exponential backoff; it does
not take the process down. Stores are not restarted: a store that fails stops
the process, because everything above depends on it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import trio
from attrs import define, field, frozen

__all__ = ["Level", "Service", "ServiceStatistics", "Supervisor", "SupervisorStatistics"]

log = logging.getLogger(__name__)


class Closable(Protocol):
    """What the supervisor needs of a store: run it, then close it (draining)."""

    async def run(self, *, task_status: trio.TaskStatus[None] = ...) -> None: ...

    async def aclose(self) -> None: ...


@frozen(kw_only=True)
class Service:
    """A long-running task. ``run`` must accept ``task_status`` and call ``started()``."""

    name: str
    run: Callable[..., Awaitable[None]]
    restart: bool = True


@frozen(kw_only=True)
class Level:
    number: int
    name: str
    steps: Sequence[Callable[[], Awaitable[None]]] = ()
    services: Sequence[Service] = ()
    #: Seconds the level's services get to finish by themselves at shutdown.
    grace_s: float = 0.0


@frozen(kw_only=True)
class ServiceStatistics:
    name: str
    level: int
    state: str  # starting, running, backoff, stopped, failed
    restarts: int
    last_error: str | None


@frozen(kw_only=True)
class SupervisorStatistics:
    level: int
    shutting_down: bool
    services: tuple[ServiceStatistics, ...]


@define
class _ServiceState:
    service: Service
    level: int
    state: str = "starting"
    restarts: int = 0
    last_error: str | None = None


class _StartedOnce:
    """A task_status that forwards ``started()`` only the first time (restarts reuse it)."""

    def __init__(self, inner: trio.TaskStatus[None]) -> None:
        self._inner = inner
        self.called = False

    def started(self, value: object = None) -> None:
        if not self.called:
            self.called = True
            self._inner.started()


@define
class Supervisor:
    """Runs stores and levels; see the module docstring."""

    stores: Sequence[Closable]
    levels: Sequence[Level]
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    #: A service that ran this long without failing gets its backoff reset.
    healthy_after_s: float = 60.0
    level: int = 0
    shutdown_requested: trio.Event = field(factory=trio.Event)
    _services: list[_ServiceState] = field(factory=list)
    _level_reached: dict[int, trio.Event] = field(factory=dict)

    def request_shutdown(self) -> None:
        """Begin an orderly shutdown (idempotent)."""
        if not self.shutdown_requested.is_set():
            log.info("shutdown requested at level %d", self.level)
        self.shutdown_requested.set()

    async def wait_level(self, number: int) -> None:
        """Wait until start-up has reached level ``number``."""
        if self.level >= number:
            return
        await self._level_reached.setdefault(number, trio.Event()).wait()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Start everything, run until shutdown is requested, then stop in order."""
        async with trio.open_nursery() as store_nursery:
            try:
                for store in self.stores:
                    await store_nursery.start(store.run)
                self._reach(10)
                await self._run_levels(0, task_status)
            finally:
                with trio.CancelScope(shield=True):
                    for store in reversed(self.stores):
                        await store.aclose()
                self.level = 0
                log.info("all stores closed")

    def statistics(self) -> SupervisorStatistics:
        return SupervisorStatistics(
            level=self.level,
            shutting_down=self.shutdown_requested.is_set(),
            services=tuple(
                ServiceStatistics(
                    name=s.service.name,
                    level=s.level,
                    state=s.state,
                    restarts=s.restarts,
                    last_error=s.last_error,
                )
                for s in self._services
            ),
        )

    # -- internals ---------------------------------------------------------------
    def _reach(self, number: int) -> None:
        self.level = number
        log.info("start level %d reached", number)
        for wanted, event in self._level_reached.items():
            if wanted <= number:
                event.set()

    async def _run_levels(self, index: int, task_status: trio.TaskStatus[None]) -> None:
        if index == len(self.levels):
            task_status.started()
            await self.shutdown_requested.wait()
            return
        level = self.levels[index]
        async with trio.open_nursery() as nursery:
            for step in level.steps:
                await step()
            for service in level.services:
                state = _ServiceState(service=service, level=level.number)
                self._services.append(state)
                await nursery.start(self._supervise, state)
            self._reach(level.number)
            await self._run_levels(index + 1, task_status)
            # Everything above has stopped: give this level its grace, then cancel it.
            await self.shutdown_requested.wait()
            nursery.cancel_scope.deadline = trio.current_time() + level.grace_s
        log.info("level %d (%s) stopped", level.number, level.name)

    async def _supervise(self, state: _ServiceState, *, task_status: trio.TaskStatus[None]) -> None:
        status = _StartedOnce(task_status)
        delay = self.backoff_initial_s
        while True:
            started_at = trio.current_time()
            state.state = "running"
            try:
                await state.service.run(task_status=status)
            except Exception as exc:
                state.last_error = f"{type(exc).__name__}: {exc}"
                if not state.service.restart:
                    state.state = "failed"
                    raise
                log.exception("service %s failed; restarting in %.1fs", state.service.name, delay)
            else:
                state.state = "stopped"
                status.started()
                return
            # A service that failed before it started must not hold start-up hostage.
            status.started()
            if trio.current_time() - started_at >= self.healthy_after_s:
                delay = self.backoff_initial_s
            state.state = "backoff"
            state.restarts += 1
            await trio.sleep(delay)
            delay = min(delay * 2, self.backoff_max_s)
