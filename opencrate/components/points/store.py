"""PointStore: the current value and status of every point, in memory (seed 000).

No database: point values are transient runtime state. Durable history is the
persistence layer's job (it subscribes to ``ValueChanged``), and the values a
point should come back with after a restart are put back with :meth:`restore`
(``restoreOnStartup``).

Events
    :meth:`PointStore.set` publishes ``ValueChanged`` on *every* call (an
    "update": persistence's ``everyUpdate`` strategy counts on it) and
    ``StatusChanged`` when the status differs from the previous one.
    :meth:`PointStore.set_if_changed` is change-of-value for pollers: it
    publishes only when the value moved by at least the point's deadband
    (numbers), changed at all (booleans, states, text), or the status changed.
    A point that was never set counts as ``UNKNOWN``, so its first reading
    also publishes ``StatusChanged(unknown -> ok)``.

Override layer
    An operator override must win over the field: a poller that writes the
    sensor value every second must not undo it. So each point has two layers.
    The *source layer* is what the field (or a program) last wrote; the
    *override layer*, when present, is what everyone sees. While a point is
    overridden, :meth:`set`, :meth:`set_if_changed`, :meth:`set_status` and
    :meth:`restore` update the source layer only and publish nothing, because
    the visible value did not change. :meth:`release_override` makes the
    source layer visible again: the last value the source reported while the
    override was in force, else the value from before the override. Sources
    need not know overrides exist. :class:`~opencrate.components.overrides.store.OverrideStore`
    is the only intended caller of :meth:`override` / :meth:`release_override`;
    it owns their persistence, history and expiry.

Threading and cost
    All methods are plain synchronous functions for the trio thread (they never
    await, so they never checkpoint). ``set`` is the hot path of every poller:
    a dict lookup, one frozen record and one ``EventBus.publish``, which itself
    never blocks.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import partial
from typing import NamedTuple

from attrs import frozen

from opencrate.clock import Clock, SystemClock
from opencrate.errors import InvalidInput
from opencrate.model.values import PointStatus, PointValue
from opencrate.runtime.bus import EventBus
from opencrate.runtime.events import StatusChanged, ValueChanged

__all__ = ["PointState", "PointStore", "PointStoreStatistics"]


class PointState(NamedTuple):
    """A point's visible value and status, and when either last changed (epoch ms).

    ``value`` is ``None`` for a point that has a status but was never read (a
    device reported down before its first poll). A named tuple, not an attrs
    record: :meth:`PointStore.set` makes one per reading, and a tuple is built
    in about a quarter of the time (benchmarks/ingest.py).
    """

    node_id: str
    value: PointValue | None
    status: PointStatus
    ts_ms: int


@frozen(kw_only=True)
class PointStoreStatistics:
    points: int
    overridden: int
    updates: int  # calls of set / set_if_changed, including suppressed and shadowed ones
    value_events: int  # ValueChanged published
    status_events: int  # StatusChanged published
    cov_suppressed: int  # set_if_changed calls that published nothing
    shadowed: int  # source writes absorbed by an override
    restored: int


#: ``PointState`` from a ``(node_id, value, status, ts_ms)`` tuple in C: what the named
#: tuple's own constructor does after a Python-level call (a twentieth of ingest).
_new_state = partial(tuple.__new__, PointState)

_VALUE_TYPES = (float, int, bool, str)


def _check_value(node_id: str, value: object) -> None:
    # Exact type checks: cheaper than isinstance chains on the hot path, and
    # they refuse subclasses such as numpy scalars that would not JSON-encode.
    kind = type(value)
    if kind is float:
        if not math.isfinite(value):  # type: ignore[arg-type]
            raise InvalidInput(
                f"point {node_id}: value must be finite, got {value!r}", node_id=node_id
            )
    elif kind not in _VALUE_TYPES:
        raise InvalidInput(
            f"point {node_id}: value must be a number, boolean or string, got {kind.__name__}",
            node_id=node_id,
        )


def _differs(old: PointValue | None, new: PointValue, deadband: float | None) -> bool:
    # True == 1 == 1.0 in Python; a change of kind is a change.
    if old is None or type(old) is not type(new):
        return True
    if (
        deadband is not None
        and isinstance(new, int | float)
        and isinstance(old, int | float)
        and not isinstance(new, bool)  # same type as old, checked above
    ):
        return new != old and abs(new - old) >= deadband
    return old != new


class PointStore:
    """Current value and status per point, with an operator override layer.

    See the module docstring for events, COV and override semantics.
    """

    def __init__(self, bus: EventBus, clock: Clock | None = None) -> None:
        self._bus = bus
        self._clock: Clock = clock or SystemClock()
        self._states: dict[str, PointState] = {}
        # Overridden points only: their source layer (None: the source never wrote).
        self._shadow: dict[str, PointState | None] = {}
        self._deadbands: dict[str, float] = {}
        self._updates = self._value_events = self._status_events = 0
        self._cov_suppressed = self._shadowed = self._restored = 0

    # -- source writes -----------------------------------------------------------
    def set(
        self,
        node_id: str,
        value: PointValue,
        *,
        status: PointStatus = PointStatus.OK,
        ts_ms: int | None = None,
    ) -> PointState:
        """Record a reading and publish it.

        Publishes ``ValueChanged`` always and ``StatusChanged`` when the status
        changed. On an overridden point the reading goes to the source layer
        and nothing is published. Returns the state now visible.

        Raises :class:`InvalidInput` for a value that is not a finite number,
        a boolean or a string (nothing is stored).
        """
        # A finite float passes without a call (x - x is 0.0 for those only): the
        # common reading; everything else is checked by _check_value.
        if type(value) is not float or value - value != 0.0:
            _check_value(node_id, value)
        self._updates += 1
        if ts_ms is None:
            ts_ms = self._clock.now_ms()
        state: PointState = _new_state((node_id, value, status, ts_ms))
        if self._shadow and node_id in self._shadow:  # most buildings: no override, no look-up
            self._shadow[node_id] = state
            self._shadowed += 1
            return self._states[node_id]
        old = self._states.get(node_id)
        self._states[node_id] = state
        # _publish_value inlined: this is every poller's hot path.
        self._value_events += 1
        self._bus.publish(ValueChanged(ts_ms=ts_ms, node_id=node_id, value=value))
        if old is None:
            if status is not PointStatus.UNKNOWN:
                self._publish_status(node_id, PointStatus.UNKNOWN, status, ts_ms)
        elif old.status is not status:
            self._publish_status(node_id, old.status, status, ts_ms)
        return state

    def set_many(
        self,
        readings: Iterable[tuple[str, PointValue, int | None]],
        *,
        status: PointStatus = PointStatus.OK,
    ) -> int:
        """:meth:`set` for many ``(node_id, value, ts_ms or None)`` readings; returns how many.

        For pollers that deliver many points at once: the same checks, states
        and events as one :meth:`set` per reading, in order, with the per-call
        overhead paid once. A bad value raises :class:`InvalidInput` naming its
        point; the readings before it are already recorded and published.
        """
        states = self._states
        shadow = self._shadow
        now = self._clock.now_ms
        publish = self._publish_value
        count = 0
        for node_id, value, ts_ms in readings:
            _check_value(node_id, value)
            count += 1
            self._updates += 1
            state: PointState = _new_state(
                (node_id, value, status, now() if ts_ms is None else ts_ms)
            )
            if node_id in shadow:
                shadow[node_id] = state
                self._shadowed += 1
                continue
            old = states.get(node_id)
            states[node_id] = state
            publish(state)
            old_status = PointStatus.UNKNOWN if old is None else old.status
            if old_status is not status:
                self._publish_status(node_id, old_status, status, state.ts_ms)
        return count

    def set_if_changed(
        self,
        node_id: str,
        value: PointValue,
        *,
        status: PointStatus = PointStatus.OK,
        ts_ms: int | None = None,
    ) -> bool:
        """Change-of-value write for pollers; returns whether anything was published.

        Publishes (as :meth:`set`) only when the value differs from the last
        published one by at least the point's deadband (numbers without a
        deadband, and all other kinds: any difference), or the status changed.
        When it publishes nothing the stored state is left as it was, so slow
        drift is measured from the last published value and eventually
        crosses the deadband.
        """
        _check_value(node_id, value)
        if node_id in self._shadow:
            self.set(node_id, value, status=status, ts_ms=ts_ms)
            return False
        old = self._states.get(node_id)
        if (
            old is not None
            and old.status is status
            and not _differs(old.value, value, self._deadbands.get(node_id))
        ):
            self._updates += 1
            self._cov_suppressed += 1
            return False
        self.set(node_id, value, status=status, ts_ms=ts_ms)
        return True

    def set_deadband(self, node_id: str, deadband: float | None) -> None:
        """COV deadband of a numeric point for :meth:`set_if_changed` (``None``: any change).

        Raises :class:`InvalidInput` for a negative or non-finite deadband.
        """
        if deadband is None:
            self._deadbands.pop(node_id, None)
            return
        if isinstance(deadband, bool) or not isinstance(deadband, int | float):
            raise InvalidInput(f"point {node_id}: deadband must be a number", node_id=node_id)
        if not math.isfinite(deadband) or deadband < 0:
            raise InvalidInput(
                f"point {node_id}: deadband must be a finite number >= 0, got {deadband!r}",
                node_id=node_id,
            )
        self._deadbands[node_id] = float(deadband)

    def set_status(self, node_id: str, status: PointStatus) -> None:
        """Change only the status (device down, fault, stale); publishes ``StatusChanged``.

        Publishes nothing when the status is unchanged. A point never seen
        before gets a state with no value. On an overridden point the status
        goes to the source layer.
        """
        status = PointStatus(status)
        now = self._clock.now_ms()
        if node_id in self._shadow:
            source = self._shadow[node_id]
            self._shadow[node_id] = PointState(
                node_id=node_id,
                value=None if source is None else source.value,
                status=status,
                ts_ms=now,
            )
            return
        old = self._states.get(node_id)
        old_status = PointStatus.UNKNOWN if old is None else old.status
        if old is not None and old_status is status:
            return
        self._states[node_id] = PointState(
            node_id=node_id, value=None if old is None else old.value, status=status, ts_ms=now
        )
        if old_status is not status:
            self._publish_status(node_id, old_status, status, now)

    def restore(
        self,
        node_id: str,
        value: PointValue,
        *,
        ts_ms: int,
        status: PointStatus = PointStatus.OK,
    ) -> bool:
        """Put back a persisted value at startup, if the point has none yet; publishes nothing.

        Restoring must not look like a new reading to rules or history. On an
        overridden point it fills the source layer (if that is empty), so a
        later release returns to it. Returns whether it set the value.
        """
        _check_value(node_id, value)
        state: PointState = _new_state((node_id, value, status, ts_ms))  # once per point at start
        if node_id in self._shadow:
            source = self._shadow[node_id]
            if source is not None and source.value is not None:
                return False
            self._shadow[node_id] = state
        else:
            old = self._states.get(node_id)
            if old is not None and old.value is not None:
                return False
            self._states[node_id] = state
        self._restored += 1
        return True

    # -- override layer (for OverrideStore) --------------------------------------
    def override(self, node_id: str, value: PointValue, *, ts_ms: int | None = None) -> PointState:
        """Show ``value`` with status ``OVERRIDDEN`` until :meth:`release_override`.

        The first override keeps the visible state as the source layer; a
        re-override only replaces the override value. Publishes
        ``ValueChanged`` and, on the first override, ``StatusChanged``.
        """
        _check_value(node_id, value)
        if ts_ms is None:
            ts_ms = self._clock.now_ms()
        old = self._states.get(node_id)
        if node_id not in self._shadow:
            self._shadow[node_id] = old
        state = PointState(node_id=node_id, value=value, status=PointStatus.OVERRIDDEN, ts_ms=ts_ms)
        self._states[node_id] = state
        self._publish_value(state)
        old_status = PointStatus.UNKNOWN if old is None else old.status
        if old_status is not PointStatus.OVERRIDDEN:
            self._publish_status(node_id, old_status, PointStatus.OVERRIDDEN, ts_ms)
        return state

    def release_override(self, node_id: str, *, ts_ms: int | None = None) -> PointState | None:
        """End the override: the source layer becomes visible again, stamped ``ts_ms`` (now).

        Publishes ``ValueChanged`` (when the source layer has a value) and
        ``StatusChanged``. A point whose source never wrote a value goes back
        to no value and status ``UNKNOWN``. Returns the visible state, or
        ``None`` when the point was not overridden (nothing happens).
        """
        if node_id not in self._shadow:
            return None
        if ts_ms is None:
            ts_ms = self._clock.now_ms()
        source = self._shadow.pop(node_id)
        state = PointState(
            node_id=node_id,
            value=None if source is None else source.value,
            status=PointStatus.UNKNOWN if source is None else source.status,
            ts_ms=ts_ms,
        )
        self._states[node_id] = state
        if state.value is not None:
            self._publish_value(state)
        if state.status is not PointStatus.OVERRIDDEN:
            self._publish_status(node_id, PointStatus.OVERRIDDEN, state.status, ts_ms)
        return state

    def is_overridden(self, node_id: str) -> bool:
        return node_id in self._shadow

    def source(self, node_id: str) -> PointState | None:
        """What the field last reported: an overridden point's source layer, else :meth:`get`."""
        if node_id in self._shadow:
            return self._shadow[node_id]
        return self._states.get(node_id)

    # -- reads -------------------------------------------------------------------
    def get(self, node_id: str) -> PointState | None:
        """The visible state, or ``None`` for a point never set."""
        return self._states.get(node_id)

    def snapshot(self) -> dict[str, PointState]:
        """A copy of every visible state, by node id."""
        return dict(self._states)

    def remove(self, node_id: str) -> None:
        """Forget a point (its node was deleted): state, deadband and override layer. Silent."""
        self._states.pop(node_id, None)
        self._shadow.pop(node_id, None)
        self._deadbands.pop(node_id, None)

    def statistics(self) -> PointStoreStatistics:
        return PointStoreStatistics(
            points=len(self._states),
            overridden=len(self._shadow),
            updates=self._updates,
            value_events=self._value_events,
            status_events=self._status_events,
            cov_suppressed=self._cov_suppressed,
            shadowed=self._shadowed,
            restored=self._restored,
        )

    # -- publishing --------------------------------------------------------------
    def _publish_value(self, state: PointState) -> None:
        assert state.value is not None
        self._value_events += 1
        self._bus.publish(ValueChanged(ts_ms=state.ts_ms, node_id=state.node_id, value=state.value))

    def _publish_status(self, node_id: str, old: PointStatus, new: PointStatus, ts_ms: int) -> None:
        self._status_events += 1
        self._bus.publish(
            StatusChanged(ts_ms=ts_ms, node_id=node_id, old_status=old, new_status=new)
        )
