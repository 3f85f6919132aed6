"""Staggered starts: spread many devices' first polls over their interval (no I/O).

Hundreds of devices started together would otherwise poll in step, every
interval, as one burst on the network and on the PointStore. Device ``i`` of
``n`` starts ``i / n`` of the way into its own poll interval: evenly spread,
and the same every run for the same device list (no randomness, so a test and
an operator see the same schedule).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from opencrate.components.modbus.devices import ModbusDevice

__all__ = ["device_offsets", "start_offsets"]


def start_offsets(count: int, interval_s: float) -> list[float]:
    """``count`` start offsets in ``[0, interval_s)``, evenly apart: ``i * interval_s / count``.

    Raises ValueError for a negative ``count`` or an ``interval_s`` that is not a
    finite number above zero.
    """
    if count < 0 or not (math.isfinite(interval_s) and interval_s > 0):
        raise ValueError(f"cannot stagger {count} starts over {interval_s!r}s")
    return [i * interval_s / count for i in range(count)]


def device_offsets(devices: Iterable[ModbusDevice]) -> dict[str, float]:
    """Each device id -> its first poll's delay: ``i / n`` of its own ``poll_interval_s``.

    Devices are taken in the order given (the configuration's); disabled devices
    are skipped, so they leave no hole in the spread. A device's points with a
    shorter interval of their own start at the same delay, reduced into that
    interval by the poller (``offset % interval``).
    """
    enabled = [d for d in devices if d.enabled]
    fractions = start_offsets(len(enabled), 1.0)
    return {d.id: f * d.poll_interval_s for d, f in zip(enabled, fractions, strict=True)}
