"""The running retention of the SQLite history services (a level-50 service of the app).

:class:`HistoryRetention` runs, for each ``sqlite`` service whose configuration
has a ``retention`` table, :func:`~opencrate.components.history.sqlite.retention.run_retention`
with the policy it describes: a purge pass at start and then every
``interval``. It follows the persistence configuration's
:class:`~opencrate.runtime.watch.Watch`: when a service's retention changes
(``PUT /api/persistence/{service}``), its loop is cancelled between batches
(every batch is one whole command) and restarted with the new policy, which
purges at once; a change elsewhere in the configuration leaves it running.
A service whose retention is removed keeps everything from then on.

The configuration was validated when it was read (a bad keep time is a
:class:`~opencrate.errors.ConfigError` before anything runs), so this module
never sees bad values. A store error ends :meth:`HistoryRetention.run` (the
supervisor restarts it with backoff).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import trio
from attrs import define, field, frozen

from opencrate.clock import Clock
from opencrate.components.history.config.model import PersistenceConfig, RetentionConfig
from opencrate.components.history.sqlite.retention import (
    PurgeReport,
    RetentionPolicy,
    run_retention,
)
from opencrate.components.history.sqlite.store import HistoryStore
from opencrate.errors import NotFound
from opencrate.runtime.watch import Watch

__all__ = ["HistoryRetention", "RetentionStatistics", "ServiceRetentionStatistics"]


@frozen(kw_only=True)
class ServiceRetentionStatistics:
    """One history service: whether a policy runs, and what its passes deleted."""

    service_id: str
    active: bool
    #: Purge passes completed since start (all policies of this service).
    passes: int
    samples_deleted: int
    rollup_rows_deleted: int
    #: ``clock.now_ms()`` when the newest pass ended; None before the first.
    last_pass_ms: int | None


@frozen(kw_only=True)
class RetentionStatistics:
    services: tuple[ServiceRetentionStatistics, ...]


@define
class _Counters:
    active: bool = False
    passes: int = 0
    samples_deleted: int = 0
    rollup_rows_deleted: int = 0
    last_pass_ms: int | None = None
    #: Set (and replaced) after each pass, for :meth:`HistoryRetention.wait_passes`.
    passed: trio.Event = field(factory=trio.Event)


class HistoryRetention:
    """Runs each history store's retention policy, following configuration changes."""

    def __init__(
        self,
        *,
        config: Watch[PersistenceConfig],
        stores: Mapping[str, HistoryStore],
        clock: Clock,
    ) -> None:
        self._config = config
        self._stores = dict(stores)
        self._clock = clock
        self._counters = {name: _Counters() for name in self._stores}

    async def run(self, *, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
        """Until cancelled: one follower task per history store; started at once."""
        async with trio.open_nursery() as nursery:
            for name, store in self._stores.items():
                nursery.start_soon(self._follow, name, store)
            task_status.started()

    def _retention_of(self, config: PersistenceConfig, name: str) -> RetentionConfig | None:
        service = config.get(name)
        return None if service is None else service.retention

    async def _follow(self, name: str, store: HistoryStore) -> None:
        version, config = self._config.get()
        while True:
            current = self._retention_of(config, name)
            async with trio.open_nursery() as nursery:
                if current is not None:
                    nursery.start_soon(self._apply, name, store, current)
                while self._retention_of(config, name) == current:
                    version, config = await self._config.wait_newer(version)
                # Stops between batches: each batch is one whole store command.
                nursery.cancel_scope.cancel()

    async def _apply(self, name: str, store: HistoryStore, retention: RetentionConfig) -> None:
        counters = self._counters[name]

        def record(report: PurgeReport) -> None:
            counters.passes += 1
            counters.samples_deleted += report.samples_deleted
            counters.rollup_rows_deleted += report.rollup_rows_deleted
            counters.last_pass_ms = self._clock.now_ms()
            counters.passed.set()
            counters.passed = trio.Event()

        counters.active = True
        try:
            await run_retention(
                store,
                RetentionPolicy.from_config(retention),
                self._clock,
                interval_s=retention.interval_ms / 1000,
                on_report=record,
            )
        finally:
            counters.active = False

    async def wait_passes(self, service_id: str, passes: int) -> None:
        """Return once ``service_id`` has completed at least ``passes`` purge passes.

        Raises :class:`~opencrate.errors.NotFound` when it is not a history service.
        """
        counters = self._counters.get(service_id)
        if counters is None:
            raise NotFound(f"no history service {service_id!r}", service=service_id)
        while counters.passes < passes:
            await counters.passed.wait()

    def statistics(self) -> RetentionStatistics:
        return RetentionStatistics(
            services=tuple(
                ServiceRetentionStatistics(
                    service_id=name,
                    active=c.active,
                    passes=c.passes,
                    samples_deleted=c.samples_deleted,
                    rollup_rows_deleted=c.rollup_rows_deleted,
                    last_pass_ms=c.last_pass_ms,
                )
                for name, c in self._counters.items()
            )
        )
