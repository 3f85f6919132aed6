"""The operator page: ``GET /`` redirects to ``GET /ui/``, which serves a static trend viewer.

The page is three files shipped in the package (``opencrate/api/static/``):
``index.html``, ``app.js`` and ``app.css``. No build step and nothing loaded
from the internet (plant rooms are often offline): the script talks to the
JSON API and the websocket of this same server.

This is the one blueprint that is not under ``/api``: it declares its own
``url_prefix`` (the empty one), which :func:`opencrate.api.app.create_app`
keeps. Only the files named in :data:`ASSETS` are served, so a path in the URL
can never reach anything else on disk. Responses carry an ETag and
``Cache-Control: no-cache``: a browser revalidates (a cheap 304) and so always
runs the page that matches the server it talks to after an upgrade.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Final

import trio
from quart import Blueprint, Response, redirect, request
from werkzeug.wrappers.response import Response as WerkzeugResponse

from opencrate.api.access import public
from opencrate.errors import NotFound

__all__ = ["ASSETS", "STATIC_DIR", "blueprint"]

blueprint = Blueprint("ui", __name__, url_prefix="")

STATIC_DIR: Final = Path(__file__).resolve().parent.parent / "static"

#: Every file the page consists of, with its content type.
ASSETS: Final[dict[str, str]] = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    # The API reference: renders /api/openapi.json, offline (opencrate/api/openapi.py).
    "docs.html": "text/html; charset=utf-8",
    "docs.js": "text/javascript; charset=utf-8",
}


async def _asset(name: str) -> Response:
    """The file ``name`` of :data:`ASSETS`, or 304 when the client's ETag matches.

    Raises :class:`~opencrate.errors.NotFound` (404) for any other name, so
    nothing outside the three files is ever read.
    """
    content_type = ASSETS.get(name)
    if content_type is None:
        raise NotFound(f"no file {name[:80]!r} in the operator page", field="asset")
    # A thread, not the event loop: a slow disk must not stall the API.
    body = await trio.Path(STATIC_DIR / name).read_bytes()
    response = Response(body, content_type=content_type)
    # The security headers (nosniff, the page's Content-Security-Policy) are
    # the guard's, on every response (opencrate/api/guard.py).
    response.headers["Cache-Control"] = "no-cache"
    response.set_etag(_etag(body))
    return await response.make_conditional(request)


def _etag(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=12).hexdigest()


@blueprint.get("/")
@public
async def root() -> WerkzeugResponse:
    """Redirect (302) to the operator page."""
    return redirect("/ui/")


@blueprint.get("/ui/")
@public
async def page() -> Response:
    """The operator page's HTML."""
    return await _asset("index.html")


@blueprint.get("/ui/<asset>")
@public
async def asset(asset: str) -> Response:
    """One of the page's files (``app.js``, ``app.css``); 404 for any other name."""
    return await _asset(asset)
