"""``GET /api/bus/stats``: event bus, store actor and point table statistics."""

from __future__ import annotations

from typing import Any

import attrs
from quart import Blueprint

from opencrate.api.access import Role, requires
from opencrate.api.context import services
from opencrate.api.contract import JSON_OBJECT, responds
from opencrate.components.points.store import PointStore

blueprint = Blueprint("bus", __name__)


@blueprint.get("/bus/stats")
@requires(Role.VIEWER)
@responds(JSON_OBJECT)
async def bus_stats() -> dict[str, Any]:
    """Counters that show whether the system keeps up.

    ``bus.published`` counts every event published; each entry of
    ``bus.subscribers`` has the subscriber's ``name``, the event types it takes
    (``keys``, empty for all), ``capacity``, current ``depth``, ``delivered``,
    ``dropped`` (events it lost because its queue was full) and
    ``lag_reports`` (``Lagged`` markers it was sent). ``stores`` has one entry
    per store actor (queue depth, commands served and failed, batch sizes,
    last commit time, and ``detail``: the store's own figures or null);
    ``points`` is the in-memory point table's counters.
    """
    svc = services()
    return {
        "bus": attrs.asdict(svc.bus.statistics()),
        "stores": {
            stats.name: attrs.asdict(stats) for stats in (s.statistics() for s in svc.stores())
        },
        "points": attrs.asdict(svc.get(PointStore).statistics()),
    }
