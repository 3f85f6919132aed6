"""Retention of the SQLite history: old samples and rollup rows leave in small batches.

A :class:`RetentionPolicy` is an ordered list of :class:`RetentionRule`; the
first rule whose selector matches a point id decides how long that point's raw
samples and each rollup tier are kept (``None``: forever). Selectors are ``*``
(every point), ``prefix*`` (every point id starting with ``prefix``, e.g.
``1001/*`` for one device) or an exact point id.

How data leaves (never one long blocking DELETE):

* Each batch is one write command on the history actor deleting at most
  ``batch_rows`` rows of one point, so samples queued by writers run between
  batches (the actor's channel is first come, first served), and
  :func:`purge` checkpoints between batches.
* Before raw samples go, rollup windows that end before the cutoff and are
  still open in memory are closed and written, so a point that went quiet
  keeps its last windows.
* The newest sample before the cutoff is kept: it is the state in force at
  the cutoff, so step-hold queries (and ``state_at``) after the cutoff stay
  exact.

:func:`run_retention` repeats :func:`purge` every ``interval_s`` seconds.
Cancellation: a cancelled purge stops between batches; every batch is whole.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

import trio
from attrs import field, frozen

from opencrate.clock import Clock
from opencrate.components.history.config.model import RetentionConfig
from opencrate.components.history.service import TIER_WIDTH_MS, Resolution
from opencrate.components.history.sqlite.store import HistoryStore
from opencrate.errors import InvalidInput

__all__ = [
    "PurgeReport",
    "RetentionPolicy",
    "RetentionRule",
    "purge",
    "run_retention",
]

log = logging.getLogger(__name__)

DAY_MS = 86_400_000


def _check_keep(value: int | None, what: str) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        raise InvalidInput(
            f"{what} must be a positive number of milliseconds or None, got {value!r}"
        )
    return value


@frozen(kw_only=True)
class RetentionRule:
    """How long the points matched by ``selector`` keep raw samples and each rollup tier."""

    selector: str
    raw_ms: int | None = field(default=None)
    rollup_ms: Mapping[Resolution, int | None] = field(factory=dict)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.selector, str) or not self.selector:
            raise InvalidInput(f"retention selector must be a non-empty string: {self.selector!r}")
        _check_keep(self.raw_ms, f"retention raw for {self.selector}")
        for tier, keep in self.rollup_ms.items():
            if tier not in TIER_WIDTH_MS:
                raise InvalidInput(f"retention for {self.selector}: not a rollup tier: {tier!r}")
            _check_keep(keep, f"retention {tier.value} for {self.selector}")

    def matches(self, point_id: str) -> bool:
        if self.selector == "*":
            return True
        if self.selector.endswith("*"):
            return point_id.startswith(self.selector[:-1])
        return point_id == self.selector


def _rule(selector: str, keeps: Mapping[str, int | None]) -> RetentionRule:
    return RetentionRule(
        selector=selector,
        raw_ms=keeps["raw"],
        rollup_ms={Resolution.FIVE_MIN: keeps["5m"], Resolution.HOUR: keeps["1h"]},
    )


@frozen(kw_only=True)
class RetentionPolicy:
    """Ordered rules (first match wins) and how big one delete batch may be."""

    rules: Sequence[RetentionRule] = ()
    batch_rows: int = 2000

    @classmethod
    def from_config(cls, config: RetentionConfig) -> RetentionPolicy:
        """The policy a service's ``retention`` configuration describes.

        Each selector of each rule becomes a rule, in order, with the keep
        times :meth:`RetentionConfig.resolve` gives it; a final ``*`` rule
        carries the service-wide keep times (none when they all keep forever).
        """
        rules = []
        for override in config.rules:
            keeps = config.resolve(override)
            rules += [_rule(selector, keeps) for selector in override.points]
        defaults = config.resolve(None)
        if any(value is not None for value in defaults.values()):
            rules.append(_rule("*", defaults))
        return cls(rules=tuple(rules), batch_rows=config.batch_rows)

    def rule_for(self, point_id: str) -> RetentionRule | None:
        for rule in self.rules:
            if rule.matches(point_id):
                return rule
        return None


@frozen(kw_only=True)
class PurgeReport:
    samples_deleted: int
    rollup_rows_deleted: int
    batches: int


async def purge(store: HistoryStore, policy: RetentionPolicy, now_ms: int) -> PurgeReport:
    """Apply ``policy`` once to every point of ``store``; return what was deleted."""
    samples = rows = batches = 0
    for point_id in await store.point_ids():
        rule = policy.rule_for(point_id)
        if rule is None:
            continue
        if rule.raw_ms is not None:
            while True:
                n = await store.purge_raw_batch(point_id, now_ms - rule.raw_ms, policy.batch_rows)
                batches += 1
                samples += n
                await trio.lowlevel.checkpoint()
                if n < policy.batch_rows:
                    break
        for tier, keep in rule.rollup_ms.items():
            if keep is None or tier not in store.tiers:
                continue
            while True:
                n = await store.purge_rollup_batch(point_id, tier, now_ms - keep, policy.batch_rows)
                batches += 1
                rows += n
                await trio.lowlevel.checkpoint()
                if n < policy.batch_rows:
                    break
    return PurgeReport(samples_deleted=samples, rollup_rows_deleted=rows, batches=batches)


async def run_retention(
    store: HistoryStore,
    policy: RetentionPolicy,
    clock: Clock,
    *,
    interval_s: float = 3600.0,
    on_report: Callable[[PurgeReport], None] | None = None,
) -> None:
    """Purge now and then every ``interval_s`` seconds, until cancelled.

    ``on_report`` is called with each pass's :class:`PurgeReport`. Errors of
    the store (:class:`~opencrate.errors.StoreError`) propagate.
    """
    while True:
        report = await purge(store, policy, clock.now_ms())
        if on_report is not None:
            on_report(report)
        if report.samples_deleted or report.rollup_rows_deleted:
            log.info(
                "history retention: %d samples and %d rollup rows deleted in %d batches",
                report.samples_deleted,
                report.rollup_rows_deleted,
                report.batches,
            )
        await trio.sleep(interval_s)
