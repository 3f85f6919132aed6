"""The append-only audit log of every write (``audit.db``)."""

from opencrate.runtime.component import ComponentSpec

__all__ = ["COMPONENT"]

COMPONENT = ComponentSpec(
    name="audit",
    component="opencrate.components.audit.component:AuditComponent",
    routes=("opencrate.components.audit.routes:blueprint",),
    commands=("opencrate.components.audit.cli:audit",),
)
