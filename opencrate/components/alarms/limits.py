"""Limit alarms: high/low limits with deadband and delay on numeric points.

Rules (:class:`~opencrate.components.alarms.settings.LimitRule`) come from a
point's ``alarm`` property, e.g. ``{"high": 26, "low": 16, "deadband": 0.5,
"delay_s": 60, "severity": "minor"}``, or from ``[alarms.limits."<point>"]``
in the settings (which win). Two alarm types per point: ``high_limit`` and
``low_limit``.

For ``high`` (``low`` is the mirror image):

* *raise*: the value is above ``high`` and has stayed above it for
  ``delay_s`` seconds (trio's clock, so tests run on ``autojump_clock``). A
  value at or below ``high`` during the delay cancels it. The delay is timed,
  not counted in readings: a COV point that sits at 27 °C without publishing
  still raises when the delay ends.
* *clear*: the value is below ``high - deadband``. Between the two the alarm
  keeps its state (hysteresis), so a value hovering at the limit does not
  chatter.

Whether an alarm is active is asked of the
:class:`~opencrate.components.alarms.store.AlarmStore` each time, so an alarm cleared by
the stale check or by an operator is raised again when the value is still
beyond the limit. Non-numeric values are ignored. Rules are reloaded for a
node when it is created, updated or deleted (``Entity*`` events); a changed
rule drops the node's running delays and evaluates its current value again
under the new rule; deleting a node, or removing a limit from its rule, clears
the active alarms of the limits gone (they stay open until acknowledged, as any
cleared alarm; without this nothing would ever clear them). At start and after
a ``Lagged`` marker the same is done for every limit alarm. After a ``Lagged`` marker
(value changes were lost) every rule is reloaded and checked against the
PointStore's current values.

The NodeStore refuses a bad rule in a node's ``alarm`` property when it is
written (400 naming ``properties.alarm.<key>``); one stored before that check
existed is logged and skipped here. A bad ``[alarms.limits]`` entry is a
ConfigError at start.
Cancellation stops the engine between store commands.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet

import trio
from attrs import frozen

from opencrate.components.alarms.settings import LimitRule
from opencrate.components.alarms.store import AlarmStore
from opencrate.components.nodes.store import NodeStore
from opencrate.components.nodes.well_known import ALARM_PROPERTY
from opencrate.components.points.store import PointStore
from opencrate.errors import ConfigError
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
from opencrate.runtime.progress import CountsProcessed

__all__ = ["HIGH_LIMIT", "LOW_LIMIT", "LimitAlarms", "LimitAlarmsStatistics"]

log = logging.getLogger(__name__)

HIGH_LIMIT = "high_limit"
LOW_LIMIT = "low_limit"


@frozen(kw_only=True)
class LimitAlarmsStatistics:
    rules: int
    pending: int  # conditions waiting out their delay
    evaluated: int
    raised: int
    cleared: int
    bad_rules: int


class LimitAlarms(CountsProcessed):
    """Evaluates limit rules on every value change; see the module docstring.

    ``processed`` counts the bus events handled (``Lagged`` markers not included).
    """

    def __init__(
        self,
        bus: EventBus,
        *,
        nodes: NodeStore,
        points: PointStore,
        store: AlarmStore,
        configured: Mapping[str, LimitRule] | None = None,
        capacity: int = 4096,
    ) -> None:
        super().__init__()
        self._bus = bus
        self._nodes = nodes
        self._points = points
        self._store = store
        self._configured = dict(configured or {})
        self._capacity = capacity
        self._rules: dict[str, LimitRule] = {}
        self._values: dict[str, float] = {}
        # (node_id, alarm type) -> trio time at which the delay ends.
        self._pending: dict[tuple[str, str], float] = {}
        self._evaluated = self._raised = self._cleared = self._bad_rules = 0

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Load rules, check current values, report started, then follow the bus."""
        with self._bus.subscribe(
            ValueChanged,
            EntityCreated,
            EntityUpdated,
            EntityDeleted,
            name="limit-alarms",
            capacity=self._capacity,
            accept=self._wants,
        ) as sub:
            self.reload_rules()
            await self.evaluate_current()
            task_status.started()
            while True:
                batch: list[Event | Lagged] = []
                with trio.move_on_at(min(self._pending.values(), default=math.inf)):
                    batch = await sub.receive_batch()
                await self._raise_due()
                await self.handle(batch)

    def _wants(self, event: Event) -> bool:
        # Runs inside every publish: most value changes are of points without a
        # limit, and dropping them here spares the channel and a wake-up each.
        return not isinstance(event, ValueChanged) or event.node_id in self._rules

    async def handle(self, batch: Sequence[Event | Lagged]) -> None:
        """Apply one drained batch of events, in order."""
        for item in batch:
            if isinstance(item, Lagged):
                # Lost value changes: the PointStore has every point's latest value.
                log.warning("limit alarms missed %d events; re-checking every rule", item.count)
                self.reload_rules()
                await self.evaluate_current()
                continue
            if isinstance(item, ValueChanged):
                if item.node_id in self._rules:
                    await self.evaluate(item.node_id, item.value)
            elif isinstance(item, EntityCreated | EntityUpdated):
                if self._reload_rule(item.entity_id):
                    removed = _LIMIT_TYPES - _limit_types(self._rules.get(item.entity_id))
                    await self._clear_conditions(item.entity_id, removed)
                    await self._evaluate_current_of(item.entity_id)
            elif isinstance(item, EntityDeleted):
                self._reload_rule(item.entity_id)
                # The point is gone, so are its conditions.
                await self._clear_conditions(item.entity_id, _LIMIT_TYPES)
        self._processed.add(sum(1 for item in batch if not isinstance(item, Lagged)))

    def reload_rules(self) -> None:
        """Read every point's rule from the node model and the settings.

        Rules that did not change keep their running delays.
        """
        known = {node.id for node in self._nodes.all()}
        for node_id in known | set(self._configured) | set(self._rules):
            self._reload_rule(node_id)

    async def evaluate_current(self) -> None:
        """Evaluate every rule on its point's current value in the PointStore.

        First clears the active limit alarms of limits no rule has any more
        (removed while the engine was not running, or its events were lost).
        """
        for alarm in self._store.active(include_shelved=True):
            if alarm.alarm_type not in _limit_types(self._rules.get(alarm.node_id)):
                await self._clear_conditions(alarm.node_id, {alarm.alarm_type} & _LIMIT_TYPES)
        for node_id in list(self._rules):
            await self._evaluate_current_of(node_id)

    def rule(self, node_id: str) -> LimitRule | None:
        return self._rules.get(node_id)

    async def evaluate(self, node_id: str, value: PointValue) -> None:
        """Apply the point's rule to a new value (raises, clears, starts or stops a delay)."""
        rule = self._rules.get(node_id)
        if rule is None or isinstance(value, bool) or not isinstance(value, int | float):
            return
        number = float(value)
        self._values[node_id] = number
        self._evaluated += 1
        if rule.high is not None:
            await self._apply(
                node_id, HIGH_LIMIT, rule, beyond=number > rule.high,
                back=number < rule.high - rule.deadband,
            )  # fmt: skip
        if rule.low is not None:
            await self._apply(
                node_id, LOW_LIMIT, rule, beyond=number < rule.low,
                back=number > rule.low + rule.deadband,
            )  # fmt: skip

    def statistics(self) -> LimitAlarmsStatistics:
        return LimitAlarmsStatistics(
            rules=len(self._rules),
            pending=len(self._pending),
            evaluated=self._evaluated,
            raised=self._raised,
            cleared=self._cleared,
            bad_rules=self._bad_rules,
        )

    # -- helpers -----------------------------------------------------------------
    async def _clear_conditions(self, node_id: str, alarm_types: AbstractSet[str]) -> None:
        # For limits that no longer exist: no value would ever clear their
        # alarms, which could then never close.
        for alarm_type in sorted(alarm_types):
            if await self._store.clear_condition(node_id, alarm_type) is not None:
                self._cleared += 1

    async def _evaluate_current_of(self, node_id: str) -> None:
        state = self._points.get(node_id)
        if state is not None and state.value is not None:
            await self.evaluate(node_id, state.value)

    async def _apply(
        self, node_id: str, alarm_type: str, rule: LimitRule, *, beyond: bool, back: bool
    ) -> None:
        key = (node_id, alarm_type)
        alarm = self._store.open_alarm(node_id, alarm_type)
        if alarm is not None and alarm.active:
            self._pending.pop(key, None)
            if back:
                await self._store.clear_condition(node_id, alarm_type)
                self._cleared += 1
            return
        if not beyond:
            self._pending.pop(key, None)
        elif rule.delay_s <= 0:
            await self._raise(node_id, alarm_type, rule)
        elif key not in self._pending:
            self._pending[key] = trio.current_time() + rule.delay_s

    async def _raise_due(self) -> None:
        now = trio.current_time()
        for key in [k for k, deadline in self._pending.items() if deadline <= now]:
            del self._pending[key]
            node_id, alarm_type = key
            rule = self._rules.get(node_id)
            if rule is not None:
                await self._raise(node_id, alarm_type, rule)

    async def _raise(self, node_id: str, alarm_type: str, rule: LimitRule) -> None:
        value = self._values.get(node_id)
        await self._store.raise_alarm(
            node_id,
            alarm_type,
            rule.severity,
            rule.message or self._message(node_id, alarm_type, rule, value),
        )
        self._raised += 1

    def _message(self, node_id: str, alarm_type: str, rule: LimitRule, value: float | None) -> str:
        node = self._nodes.get_or_none(node_id)
        name = node.dis if node is not None else node_id
        unit = f" {node.unit}" if node is not None and node.unit else ""
        if alarm_type == HIGH_LIMIT:
            where, limit = "above high limit", rule.high
        else:
            where, limit = "below low limit", rule.low
        shown = "?" if value is None else f"{value:g}"
        return f"{name} {shown}{unit} {where} {limit:g}{unit}"

    def _reload_rule(self, node_id: str) -> bool:
        """Reload ``node_id``'s rule; returns whether it changed."""
        rule: LimitRule | None = None
        if node_id in self._configured:
            rule = self._configured[node_id]
        else:
            node = self._nodes.get_or_none(node_id)
            raw = None if node is None or not node.is_point else node.properties.get(ALARM_PROPERTY)
            if raw is not None:
                try:
                    rule = LimitRule.from_mapping(
                        raw, where=f"{node_id} properties.{ALARM_PROPERTY}"
                    )
                except ConfigError as exc:
                    self._bad_rules += 1
                    log.warning("limit alarm rule skipped: %s", exc)
        if rule == self._rules.get(node_id):
            return False
        if rule is None:
            self._rules.pop(node_id, None)
            self._values.pop(node_id, None)
        else:
            self._rules[node_id] = rule
        # A delay started under the old rule must not end in a raise under the new
        # one (of a limit it no longer has, or that the value is not beyond): the
        # caller evaluates the current value again, which restarts what still holds.
        for key in [k for k in self._pending if k[0] == node_id]:
            del self._pending[key]
        return True


_LIMIT_TYPES = frozenset({HIGH_LIMIT, LOW_LIMIT})


def _limit_types(rule: LimitRule | None) -> frozenset[str]:
    """The alarm types ``rule`` can raise (none for no rule)."""
    if rule is None:
        return frozenset()
    return frozenset(
        t for t, limit in ((HIGH_LIMIT, rule.high), (LOW_LIMIT, rule.low)) if limit is not None
    )
