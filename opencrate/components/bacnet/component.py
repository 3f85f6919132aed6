"""The BACnet component as built into a running system: nothing yet (the bridge comes later).

Its spec contributes only the ``opencrate simulate bacnet`` command.
"""

from __future__ import annotations

from opencrate.runtime.component import BuildContext, Component, Parts

__all__ = ["build"]


def build(ctx: BuildContext) -> Component:
    """An empty component: no stores, no services."""
    return Parts()
