"""Per-point alarm flags that follow the bus, and the periodic stale-alarm check.

:class:`AlarmFlags` keeps, for every point with an open alarm, two flags:
*in alarm* (some alarm of the point is active, i.e. not cleared) and
*unacked* (some alarm of the point is not acknowledged). It is driven by the
``AlarmRaised`` / ``AlarmCleared`` / ``AlarmAcknowledged`` events the
:class:`~opencrate.components.alarms.store.AlarmStore` publishes after each commit, not
by polling (seed 000: "Flag sync: EventBus-driven (replaced old 3-second poll
loop)"). At start, and after a ``Lagged`` marker (events were lost), it
rebuilds its state from the store's open alarms, which are the truth.
A repeat raise of a shelved alarm publishes nothing, so the flags do not show
it until the shelving ends and the alarm is raised again.

:class:`StaleAlarmCheck` runs every ``interval`` (30 s by default, on trio's
clock): an open, active alarm whose point is *stale* is marked stale in the
store (``action = mark``) or cleared (``action = clear``); a marked alarm
whose point is fresh again loses the mark. A point is stale when the
PointStore says its status is ``stale`` or ``down``, when it has no value at
all, or when ``max_age_s`` is set and its last reading is older than that.
(COV writers only update ``ts_ms`` on a change, so a max age suits points
that change or are written at least that often.)

Cancellation: both stop at their next checkpoint; a store command already sent
completes. Store errors end ``run`` (the supervisor restarts it).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import trio
from attrs import frozen

from opencrate.clock import Clock, SystemClock
from opencrate.components.alarms.settings import StaleAction
from opencrate.components.alarms.store import Alarm, AlarmStore
from opencrate.components.points.store import PointStore
from opencrate.errors import NotFound
from opencrate.model.values import PointStatus
from opencrate.runtime.bus import EventBus
from opencrate.runtime.events import AlarmAcknowledged, AlarmCleared, AlarmRaised, Event, Lagged
from opencrate.runtime.progress import CountsProcessed

__all__ = [
    "AlarmFlags",
    "AlarmFlagsStatistics",
    "PointAlarmFlags",
    "StaleAlarmCheck",
    "StaleCheckResult",
    "StaleCheckStatistics",
]

log = logging.getLogger(__name__)

_STALE_STATUSES = frozenset({PointStatus.STALE, PointStatus.DOWN})


@frozen(kw_only=True)
class PointAlarmFlags:
    in_alarm: bool = False
    unacked: bool = False


_CLEAR = PointAlarmFlags()


@frozen(kw_only=True)
class AlarmFlagsStatistics:
    flagged_points: int
    tracked_alarms: int
    events: int
    resyncs: int


@frozen(kw_only=True)
class _Tracked:
    node_id: str
    active: bool
    acked: bool


class AlarmFlags(CountsProcessed):
    """In-alarm and unacked flags per point, from bus events; see the module docstring.

    ``processed`` counts the bus events applied (``Lagged`` markers not included).
    """

    def __init__(self, bus: EventBus, store: AlarmStore, *, capacity: int = 4096) -> None:
        super().__init__()
        self._bus = bus
        self._store = store
        self._capacity = capacity
        self._alarms: dict[int, _Tracked] = {}
        self._flags: dict[str, PointAlarmFlags] = {}
        self._events = self._resyncs = 0

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Subscribe, load the open alarms, report started, then follow events until cancelled."""
        with self._bus.subscribe(
            AlarmRaised,
            AlarmCleared,
            AlarmAcknowledged,
            name="alarm-flags",
            capacity=self._capacity,
        ) as sub:
            # Subscribed first: an alarm changed between the load and the first
            # receive arrives as an event, and replaying it is harmless.
            self.resync()
            task_status.started()
            while True:
                self.handle(await sub.receive_batch())

    def handle(self, batch: Sequence[Event | Lagged]) -> None:
        """Apply one drained batch of events, in order."""
        touched: set[str] = set()
        for item in batch:
            if isinstance(item, Lagged):
                log.warning("alarm flags missed %d events; reloading open alarms", item.count)
                self.resync()
                continue
            self._events += 1
            if isinstance(item, AlarmRaised):
                old = self._alarms.get(item.alarm_id)
                acked = old.acked if old is not None else False
                self._alarms[item.alarm_id] = _Tracked(
                    node_id=item.node_id, active=True, acked=acked
                )
                touched.add(item.node_id)
            elif isinstance(item, AlarmCleared):
                old = self._alarms.get(item.alarm_id)
                acked = old.acked if old is not None else False
                self._set(item.alarm_id, _Tracked(node_id=item.node_id, active=False, acked=acked))
                touched.add(item.node_id)
            elif isinstance(item, AlarmAcknowledged):
                old = self._alarms.get(item.alarm_id)
                if old is None:
                    continue  # closed or never seen: nothing flagged for it
                self._set(
                    item.alarm_id, _Tracked(node_id=old.node_id, active=old.active, acked=True)
                )
                touched.add(old.node_id)
        for node_id in touched:
            self._recompute(node_id)
        self._processed.add(sum(1 for item in batch if not isinstance(item, Lagged)))

    def resync(self) -> None:
        """Rebuild every flag from the store's open alarms (cache; no I/O)."""
        self._resyncs += 1
        self._alarms = {
            a.id: _Tracked(node_id=a.node_id, active=a.active, acked=a.acked)
            for a in self._store.active(include_shelved=True)
        }
        self._flags = {}
        for node_id in {t.node_id for t in self._alarms.values()}:
            self._recompute(node_id)

    def flags(self, node_id: str) -> PointAlarmFlags:
        """The point's flags (both false when it has no open alarm)."""
        return self._flags.get(node_id, _CLEAR)

    def flagged(self) -> dict[str, PointAlarmFlags]:
        """Every point with at least one flag set, by node id."""
        return dict(sorted(self._flags.items()))

    def statistics(self) -> AlarmFlagsStatistics:
        return AlarmFlagsStatistics(
            flagged_points=len(self._flags),
            tracked_alarms=len(self._alarms),
            events=self._events,
            resyncs=self._resyncs,
        )

    def _set(self, alarm_id: int, tracked: _Tracked) -> None:
        if not tracked.active and tracked.acked:
            self._alarms.pop(alarm_id, None)  # closed
        else:
            self._alarms[alarm_id] = tracked

    def _recompute(self, node_id: str) -> None:
        mine = [t for t in self._alarms.values() if t.node_id == node_id]
        flags = PointAlarmFlags(
            in_alarm=any(t.active for t in mine), unacked=any(not t.acked for t in mine)
        )
        if flags == _CLEAR:
            self._flags.pop(node_id, None)
        else:
            self._flags[node_id] = flags


@frozen(kw_only=True)
class StaleCheckResult:
    checked: int
    marked: int
    unmarked: int
    cleared: int


@frozen(kw_only=True)
class StaleCheckStatistics:
    runs: int
    last: StaleCheckResult | None


class StaleAlarmCheck(CountsProcessed):
    """Every ``interval_s``: mark or clear active alarms whose point is stale.

    ``processed`` counts the checks finished (:meth:`check_once` calls).
    """

    def __init__(
        self,
        store: AlarmStore,
        points: PointStore,
        *,
        clock: Clock | None = None,
        interval_s: float = 30.0,
        max_age_s: float | None = None,
        action: StaleAction = StaleAction.MARK,
    ) -> None:
        super().__init__()
        self._store = store
        self._points = points
        self._clock = clock or SystemClock()
        self._interval_s = interval_s
        self._max_age_ms = None if max_age_s is None else round(max_age_s * 1000)
        self._action = action
        self._runs = 0
        self._last: StaleCheckResult | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Check every ``interval_s`` (the first check one interval after start) until cancelled."""
        task_status.started()
        while True:
            await trio.sleep(self._interval_s)
            await self.check_once()

    def is_stale(self, node_id: str) -> bool:
        """Whether the point counts as stale now (see the module docstring)."""
        state = self._points.get(node_id)
        if state is None or state.value is None or state.status in _STALE_STATUSES:
            return True
        return (
            self._max_age_ms is not None and self._clock.now_ms() - state.ts_ms > self._max_age_ms
        )

    async def check_once(self) -> StaleCheckResult:
        """One pass over the open alarms; returns what it did."""
        marked = unmarked = cleared = 0
        alarms: list[Alarm] = self._store.active(include_shelved=True)
        for alarm in alarms:
            stale = alarm.active and self.is_stale(alarm.node_id)
            try:
                if stale and self._action is StaleAction.CLEAR:
                    await self._store.clear(alarm.id)
                    cleared += 1
                elif stale and alarm.stale_ms is None:
                    await self._store.mark_stale(alarm.id, stale=True)
                    marked += 1
                elif not stale and alarm.stale_ms is not None:
                    await self._store.mark_stale(alarm.id, stale=False)
                    unmarked += 1
            except NotFound:
                continue  # closed meanwhile by someone else
        self._runs += 1
        self._last = result = StaleCheckResult(
            checked=len(alarms), marked=marked, unmarked=unmarked, cleared=cleared
        )
        self._processed.add()
        if marked or cleared:
            log.info("stale alarm check: %s", result)
        return result

    def statistics(self) -> StaleCheckStatistics:
        return StaleCheckStatistics(runs=self._runs, last=self._last)
