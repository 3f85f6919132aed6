"""Strategies: for one service and one point, when is a sample stored, and under what name.

A :class:`PointPlan` is what a service's configuration means for one point:
the item lines that select it, grouped by strategy, each with its filters, and
the storage name (alias). The manager compiles a plan once per point and keeps
it until the configuration or the node model changes.

Deciding (:meth:`PointPlan.lines_for_update`): an update is stored when one of
the lines triggered by it (``everyUpdate`` lines always; ``everyChange`` lines
when the value changed) has all its filters passing. However many lines
trigger, the sample is stored **once** per service (openHAB stores it once per
line). Cron strategies are timed by :func:`next_fire_ms` in the server's local
time zone, seconds field first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import partial

from attrs import frozen
from croniter import CroniterError, croniter

from opencrate.components.history.config.model import (
    EVERY_CHANGE,
    EVERY_UPDATE,
    RESTORE_ON_STARTUP,
    Filter,
    ServiceConfig,
)
from opencrate.components.history.selectors import line_selects
from opencrate.errors import InvalidInput, map_exceptions

__all__ = ["LineRule", "PointPlan", "compile_plan", "next_fire_ms", "storage_id"]


@frozen(kw_only=True)
class LineRule:
    """One item line that selects the point: its position and its filters."""

    index: int
    filters: tuple[Filter, ...]


@frozen(kw_only=True)
class PointPlan:
    point_id: str
    storage_id: str
    on_update: tuple[LineRule, ...] = ()
    on_change: tuple[LineRule, ...] = ()
    #: cron strategy name -> the lines that use it.
    on_cron: Mapping[str, tuple[LineRule, ...]] = {}
    restore: bool = False
    #: Precomputed for the manager's hot path: the lines of a changed update,
    #: and whether any line an update (or a change) triggers has filters.
    on_update_or_change: tuple[LineRule, ...] = ()
    update_filtered: bool = False
    change_filtered: bool = False

    @property
    def stores_anything(self) -> bool:
        return bool(self.on_update or self.on_change or self.on_cron)

    def lines_for_update(self, changed: bool) -> tuple[LineRule, ...]:
        """The lines an update triggers (before filters)."""
        if changed and self.on_change:
            return self.on_update_or_change
        return self.on_update


def storage_id(service: ServiceConfig, point_id: str, ancestors: frozenset[str]) -> str:
    """The name samples of ``point_id`` are stored under in ``service``.

    The alias of the first selecting line that has one, else the Aliases
    section's entry, else the point id.
    """
    selecting = [
        i for i, item in enumerate(service.items) if line_selects(item, point_id, ancestors)
    ]
    return _storage_id(service, point_id, selecting)


def _storage_id(service: ServiceConfig, point_id: str, selecting: Sequence[int]) -> str:
    for index in selecting:
        alias = service.items[index].alias
        if alias is not None:
            return alias
    return service.aliases.get(point_id, point_id)


def compile_plan(
    service: ServiceConfig,
    point_id: str,
    ancestors: frozenset[str],
    *,
    shared: dict[tuple[int, ...], PointPlan] | None = None,
) -> PointPlan:
    """What ``service`` does with ``point_id`` (see the module docstring).

    ``shared`` (one dict per ``service``, emptied when it changes) keeps a plan per
    set of selecting lines: every point those lines select gets a plan that shares
    its rules and tuples, so 50,000 points hold 50,000 small plans, not 50,000
    copies of the same rules for the garbage collector to walk.
    """
    selecting = tuple(
        index for index, item in enumerate(service.items) if line_selects(item, point_id, ancestors)
    )
    template = None if shared is None else shared.get(selecting)
    if template is None:
        template = _plan_of_lines(service, selecting)
        if shared is not None:
            shared[selecting] = template
    # Built directly: attrs.evolve took half as long again (restore compiles every point).
    return PointPlan(
        point_id=point_id,
        storage_id=_storage_id(service, point_id, selecting),
        on_update=template.on_update,
        on_change=template.on_change,
        on_cron=template.on_cron,
        restore=template.restore,
        on_update_or_change=template.on_update_or_change,
        update_filtered=template.update_filtered,
        change_filtered=template.change_filtered,
    )


def _plan_of_lines(service: ServiceConfig, selecting: tuple[int, ...]) -> PointPlan:
    on_update: list[LineRule] = []
    on_change: list[LineRule] = []
    on_cron: dict[str, list[LineRule]] = {}
    restore = False
    filters_by_name = {f.name: f for f in service.filters}
    for index in selecting:
        item = service.items[index]
        rule = LineRule(index=index, filters=tuple(filters_by_name[n] for n in item.filters))
        for strategy in item.strategies:
            if strategy == EVERY_UPDATE:
                on_update.append(rule)
            elif strategy == EVERY_CHANGE:
                on_change.append(rule)
            elif strategy == RESTORE_ON_STARTUP:
                restore = True
            else:
                on_cron.setdefault(strategy, []).append(rule)
    return PointPlan(
        point_id="",
        storage_id="",
        on_update=tuple(on_update),
        on_change=tuple(on_change),
        on_cron={name: tuple(rules) for name, rules in on_cron.items()},
        restore=restore,
        on_update_or_change=tuple(on_update + on_change),
        update_filtered=any(rule.filters for rule in on_update),
        change_filtered=any(rule.filters for rule in on_update + on_change),
    )


def next_fire_ms(cron: str, after_ms: int) -> int:
    """The first time strictly after ``after_ms`` at which ``cron`` fires (local time).

    ``cron`` is the checked form of a ``CronStrategy``; croniter's errors (a
    form that is not, or no fire time within croniter's search) are
    :class:`~opencrate.errors.InvalidInput` naming it.
    """
    start = datetime.fromtimestamp(after_ms / 1000).astimezone()
    with map_exceptions({CroniterError: partial(_cron_error, cron)}):
        fire: float = croniter(cron, start, second_at_beginning=True).get_next(float)
    return int(fire * 1000)


def _cron_error(cron: str, exc: Exception) -> InvalidInput:
    return InvalidInput(f"cron {cron!r}: {exc}", cron=cron)
