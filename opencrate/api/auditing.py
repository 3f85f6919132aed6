"""Recording API writes in the audit log: the one place that decides who "the user" is."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opencrate.api.context import services
from opencrate.components.audit.store import AuditEntry, AuditStore

__all__ = ["API_USER", "audit_write"]

#: The user recorded for API writes until authentication exists; then this
#: module takes the user from the request instead, and no route changes.
API_USER = "api"


async def audit_write(
    action: str, target: str, detail: Mapping[str, Any] | None = None
) -> AuditEntry:
    """Append one entry for a write this request made; call it after the write succeeded.

    ``action`` is ``<area>.<verb>`` (``node.create``, ``override.set``).
    """
    return (
        await services()
        .get(AuditStore)
        .record(user=API_USER, action=action, target=target, detail=detail)
    )
