"""Operator overrides of points, with expiry and history (``overrides.db``)."""

from opencrate.runtime.component import ComponentSpec

COMPONENT = ComponentSpec.in_package(__name__, "component:build", routes=("routes:blueprint",))
