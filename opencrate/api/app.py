"""The quart-trio application: one blueprint per route group, errors in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from quart import Blueprint
from quart_trio import QuartTrio

from opencrate.api.context import EXTENSION_KEY
from opencrate.api.errors import register_error_handlers

if TYPE_CHECKING:
    from opencrate.app import Services

__all__ = ["create_app", "route_blueprints"]


def route_blueprints() -> list[Blueprint]:
    """Every route group, each a module in :mod:`opencrate.api.routes`."""
    from opencrate.api import openapi
    from opencrate.api.routes import bus, health, ui, ws
    from opencrate.components.alarms import routes as alarms
    from opencrate.components.audit import routes as audit
    from opencrate.components.eventlog import routes as events
    from opencrate.components.history import config_routes as persistence
    from opencrate.components.history import routes as history
    from opencrate.components.nodes import routes as nodes
    from opencrate.components.overrides import routes as overrides
    from opencrate.components.points import routes as points
    from opencrate.components.properties import routes as properties

    return [
        health.blueprint,
        openapi.blueprint,
        nodes.blueprint,
        points.blueprint,
        overrides.blueprint,
        bus.blueprint,
        audit.blueprint,
        events.blueprint,
        alarms.blueprint,
        properties.blueprint,
        history.blueprint,
        persistence.blueprint,
        ws.blueprint,
        ui.blueprint,
    ]


def create_app(services: Services) -> QuartTrio:
    app = QuartTrio("opencrate")
    app.extensions[EXTENSION_KEY] = services
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep our field order
    register_error_handlers(app)
    for blueprint in route_blueprints():
        # Under /api unless the blueprint declares its own prefix (the operator page: "").
        prefix = "/api" if blueprint.url_prefix is None else blueprint.url_prefix
        app.register_blueprint(blueprint, url_prefix=prefix)
    return app
