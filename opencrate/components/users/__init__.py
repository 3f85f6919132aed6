"""Users, roles, API tokens and login sessions (``users.db``)."""

from opencrate.runtime.component import ComponentSpec

COMPONENT = ComponentSpec.in_package(
    __name__,
    "component:build",
    routes=("routes:blueprint",),
    commands=("cli:users", "cli:login", "cli:logout"),
    sections=("users",),
)
