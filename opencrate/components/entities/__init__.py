"""Entities kept beside the node model and imported into it at start (``entities.db``)."""

from opencrate.runtime.component import ComponentSpec

__all__ = ["COMPONENT"]

COMPONENT = ComponentSpec(
    name="entities",
    component="opencrate.components.entities.component:EntitiesComponent",
)
