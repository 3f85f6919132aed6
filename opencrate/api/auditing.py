"""Recording API writes in the audit log: the one place that decides who "the user" is.

A route writes its store first and the audit entry second (two files, two
commits), and answers after both: the audit log never names a change that
was not stored. When the audit write fails after the store's commit (a full
disk under ``audit.db``), the change is stored but not audited; the caller
gets the error (503), and the log says which change it was, at ERROR, so it
can be found. A crash between the two commits leaves the same; see
``docs/how-to/operations.md``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from opencrate.api.authentication import current_principal
from opencrate.api.context import services
from opencrate.components.audit.store import AuditEntry, AuditStore
from opencrate.errors import OpenCrateError

__all__ = ["audit_write", "current_user"]

log = logging.getLogger(__name__)


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
    user = current_principal().audit_name
    try:
        return (
            await services()
            .get(AuditStore)
            .record(user=user, action=action, target=target, detail=detail)
        )
    except OpenCrateError as exc:
        log.error(
            "audit: %s %s by %s is stored but has no audit entry: %s", action, target, user, exc
        )
        raise
