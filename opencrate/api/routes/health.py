"""``GET /api/health``: start level, stores, quarantined files, services."""

from __future__ import annotations

from typing import Any

import attrs
from quart import Blueprint

from opencrate.api.access import public
from opencrate.api.context import services
from opencrate.api.contract import JSON_OBJECT, responds

blueprint = Blueprint("health", __name__)


@blueprint.get("/health")
@public
@responds(JSON_OBJECT)
async def health() -> tuple[dict[str, Any], int]:
    """200 with ``status: ok`` once level 60 is reached and every store can write.

    ``degraded`` when a store's file was quarantined at start, when a store's
    writes fail (``fault``: disk full, read-only, I/O error; it clears by itself
    at the next write that commits), or when a service says so (the PostgreSQL
    history service while its server is unreachable).
    """
    svc = services()
    supervisor = svc.supervisor
    level = supervisor.level if supervisor else 0
    stores: dict[str, Any] = {}
    degraded = False
    for store in svc.stores():
        stats = store.statistics()
        entry: dict[str, Any] = {
            "schema_version": stats.schema_version,
            "queue_depth": stats.queue_depth,
            "commands_served": stats.commands_served,
            "closed": stats.closed,
            "wal_bytes": stats.wal_bytes,
            "status": "degraded" if stats.degraded else "ok",
        }
        degraded = degraded or stats.degraded
        if stats.quarantined is not None:
            entry["quarantined"] = attrs.asdict(stats.quarantined)
        if stats.fault is not None:
            entry["fault"] = attrs.asdict(stats.fault)
        if stats.detail is not None:
            entry["detail"] = attrs.asdict(stats.detail)
        stores[stats.name] = entry
    body: dict[str, Any] = {
        "status": "degraded" if degraded else ("ok" if level >= 60 else "starting"),
        "level": level,
        "stores": stores,
    }
    if supervisor is not None:
        body["services"] = [attrs.asdict(s) for s in supervisor.statistics().services]
    history = _persistence(svc)
    if history is not None:
        body["persistence"] = history
        if history["status"] != "ok":
            body["status"] = "degraded"
    return body, 200


def _persistence(svc: Any) -> dict[str, Any] | None:
    """The history services' state, as ``GET /api/persistence/health`` has it in full."""
    from opencrate.components.history.setup import Persistence

    try:
        persistence = svc.get(Persistence)
    except LookupError:  # a system built without the history component (tests)
        return None
    full = persistence.health()
    return {"status": full["status"], "services": full["services"]}
