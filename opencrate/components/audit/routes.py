"""``GET /api/audit``: the audit log, newest first, paged."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, request

from opencrate.api.access import Role, requires
from opencrate.api.context import services
from opencrate.api.params import decode_cursor, encode_cursor, page_limit, str_arg
from opencrate.components.audit.store import AuditStore
from opencrate.runtime.records import to_json

blueprint = Blueprint("audit", __name__)

_LISTING = "audit"


@blueprint.get("/audit")
@requires(Role.VIEWER)
async def audit_log() -> dict[str, Any]:
    """Audit entries newest first: ``{"items": [...], "next_cursor": str | null}``.

    Query: ``limit`` (1..500, default 100), ``cursor`` (the ``next_cursor`` of
    the previous page), ``user`` and ``action`` (exact match). Each item has
    ``id``, ``ts_ms``, ``user``, ``action``, ``target`` and ``detail``.
    ``next_cursor`` is null on the last page. Paging is by id, so entries
    appended while a client pages never shift or repeat items.
    """
    limit = page_limit()
    before_id = decode_cursor(_LISTING, request.args.get("cursor"), int)
    entries = (
        await services()
        .get(AuditStore)
        .tail(limit + 1, before_id=before_id, user=str_arg("user"), action=str_arg("action"))
    )
    page = entries[:limit]
    more = len(entries) > limit
    return {
        "items": [to_json(entry) for entry in page],
        "next_cursor": encode_cursor(_LISTING, page[-1].id) if more else None,
    }
