"""``GET /api/openapi.json``: the OpenAPI 3.1 document, generated from the routes' models.

quart-schema builds it (:class:`opencrate.api.schema.Provider`) from what each
route declares with :mod:`opencrate.api.contract`: query parameters, request
bodies and responses as typed models, each operation's summary and
description from its view's docstring, its tag from its blueprint, its
security from its access rule. ``tests/api/test_openapi.py`` checks that every
``/api`` route is present with a summary, its responses and, when it takes
one, its body. The websocket (``/api/ws``) is not an HTTP operation and is
left out; ``docs/reference/api.md`` describes it.

The document is read in a browser at ``/ui/docs.html``, a page shipped in the
package that loads nothing from the internet.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Quart, current_app
from quart_schema import QuartSchema

from opencrate.api.access import Role, requires
from opencrate.api.contract import Content, responds

__all__ = ["blueprint", "openapi_document"]

blueprint = Blueprint("openapi", __name__)

_CACHE_KEY = "opencrate.openapi"


def openapi_document(app: Quart) -> dict[str, Any]:
    """The OpenAPI document for every ``/api`` route of ``app`` (a pure function of its routes)."""
    extension: QuartSchema = app.extensions["QUART_SCHEMA"]
    return extension.openapi_provider.schema()


@blueprint.get("/openapi.json")
@requires(Role.VIEWER)
@responds(Content("application/json", {"type": "object", "required": ["openapi", "paths"]}))
async def openapi_json() -> dict[str, Any]:
    """This API as an OpenAPI 3.1 document, generated from the routes' declared models."""
    cached: dict[str, Any] | None = current_app.extensions.get(_CACHE_KEY)
    if cached is None:
        # Routes are fixed once the app serves; build the document once.
        cached = openapi_document(current_app)
        current_app.extensions[_CACHE_KEY] = cached
    return cached
