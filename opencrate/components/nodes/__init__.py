"""The building model: sites, spaces, equipment and points with their tags (``nodes.db``)."""

from opencrate.runtime.component import ComponentSpec

COMPONENT = ComponentSpec.in_package(
    __name__, "component:build", routes=("routes:blueprint",), commands=("cli:nodes",)
)
