"""Entities kept beside the node model and imported into it at start (``entities.db``)."""

from opencrate.runtime.component import ComponentSpec

COMPONENT = ComponentSpec.in_package(__name__, "component:build")
