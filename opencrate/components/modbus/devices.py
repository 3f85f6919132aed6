"""Modbus TCP device configuration: one ``[[modbus.device]]`` table -> :class:`ModbusDevice`.

.. code-block:: toml

    [[modbus.device]]
    id = "ahu-1"              # the bindings' device_id (required)
    host = "10.0.0.21"        # (required)
    port = 502
    unit_id = 1               # 0..255
    timeout = "3s"            # per request
    max_registers = 125       # registers per read request (holding / input), 1..125
    max_bits = 2000           # bits per read request (coil / discrete_input), 1..2000
    max_gap = 16              # unneeded registers (bits) one read may span to merge two ranges
    poll_interval = "10s"     # default of the device's points (a binding may set its own)
    backoff_initial = "1s"    # first retry delay after a failure, doubling ...
    backoff_max = "60s"       # ... up to this
    down_after = 3            # consecutive failed attempts before DeviceDown
    enabled = true

Durations are ``"500ms"``, ``"3s"``, ``"2m"`` ... or a number of seconds (as in
scenarios). Every error is a :class:`~opencrate.errors.ConfigError` whose key is
``<where>.<key>`` and whose message names the bad value; the caller passes
``where`` (``modbus.device[0]``) and locates the file and line
(:meth:`opencrate.config.Settings.located`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from attrs import frozen

from opencrate.components.devices.health import HealthSettings
from opencrate.errors import ConfigError, InvalidInput
from opencrate.validation import (
    check_text,
    parse_duration_s,
    setting_int,
    setting_seconds,
)

__all__ = [
    "DEVICE_KEYS",
    "MAX_READ_BITS",
    "MAX_READ_REGISTERS",
    "ModbusDevice",
    "parse_devices",
    "parse_duration_s",
    "parse_poll_interval",
]

#: The protocol's limits per read request (Modbus Application Protocol v1.1b3, FC 1-4).
MAX_READ_REGISTERS = 125
MAX_READ_BITS = 2000

#: The keys a device table may have.
DEVICE_KEYS = frozenset(
    {
        "id",
        "host",
        "port",
        "unit_id",
        "timeout",
        "max_registers",
        "max_bits",
        "max_gap",
        "poll_interval",
        "backoff_initial",
        "backoff_max",
        "down_after",
        "enabled",
    }
)

# Longest id or host name we take (a DNS name is at most 253 characters).
_MAX_TEXT = 253


def parse_poll_interval(binding: Mapping[str, Any], *, where: str) -> float | None:
    """A binding's own ``poll_interval`` in seconds, or ``None`` (the device's applies)."""
    raw = binding.get("poll_interval")
    return None if raw is None else parse_duration_s(raw, key=f"{where}.poll_interval")


def _text(data: Mapping[str, Any], key: str, where: str) -> str:
    if key not in data:
        raise ConfigError(f"{key!r} is required", key=f"{where}.{key}")
    raw = data[key]
    try:
        text = check_text(raw, key, max_length=_MAX_TEXT, controls_ok=False)
    except InvalidInput as exc:
        raise ConfigError(f"{exc.message}, got {raw!r}", key=f"{where}.{key}") from None
    if text != text.strip():
        raise ConfigError(f"must not start or end with spaces, got {raw!r}", key=f"{where}.{key}")
    return text


@frozen(kw_only=True)
class ModbusDevice:
    """One Modbus TCP device (a unit id behind a host and port), as configured."""

    id: str
    host: str
    port: int = 502
    unit_id: int = 1
    timeout_s: float = 3.0
    max_registers: int = MAX_READ_REGISTERS
    max_bits: int = MAX_READ_BITS
    max_gap: int = 16
    poll_interval_s: float = 10.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    down_after: int = 3
    enabled: bool = True

    @property
    def health(self) -> HealthSettings:
        """Its backoff and ``down_after``, for its :class:`~.DeviceHealth`."""
        return HealthSettings(
            backoff_initial_s=self.backoff_initial_s,
            backoff_max_s=self.backoff_max_s,
            down_after=self.down_after,
        )

    @classmethod
    def from_table(cls, table: Mapping[str, Any], *, where: str) -> ModbusDevice:
        """Read one device table (see the module docstring for its keys).

        Raises :class:`~opencrate.errors.ConfigError` with key ``where.<key>`` for the
        first thing wrong (``where`` itself when ``table`` is not a table): an unknown
        key, a missing or blank ``id`` / ``host``, a number out of its range, a
        duration that is not one, ``backoff_max`` below ``backoff_initial``, an
        ``enabled`` that is not a boolean.
        """
        if not isinstance(table, Mapping):
            raise ConfigError(
                f"must be a table of device settings, got {type(table).__name__}", key=where
            )
        unknown = sorted(str(k) for k in table if k not in DEVICE_KEYS)
        if unknown:
            raise ConfigError(
                f"unknown device setting (known: {', '.join(sorted(DEVICE_KEYS))})",
                key=f"{where}.{unknown[0]}",
            )
        device_id = _text(table, "id", where)
        host = _text(table, "host", where)
        port = setting_int(table, "port", where, 502, 1, 65535)
        unit_id = setting_int(table, "unit_id", where, 1, 0, 255)
        max_registers = setting_int(
            table, "max_registers", where, MAX_READ_REGISTERS, 1, MAX_READ_REGISTERS
        )
        max_bits = setting_int(table, "max_bits", where, MAX_READ_BITS, 1, MAX_READ_BITS)
        max_gap = setting_int(table, "max_gap", where, 16, 0, MAX_READ_BITS)
        down_after = setting_int(table, "down_after", where, 3, 1, 1_000_000)
        timeout = setting_seconds(table, "timeout", where, 3.0)
        interval = setting_seconds(table, "poll_interval", where, 10.0)
        initial = setting_seconds(table, "backoff_initial", where, 1.0)
        backoff_max = setting_seconds(table, "backoff_max", where, 60.0)
        if backoff_max < initial:
            raise ConfigError(
                f"must not be below backoff_initial ({initial:g}s), got {table['backoff_max']!r}",
                key=f"{where}.backoff_max",
            )
        enabled = table.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigError(f"must be true or false, got {enabled!r}", key=f"{where}.enabled")
        return cls(
            id=device_id,
            host=host,
            port=port,
            unit_id=unit_id,
            timeout_s=timeout,
            max_registers=max_registers,
            max_bits=max_bits,
            max_gap=max_gap,
            poll_interval_s=interval,
            backoff_initial_s=initial,
            backoff_max_s=backoff_max,
            down_after=down_after,
            enabled=enabled,
        )


def parse_devices(
    tables: Iterable[Mapping[str, Any]], *, where: str = "modbus.device"
) -> dict[str, ModbusDevice]:
    """Read ``[[modbus.device]]`` tables into devices by id, in their order.

    The ``i``-th table's errors name ``where[i].<key>``; a second device with an id
    already taken is a ConfigError on its ``id``. Raises ConfigError on ``where``
    when ``tables`` is not an array of tables.
    """
    if isinstance(tables, str | bytes | Mapping) or not isinstance(tables, Iterable):
        raise ConfigError(
            f"must be an array of tables ([[{where}]]), got {type(tables).__name__}", key=where
        )
    devices: dict[str, ModbusDevice] = {}
    for index, table in enumerate(tables):
        device = ModbusDevice.from_table(table, where=f"{where}[{index}]")
        if device.id in devices:
            raise ConfigError(
                f"device id {device.id!r} is already used by another device",
                key=f"{where}[{index}].id",
            )
        devices[device.id] = device
    return devices
