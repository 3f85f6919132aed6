"""The ``[bacnet]`` section: where the stack listens, how it scans, polls and subscribes.

.. code-block:: toml

    [bacnet]
    address = "0.0.0.0:47808"     # local interface and UDP port ("host[/prefix][:port]")
    device_instance = 4194301     # OpenCrate's own device object on the network
    network_id = "ip-main"        # the bindings' network_id for devices found here
    foreign_bbmd = "10.0.0.1:47808"  # register as a foreign device (routed networks)
    foreign_ttl = "5m"
    timeout = "3s"                # APDU timeout ...
    retries = 1                   # ... and retries: no answer after timeout x (retries + 1)
    poll_interval = "30s"         # points without COV (a binding may set its own)
    cov = true                    # subscribe where the device supports it
    cov_confirmed = true          # confirmed notifications (acknowledged) or unconfirmed
    cov_lifetime = "5m"           # subscriptions are renewed before this runs out
    monitor_interval = "1m"       # the monitor loop's check of every accepted device
    scan_on_start = true          # a global Who-Is when the bridge starts
    scan_timeout = "3s"           # how long a global or ranged Who-Is collects I-Ams
    max_devices = 1000            # discovered devices kept (an I-Am flood stops here)
    backoff_initial = "5s"        # first retry delay after a failure, doubling ...
    backoff_max = "5m"            # ... up to this
    down_after = 3                # consecutive failed requests before DeviceDown
    enabled = true

    [[bacnet.device]]             # a device known by address: asked by directed Who-Is
    instance = 1001
    address = "10.0.0.21:47808"
    max_per_request = 20          # objects per ReadPropertyMultiple (devices that cannot segment)

Every error is a :class:`~opencrate.errors.ConfigError` whose key is
``bacnet.<key>`` and whose message names the bad value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import frozen

from opencrate.components.devices.health import HealthSettings
from opencrate.errors import ConfigError, InvalidInput
from opencrate.validation import check_text, setting_bool, setting_int, setting_seconds

__all__ = ["BacnetSettings", "KnownDevice", "parse_settings"]

_MAX_INSTANCE = 4_194_303

_KEYS = frozenset(
    {
        "address", "device_instance", "network_id", "foreign_bbmd", "foreign_ttl", "timeout",
        "retries", "poll_interval", "cov", "cov_confirmed", "cov_lifetime", "monitor_interval",
        "scan_on_start", "scan_timeout", "max_devices", "backoff_initial", "backoff_max",
        "down_after", "enabled", "device",
    }
)  # fmt: skip
_DEVICE_KEYS = frozenset({"instance", "address", "max_per_request", "poll_interval"})


@frozen(kw_only=True)
class KnownDevice:
    """A ``[[bacnet.device]]``: a device the bridge asks by address instead of broadcast."""

    instance: int
    address: str
    max_per_request: int | None = None
    poll_interval_s: float | None = None


@frozen(kw_only=True)
class BacnetSettings:
    """The parsed ``[bacnet]`` section (defaults work on a flat BACnet/IP network)."""

    enabled: bool = True
    address: str = "0.0.0.0:47808"
    device_instance: int = 4_194_301
    network_id: str = "ip-main"
    foreign_bbmd: str | None = None
    foreign_ttl_s: float = 300.0
    timeout_s: float = 3.0
    retries: int = 1
    poll_interval_s: float = 30.0
    cov: bool = True
    cov_confirmed: bool = True
    cov_lifetime_s: float = 300.0
    monitor_interval_s: float = 60.0
    scan_on_start: bool = True
    scan_timeout_s: float = 3.0
    max_devices: int = 1000
    backoff_initial_s: float = 5.0
    backoff_max_s: float = 300.0
    down_after: int = 3
    devices: tuple[KnownDevice, ...] = ()

    @property
    def health(self) -> HealthSettings:
        """The retry settings every device of this bridge gets."""
        return HealthSettings(
            backoff_initial_s=self.backoff_initial_s,
            backoff_max_s=self.backoff_max_s,
            down_after=self.down_after,
        )


def _address(data: Mapping[str, Any], key: str, where: str, default: str | None) -> str | None:
    raw = data.get(key, default)
    if raw is None:
        return None
    try:
        text = check_text(raw, key, max_length=300, controls_ok=False)
    except InvalidInput as exc:
        raise ConfigError(f"{exc.message}, got {raw!r}", key=f"{where}.{key}") from None
    host, sep, port = text.rpartition(":")
    if text != text.strip() or not text or (sep and (not host or not port.isdigit())):
        raise ConfigError(
            f"must be 'host[/prefix][:port]' like '10.0.0.5:47808', got {raw!r}",
            key=f"{where}.{key}",
        )
    if sep and not 0 <= int(port) <= 65535:
        raise ConfigError(f"port must be 0-65535, got {raw!r}", key=f"{where}.{key}")
    return text


def _known_device(table: object, where: str) -> KnownDevice:
    if not isinstance(table, Mapping):
        raise ConfigError(f"must be a table, got {table!r}", key=where)
    unknown = sorted(set(table) - _DEVICE_KEYS)
    if unknown:
        raise ConfigError(
            f"unknown key {unknown[0]!r} (expected one of {sorted(_DEVICE_KEYS)})",
            key=f"{where}.{unknown[0]}",
        )
    if "instance" not in table or "address" not in table:
        missing = "instance" if "instance" not in table else "address"
        raise ConfigError(f"{missing!r} is required", key=f"{where}.{missing}")
    address = _address(table, "address", where, None)
    assert address is not None  # required above
    per_request = table.get("max_per_request")
    return KnownDevice(
        instance=setting_int(table, "instance", where, 0, 0, _MAX_INSTANCE),
        address=address,
        max_per_request=None if per_request is None
        else setting_int(table, "max_per_request", where, 1, 1, 200),
        poll_interval_s=setting_seconds(table, "poll_interval", where, 0.0) or None,
    )  # fmt: skip


def parse_settings(section: Mapping[str, Any]) -> BacnetSettings:
    """The ``[bacnet]`` table as settings; ConfigError naming the key for anything wrong."""
    where = "bacnet"
    unknown = sorted(set(section) - _KEYS)
    if unknown:
        raise ConfigError(
            f"unknown key {unknown[0]!r} in [bacnet] (known devices are [[bacnet.device]])",
            key=f"{where}.{unknown[0]}",
        )
    defaults = BacnetSettings()
    network_id = section.get("network_id", defaults.network_id)
    if not isinstance(network_id, str) or not network_id or len(network_id) > 64:
        raise ConfigError(
            f"must be a short name like 'ip-main', got {network_id!r}", key=f"{where}.network_id"
        )
    raw_devices = section.get("device", [])
    if not isinstance(raw_devices, list):
        raise ConfigError("must be an array of tables ([[bacnet.device]])", key=f"{where}.device")
    devices = tuple(_known_device(t, f"{where}.device[{i}]") for i, t in enumerate(raw_devices))
    instances = [d.instance for d in devices]
    if len(set(instances)) != len(instances):
        twice = sorted(i for i in set(instances) if instances.count(i) > 1)[0]
        raise ConfigError(f"device instance {twice} is listed twice", key=f"{where}.device")
    backoff_initial = setting_seconds(section, "backoff_initial", where, defaults.backoff_initial_s)
    backoff_max = setting_seconds(section, "backoff_max", where, defaults.backoff_max_s)
    if backoff_max < backoff_initial:
        raise ConfigError(
            f"must be at least backoff_initial ({backoff_initial}s), got {backoff_max}s",
            key=f"{where}.backoff_max",
        )
    address = _address(section, "address", where, defaults.address)
    assert address is not None  # it has a default
    return BacnetSettings(
        enabled=setting_bool(section, "enabled", where, True),
        address=address,
        device_instance=setting_int(section, "device_instance", where, defaults.device_instance, 0,
                             _MAX_INSTANCE),
        network_id=network_id,
        foreign_bbmd=_address(section, "foreign_bbmd", where, None),
        foreign_ttl_s=setting_seconds(section, "foreign_ttl", where, defaults.foreign_ttl_s),
        timeout_s=setting_seconds(section, "timeout", where, defaults.timeout_s),
        retries=setting_int(section, "retries", where, defaults.retries, 0, 10),
        poll_interval_s=setting_seconds(section, "poll_interval", where, defaults.poll_interval_s),
        cov=setting_bool(section, "cov", where, defaults.cov),
        cov_confirmed=setting_bool(section, "cov_confirmed", where, defaults.cov_confirmed),
        cov_lifetime_s=setting_seconds(section, "cov_lifetime", where, defaults.cov_lifetime_s),
        monitor_interval_s=setting_seconds(section, "monitor_interval", where,
                                    defaults.monitor_interval_s),
        scan_on_start=setting_bool(section, "scan_on_start", where, defaults.scan_on_start),
        scan_timeout_s=setting_seconds(section, "scan_timeout", where, defaults.scan_timeout_s),
        max_devices=setting_int(section, "max_devices", where, defaults.max_devices, 1, 100_000),
        backoff_initial_s=backoff_initial,
        backoff_max_s=backoff_max,
        down_after=setting_int(section, "down_after", where, defaults.down_after, 1, 100),
        devices=devices,
    )  # fmt: skip
