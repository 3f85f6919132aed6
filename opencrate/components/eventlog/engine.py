"""The event log's two services: the bus subscriber and the purge job.

:class:`EventLogRecorder` subscribes to the event types whose rule persists
them (:mod:`opencrate.components.eventlog.rules`) plus ``EntityDeleted``, drains
the bus in batches (up to :data:`BATCH`) and records each batch with one store
command. Its queue holds at least :data:`MIN_CAPACITY` events, whatever the bus
capacity: a building whose devices are unreachable at start publishes one
``StatusChanged`` (unknown -> down) per point within seconds, a burst the size of the
building (50,000 points: 50,000 events, measured to overflow a 16,384 queue), which
the recorder then writes at its own pace (a few thousand a second).

A point's first good reading, ``StatusChanged`` from unknown to ok, is not recorded
(``statistics().first_readings`` counts it): every start publishes one per point,
and an operator reading the log wants what went wrong, not 50,000 lines saying the
building answered. Unknown to anything else (down, fault, stale, ...) is recorded.
(Skipping them also kept the start of a 50,000-point building from creating every
device's change table at once, a quarter of the CPU of the first minute.)

The queue is a deque bound, not a preallocated buffer: it costs memory only while a
burst waits. An
``EntityDeleted`` first deletes the node's events from every table (and drops
its change table when it is a device), then is itself recorded if its rule
says so, so the log keeps a trace that the node went away. Events are handled
in the order they were published. It runs at start level 30, before bridges
(40) start publishing device events.

:class:`EventPurger` deletes expired events every ``purge_interval`` in
commands of at most ``purge_batch`` rows, sleeping ``purge_pause`` between
them so other writers' commands reach the store actor in between: a writer
waits for at most one bounded batch, never for the whole purge. It runs at
start level 50 with the other engines.

Errors: an event the store refuses (a context that is not a valid id) is
logged and counted, the rest of the batch is kept. A store failure
(StoreError) ends ``run``; the supervisor restarts it with backoff and the
events of that batch are lost (the log says so). Cancellation stops either
service between store commands; a command already sent completes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import trio
from attrs import frozen

from opencrate.clock import Clock, SystemClock
from opencrate.components.eventlog.records import NewEvent
from opencrate.components.eventlog.rules import EventLogSettings, context_of, data_of, level_of
from opencrate.components.eventlog.store import EventLogStore
from opencrate.components.eventlog.tables import TableKind, change_table_name
from opencrate.errors import InvalidInput
from opencrate.model.values import PointStatus
from opencrate.runtime.bus import EventBus
from opencrate.runtime.events import EVENT_TYPES, EntityDeleted, Event, Lagged, StatusChanged
from opencrate.runtime.progress import CountsProcessed

__all__ = [
    "BATCH",
    "MIN_CAPACITY",
    "EventLogRecorder",
    "EventPurger",
    "PurgerStatistics",
    "RecorderStatistics",
]

log = logging.getLogger(__name__)

#: The smallest queue the recorder subscribes with (see the module docstring).
MIN_CAPACITY = 131_072
#: Events recorded per store command at most.
BATCH = 4096


@frozen(kw_only=True)
class RecorderStatistics:
    received: int
    recorded: int
    deduplicated: int
    refused: int
    lagged: int
    nodes_deleted: int
    events_deleted: int
    first_readings: int  # StatusChanged unknown -> ok, not recorded (see the module docstring)


@frozen(kw_only=True)
class PurgerStatistics:
    runs: int
    batches: int
    purged: int
    last_run_ms: int | None


class EventLogRecorder(CountsProcessed):
    """Persists bus events by rule; see the module docstring.

    ``processed`` counts the bus events handled (recorded, skipped by their
    rule, refused, or a node's deletion done), ``Lagged`` markers not included.
    """

    def __init__(
        self,
        bus: EventBus,
        store: EventLogStore,
        settings: EventLogSettings | None = None,
        *,
        capacity: int = 4096,
    ) -> None:
        super().__init__()
        self._bus = bus
        self._store = store
        self._settings = settings or EventLogSettings()
        self._capacity = max(capacity, MIN_CAPACITY)
        self._received = self._recorded = self._deduplicated = self._refused = 0
        self._lagged = self._nodes_deleted = self._events_deleted = 0
        self._first_readings = 0

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Subscribe, report started, then record events until cancelled."""
        wanted = {name for name, rule in self._settings.rules.items() if rule.persist}
        types = [EVENT_TYPES[name] for name in sorted(wanted | {"EntityDeleted"})]
        with self._bus.subscribe(*types, name="event-log", capacity=self._capacity) as sub:
            task_status.started()
            while True:
                await self.handle(await sub.receive_batch(BATCH))

    async def handle(self, batch: Sequence[Event | Lagged]) -> None:
        """Record one drained batch, in order (public so tests can drive it directly)."""
        pending: list[tuple[NewEvent, TableKind]] = []
        for item in batch:
            if isinstance(item, Lagged):
                self._lagged += item.count
                log.warning("event log fell behind the bus: %d events not recorded", item.count)
                continue
            self._received += 1
            if isinstance(item, EntityDeleted):
                await self._flush(pending)
                pending = []
                await self._delete_node(item.entity_id)
            prepared = self._prepare(item)
            if prepared is not None:
                pending.append(prepared)
        await self._flush(pending)
        self._processed.add(sum(1 for item in batch if not isinstance(item, Lagged)))

    def _prepare(self, event: Event) -> tuple[NewEvent, TableKind] | None:
        if (
            type(event) is StatusChanged
            and event.old_status is PointStatus.UNKNOWN
            and event.new_status is PointStatus.OK
        ):
            self._first_readings += 1
            return None
        name = type(event).__name__
        rule = self._settings.rules.get(name)
        if rule is None or not rule.persist:
            return None
        try:
            new = NewEvent(
                context=context_of(event),
                name=name,
                created_ms=event.ts_ms,
                expires_ms=event.ts_ms + rule.ttl_ms,
                level=level_of(event, rule),
                data=data_of(event),
                permissions=rule.permissions,
            )
            if rule.table is TableKind.CHANGE:
                change_table_name(new.device)
        except InvalidInput as exc:
            self._refused += 1
            log.warning("event log refused %s: %s", name, exc)
            return None
        return new, rule.table

    async def _flush(self, pending: list[tuple[NewEvent, TableKind]]) -> None:
        if not pending:
            return
        for result in await self._store.record_many(pending):
            self._recorded += 1
            self._deduplicated += result.deduplicated

    async def _delete_node(self, node_id: str) -> None:
        try:
            removed = await self._store.delete_context(node_id)
        except InvalidInput as exc:
            self._refused += 1
            log.warning("event log cannot delete events of %r: %s", node_id, exc)
            return
        self._nodes_deleted += 1
        self._events_deleted += removed

    def statistics(self) -> RecorderStatistics:
        return RecorderStatistics(
            received=self._received,
            recorded=self._recorded,
            deduplicated=self._deduplicated,
            refused=self._refused,
            lagged=self._lagged,
            nodes_deleted=self._nodes_deleted,
            events_deleted=self._events_deleted,
            first_readings=self._first_readings,
        )


class EventPurger(CountsProcessed):
    """Deletes expired events periodically, in bounded batches; see the module docstring.

    ``processed`` counts the purge runs finished (:meth:`purge_once` calls).
    """

    def __init__(
        self,
        store: EventLogStore,
        settings: EventLogSettings | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        super().__init__()
        self._store = store
        self._settings = settings or EventLogSettings()
        self._clock = clock or SystemClock()
        self._runs = self._batches = self._purged = 0
        self._last_run_ms: int | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Purge at once, then every ``purge_interval``, until cancelled."""
        task_status.started()
        while True:
            await self.purge_once()
            await trio.sleep(self._settings.purge_interval_ms / 1000)

    async def purge_once(self) -> int:
        """Delete every event expired now, batch by batch; returns how many went.

        Between two batches it sleeps ``purge_pause``, which lets commands that
        other tasks queued meanwhile run before the next batch.
        """
        batch = self._settings.purge_batch
        now_ms = self._clock.now_ms()
        total = 0
        while True:
            deleted = await self._store.purge_expired(now_ms=now_ms, batch=batch)
            self._batches += 1
            total += deleted
            if deleted < batch:
                break
            await trio.sleep(self._settings.purge_pause_ms / 1000)
        self._runs += 1
        self._purged += total
        self._last_run_ms = now_ms
        self._processed.add()
        if total:
            log.info("event log purge: %d expired events deleted", total)
        return total

    def statistics(self) -> PurgerStatistics:
        return PurgerStatistics(
            runs=self._runs,
            batches=self._batches,
            purged=self._purged,
            last_run_ms=self._last_run_ms,
        )
