"""restoreOnStartup: points with no value get their last persisted value before anyone reads them.

Runs as a step of start level 30, after the node model is loaded (20) and
before bridges (40) and engines (50) start, so rules and programs never see a
point that should have been restored (openHAB's startup race, which we do not
have).

For each service whose configuration gives some point ``restoreOnStartup``:

1. the candidate points: ``known_points`` (the node model's points) that the
   service restores and that have no value yet, mapped to their storage
   names (aliases); with no ``known_points``, every point the service has
   history for;
2. **one** ``last_states`` query for all of them (not one per point: 10,000
   points restore in one round trip);
3. when several services restore the same point, the newest sample wins.

Each point is then set with :meth:`PointStore.restore`, which keeps the
persisted timestamp, publishes nothing (a restore is not a new reading) and
does nothing when a value arrived in the meantime.

Errors: a service that fails is logged and skipped (its points stay
unknown); the report says which. Cancellation: nothing is written to the
PointStore until every query has returned, so a cancelled restore restores
nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping

from attrs import frozen

from opencrate.components.history.config.model import (
    RESTORE_ON_STARTUP,
    PersistenceConfig,
    SelectorKind,
)
from opencrate.components.history.selectors import Hierarchy, line_selects
from opencrate.components.history.service import PersistenceService, Sample
from opencrate.components.history.strategies import PointPlan, compile_plan, storage_id
from opencrate.components.points.store import PointStore

__all__ = ["RestoreReport", "restore_on_startup"]

log = logging.getLogger(__name__)

_NONE: frozenset[str] = frozenset()


@frozen(kw_only=True)
class RestoreReport:
    candidates: int  # points some service would restore
    restored: int  # points that got a value
    missing: int  # candidates with no persisted sample anywhere
    already_set: int  # had a value by the time the restore ran
    failed_services: tuple[str, ...]
    seconds: float


async def restore_on_startup(
    *,
    config: PersistenceConfig,
    services: Mapping[str, PersistenceService],
    points: PointStore,
    hierarchy: Hierarchy,
    known_points: Iterable[str] | None = None,
) -> RestoreReport:
    """Restore every configured point with no value; see the module docstring."""
    started = time.perf_counter()
    known = None if known_points is None else list(known_points)
    best: dict[str, Sample] = {}
    candidates: set[str] = set()
    failed: list[str] = []
    for service_cfg in config.services:
        service = services.get(service_cfg.name)
        if service is None or not service_cfg.uses("restoreOnStartup"):
            continue
        # storage name -> the point ids stored under it
        wanted: dict[str, list[str]] | None = None
        if known is not None:
            wanted = {}
            # Only the lines that restore matter, and the hierarchy only if a line uses node*:
            # this loop runs for every point of the building before level 40.
            lines = [item for item in service_cfg.items if RESTORE_ON_STARTUP in item.strategies]
            tree = any(
                sel.kind is SelectorKind.SUBTREE
                for item in service_cfg.items
                for sel in item.selectors
            )
            aliased = any(item.alias is not None for item in service_cfg.items)
            for point_id in known:
                state = points.get(point_id)
                if state is not None and state.value is not None:
                    continue
                ancestors = hierarchy.ancestors(point_id) if tree else _NONE
                if not any(line_selects(item, point_id, ancestors) for item in lines):
                    continue
                name = (
                    storage_id(service_cfg, point_id, ancestors)
                    if aliased
                    else service_cfg.aliases.get(point_id, point_id)
                )
                wanted.setdefault(name, []).append(point_id)
        try:
            last = await service.last_states(None if wanted is None else list(wanted))
        except Exception as exc:  # one service down must not stop the start
            log.error("restoreOnStartup: service %s failed: %s", service_cfg.name, exc)
            failed.append(service_cfg.name)
            continue
        reverse = {alias: point for point, alias in service_cfg.aliases.items()}
        shared: dict[tuple[int, ...], PointPlan] = {}  # see compile_plan
        for stored_as, sample in last.items():
            if wanted is not None:
                point_ids = wanted.get(stored_as, [])
            else:
                point_id = reverse.get(stored_as, stored_as)
                plan = compile_plan(
                    service_cfg, point_id, hierarchy.ancestors(point_id), shared=shared
                )
                point_ids = [point_id] if plan.restore else []
            for point_id in point_ids:
                current = best.get(point_id)
                if current is None or sample.ts_ms > current.ts_ms:
                    best[point_id] = sample
        candidates.update(p for ids in (wanted or {}).values() for p in ids)
    candidates.update(best)
    restored = already = 0
    for point_id, sample in best.items():
        if points.restore(point_id, sample.value, ts_ms=sample.ts_ms):
            restored += 1
        else:
            already += 1
    report = RestoreReport(
        candidates=len(candidates),
        restored=restored,
        missing=len(candidates) - len(best),
        already_set=already,
        failed_services=tuple(failed),
        seconds=time.perf_counter() - started,
    )
    log.info("restoreOnStartup: %s", report)
    return report
