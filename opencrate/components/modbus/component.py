"""The Modbus component: ``[modbus]`` devices, the bridge at level 40, its routes and CLI."""

from __future__ import annotations

from opencrate.components.modbus.bridge import ModbusBridge
from opencrate.components.modbus.devices import parse_devices
from opencrate.components.nodes.store import NodeStore
from opencrate.components.points.store import PointStore
from opencrate.errors import ConfigError
from opencrate.runtime.component import BuildContext, Contribution, Parts
from opencrate.runtime.supervisor import Service

__all__ = ["build"]

_KEYS = frozenset({"device"})


def build(ctx: BuildContext) -> Parts:
    section = ctx.settings.sections.get("modbus") or {}
    for key in section:
        if key not in _KEYS:
            raise ConfigError(
                f"unknown key {key!r} in [modbus] (devices are [[modbus.device]] tables)",
                key=f"modbus.{key}",
            )
    devices = parse_devices(section.get("device", []), where="modbus.device")
    bridge = ModbusBridge(
        devices,
        nodes=ctx.get(NodeStore),
        points=ctx.get(PointStore),
        bus=ctx.bus,
        clock=ctx.clock,
    )
    service = Service(name="modbus", run=bridge.run)
    return Parts(provides=(bridge,), contributions=(Contribution(level=40, services=[service]),))
