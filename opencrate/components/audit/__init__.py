"""The append-only audit log of every write (``audit.db``)."""

from opencrate.runtime.component import ComponentSpec

COMPONENT = ComponentSpec.in_package(
    __name__, "component:build", routes=("routes:blueprint",), commands=("cli:audit",)
)
