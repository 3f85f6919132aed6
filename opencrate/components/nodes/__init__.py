"""The building model: sites, spaces, equipment and points with their tags (``nodes.db``)."""

from opencrate.runtime.component import ComponentSpec

__all__ = ["COMPONENT"]

COMPONENT = ComponentSpec(
    name="nodes",
    component="opencrate.components.nodes.component:NodesComponent",
    routes=("opencrate.components.nodes.routes:blueprint",),
    commands=("opencrate.components.nodes.cli:nodes",),
)
