"""A stop-gap: the device-health model's old home and keyword form, for code not yet moved.

The model now lives in :mod:`opencrate.components.devices.health`, shared by
every bridge, and is made from a
:class:`~opencrate.components.devices.health.HealthSettings` record. The
BACnet poller (``opencrate/components/bacnet/poller.py``, being written
alongside) still imports it from here with the backoff as keywords; this
module keeps that working until it moves to::

    DeviceHealth(key, HealthSettings(backoff_initial_s=..., backoff_max_s=...,
                 down_after=...), protocol="bacnet", rng=...)

and is then deleted. New code must not import it.
"""

from __future__ import annotations

import random

from opencrate.components.devices import health
from opencrate.components.devices.health import DeviceState, DeviceStatistics, Retry

__all__ = ["DeviceHealth", "DeviceState", "DeviceStatistics", "Retry"]


class DeviceHealth(health.DeviceHealth):
    """:class:`opencrate.components.devices.health.DeviceHealth`, its settings as keywords."""

    def __init__(
        self,
        device_key: str,
        *,
        backoff_initial_s: float,
        backoff_max_s: float,
        down_after: int,
        rng: random.Random,
        jitter: float = 0.1,
        protocol: str = "modbus",
    ) -> None:
        settings = health.HealthSettings(
            backoff_initial_s=backoff_initial_s, backoff_max_s=backoff_max_s, down_after=down_after
        )
        super().__init__(device_key, settings, protocol=protocol, rng=rng, jitter=jitter)
