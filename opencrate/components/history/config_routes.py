"""Persistence configuration and health over the API.

``GET /api/persistence``            every service: kind, source, default
``GET /api/persistence/health``     per service: stored, lag, errors, PostgreSQL spool; restore
``GET /api/persistence/{service}``  the service's configuration (JSON, or ``?format=persist``)
``PUT /api/persistence/{service}``  replace it: JSON (the TOML model) or ``.persist`` text
                                    (as ``text/x-openhab-persist``)

A replaced configuration is validated first (a 400 names the line and token
for ``.persist`` text, the key path for JSON), saved under the data directory,
and applied at once by the manager (hot reload); the previous one stays in
force when the new one is refused. Kind and options (``dsn`` ...) of a running
service cannot change here (409). A DSN's password is shown masked
(``********``); a PUT that sends the masked DSN back keeps the stored one.
``retention`` (sqlite services) can: a JSON body without it keeps the current
one, ``"retention": null`` removes it, and ``.persist`` text (which has no
retention) keeps it; the running retention follows at once.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from attrs import evolve
from quart import Blueprint, Response, request

from opencrate.api.access import JSON, PERSIST_TEXT, Role, requires
from opencrate.api.auditing import audit_write
from opencrate.api.context import services
from opencrate.api.contract import JSON_OBJECT, Content, query, request_body, responds
from opencrate.components.history.config.model import (
    ServiceConfig,
    retention_to_dict,
    service_to_dict,
)
from opencrate.components.history.config.persist_render import render_persist
from opencrate.components.history.config.persist_syntax import parse_persist
from opencrate.components.history.config.redact import unmask_dsn
from opencrate.components.history.config.toml import service_from_mapping
from opencrate.components.history.setup import Persistence
from opencrate.errors import InvalidInput, NotFound
from opencrate.validation import parse_json_object

__all__ = ["blueprint"]

blueprint = Blueprint("persistence", __name__)

_PERSIST_TEXT = Content("text/plain", {"type": "string"}, ".persist text")
_PERSIST_BODY = Content(PERSIST_TEXT, {"type": "string"}, ".persist text")


class ServiceSummary(msgspec.Struct):
    service: str
    kind: str
    source: str
    lines: int


class ServiceList(msgspec.Struct):
    default: str | None
    items: list[ServiceSummary]


class ConfigQuery(msgspec.Struct, kw_only=True):
    format: Literal["json", "persist"] = "json"


def _config_json(service: ServiceConfig, default: str | None) -> dict[str, Any]:
    return {
        "service": service.name,
        "source": service.source,
        "default": service.name == default,
        **service_to_dict(service),
    }


@blueprint.get("/persistence")
@requires(Role.VIEWER)
@responds(ServiceList)
async def list_services() -> dict[str, Any]:
    """The configured services."""
    cfg = services().get(Persistence).config.value
    default = cfg.default_service()
    return {
        "default": default,
        "items": [
            {"service": s.name, "kind": s.kind, "source": s.source, "lines": len(s.items)}
            for s in cfg.services
        ],
    }


@blueprint.get("/persistence/health")
@requires(Role.VIEWER)
@responds(JSON_OBJECT)
async def health() -> dict[str, Any]:
    """Per-service counters and reachability, and the last restoreOnStartup."""
    return services().get(Persistence).health()


@blueprint.get("/persistence/<service>")
@requires(Role.VIEWER)
@query(ConfigQuery)
@responds((JSON_OBJECT, _PERSIST_TEXT))
async def get_config(service: str, query_args: ConfigQuery) -> dict[str, Any] | Response:
    """A service's configuration as JSON (the TOML model), with its source; 404 if unknown.

    ``?format=persist`` returns it as ``.persist`` text instead (``text/plain``).
    """
    cfg = services().get(Persistence).config.value
    found = cfg.get(service)
    if found is None:
        raise NotFound(f"no persistence service {service!r}", service=service)
    if query_args.format == "persist":
        return Response(render_persist(found), mimetype="text/plain")
    return _config_json(found, cfg.default_service())


@blueprint.put("/persistence/<service>")
@requires(Role.ADMIN, content_types=(JSON, PERSIST_TEXT))
@request_body((JSON_OBJECT, _PERSIST_BODY))
@responds(JSON_OBJECT)
async def put_config(service: str) -> dict[str, Any]:
    """Replace a service's configuration (JSON model, or ``.persist`` text).

    ``.persist`` text goes as ``text/x-openhab-persist``, not ``text/plain``:
    any web page may send ``text/plain`` cross-site, so the guard refuses it (415).
    """
    persistence = services().get(Persistence)
    current = persistence.config.value.get(service)
    if current is None or service not in persistence.services:
        raise NotFound(f"no persistence service {service!r}", service=service)
    if request.mimetype == PERSIST_TEXT:
        raw = await request.get_data()
        assert isinstance(raw, bytes)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput("request body is not UTF-8 text") from None
        new = parse_persist(text, service=service, kind=current.kind, file="request body")
        # .persist has no retention: the service keeps the one it has.
        new = evolve(new, retention=current.retention)
    else:
        data = await request.get_data()
        assert isinstance(data, bytes)
        body = parse_json_object(
            data,
            expected=f"a JSON object (or .persist text as {PERSIST_TEXT})",
        )
        if "persist" in body:
            raise InvalidInput("'persist' (a server-side file) cannot be set through the API")
        # Options not given keep their current values; given ones must match (checked below).
        body = {"kind": current.kind, **dict(current.options), **body}
        # A DSN sent back as GET showed it (password masked) means the stored one.
        dsn, stored = body.get("dsn"), current.options.get("dsn")
        if isinstance(dsn, str) and isinstance(stored, str):
            body["dsn"] = unmask_dsn(dsn, stored)
        # Retention likewise: left out keeps the current one, null removes it.
        if "retention" not in body and current.retention is not None:
            body["retention"] = retention_to_dict(current.retention)
        elif "retention" in body and body["retention"] is None:
            del body["retention"]
        body.pop("service", None)
        body.pop("source", None)
        body.pop("default", None)
        new = service_from_mapping(service, body, file="request body")
    saved = await persistence.replace_config(new)
    await audit_write("persistence.config", service, {"lines": len(saved.items)})
    return _config_json(saved, persistence.config.value.default_service())
