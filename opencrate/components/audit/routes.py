"""``GET /api/audit``: the audit log, newest first, paged."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from quart import Blueprint

from opencrate.api.access import Role, requires
from opencrate.api.context import services
from opencrate.api.contract import list_of, query, record_component, responds
from opencrate.api.params import decode_cursor, encode_cursor
from opencrate.api.wire import PageQuery, Text
from opencrate.components.audit.store import AuditEntry, AuditStore
from opencrate.runtime.records import to_json

blueprint = Blueprint("audit", __name__)

_LISTING = "audit"

AUDIT_ENTRY = record_component(AuditEntry)


class AuditQuery(PageQuery, kw_only=True):
    user: Text | None = None
    action: Text | None = None


class AuditPage(msgspec.Struct):
    items: Annotated[list[Any], list_of(AUDIT_ENTRY)]
    next_cursor: str | None


@blueprint.get("/audit")
# Who did what is for admins: details name users, tokens and configuration.
@requires(Role.ADMIN)
@query(AuditQuery)
@responds(AuditPage)
async def audit_log(query_args: AuditQuery) -> dict[str, Any]:
    """Audit entries newest first: ``{"items": [...], "next_cursor": str | null}``.

    Query: ``limit`` (1..500, default 100), ``cursor`` (the ``next_cursor`` of
    the previous page), ``user`` and ``action`` (exact match). Each item has
    ``id``, ``ts_ms``, ``user``, ``action``, ``target`` and ``detail``.
    ``next_cursor`` is null on the last page. Paging is by id, so entries
    appended while a client pages never shift or repeat items.
    """
    limit = query_args.limit
    before_id = decode_cursor(_LISTING, query_args.cursor, int)
    entries = (
        await services()
        .get(AuditStore)
        .tail(limit + 1, before_id=before_id, user=query_args.user, action=query_args.action)
    )
    page = entries[:limit]
    more = len(entries) > limit
    return {
        "items": [to_json(entry) for entry in page],
        "next_cursor": encode_cursor(_LISTING, page[-1].id) if more else None,
    }
