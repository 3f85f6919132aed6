"""Recording API writes in the audit log: the one place that decides who "the user" is."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opencrate.api.authentication import current_principal
from opencrate.api.context import services
from opencrate.components.audit.store import AuditEntry, AuditStore

__all__ = ["audit_write", "current_user"]


def current_user() -> str:
    """The user name of the request's principal: who acknowledges, shelves, overrides."""
    return current_principal().user


async def audit_write(
    action: str, target: str, detail: Mapping[str, Any] | None = None
) -> AuditEntry:
    """Append one entry for a write this request made; call it after the write succeeded.

    ``action`` is ``<area>.<verb>`` (``node.create``, ``override.set``). The
    user is the request's principal as the audit log names it: ``alice``, or
    ``alice (token backup-script)`` for a request with one of her API tokens.
    """
    return (
        await services()
        .get(AuditStore)
        .record(user=current_principal().audit_name, action=action, target=target, detail=detail)
    )
