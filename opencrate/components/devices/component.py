"""The devices component: the registry and router the bridges fill, and the commands' service.

Built before the bridges (``opencrate.app.COMPONENTS``), it provides the
:class:`~.registry.DeviceRegistry` and the :class:`~.commands.CommandRouter`
that each bridge's component registers its bridge and writer with. Its one
service runs every writer's timed-command expiry and follows operator
overrides; it starts at level 50, once every bridge (level 40) has its
devices, so that the overrides restored at start find their points.
"""

from __future__ import annotations

import trio

from opencrate.components.devices.commands import CommandRouter
from opencrate.components.devices.registry import DeviceRegistry
from opencrate.components.overrides.store import OverrideStore
from opencrate.runtime.component import BuildContext, Contribution, Parts
from opencrate.runtime.supervisor import Service

__all__ = ["build"]


def build(ctx: BuildContext) -> Parts:
    registry = DeviceRegistry()
    router = CommandRouter()
    overrides = ctx.get(OverrideStore)

    async def run(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(router.run, ctx.bus, overrides)
            task_status.started()

    service = Service(name="device-commands", run=run)
    return Parts(
        provides=(registry, router), contributions=(Contribution(level=50, services=[service]),)
    )
