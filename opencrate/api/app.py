"""The quart-trio application: one blueprint per route group, errors in one place."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from quart import Blueprint
from quart_trio import QuartTrio

from opencrate.api import authentication, guard
from opencrate.api.context import EXTENSION_KEY
from opencrate.api.errors import register_error_handlers
from opencrate.api.schema import install

if TYPE_CHECKING:
    from opencrate.app import Services
    from opencrate.runtime.component import ComponentSpec

__all__ = ["create_app", "route_blueprints"]


def route_blueprints(components: Sequence[ComponentSpec]) -> list[Blueprint]:
    """Every route group: the shared ones, then each component's, in list order."""
    from opencrate.api import openapi
    from opencrate.api.routes import bus, health, ui, ws

    declared = [bp for spec in components for bp in spec.blueprints()]
    return [
        health.blueprint,
        openapi.blueprint,
        bus.blueprint,
        *declared,
        ws.blueprint,
        ui.blueprint,
    ]


def create_app(services: Services) -> QuartTrio:
    app = QuartTrio("opencrate")
    app.extensions[EXTENSION_KEY] = services
    install(app)  # quart-schema: the OpenAPI document, our JSON provider, body reads
    register_error_handlers(app)
    for blueprint in route_blueprints(services.components):
        # Under /api unless the blueprint declares its own prefix (the operator page: "").
        prefix = "/api" if blueprint.url_prefix is None else blueprint.url_prefix
        app.register_blueprint(blueprint, url_prefix=prefix)
    # First among the request hooks: Host, then body size and type (then, when
    # installed after it, authentication). After the blueprints: it reads their limits.
    guard.install(app)
    authentication.install(app)
    return app
