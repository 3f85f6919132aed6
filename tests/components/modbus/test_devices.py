from __future__ import annotations

import random
from typing import Any

import pytest

from opencrate.components.devices.health import DeviceHealth, HealthSettings
from opencrate.components.modbus.devices import (
    ModbusDevice,
    parse_devices,
    parse_duration_s,
    parse_poll_interval,
)
from opencrate.config import Settings
from opencrate.errors import ConfigError, InvalidInput
from opencrate.runtime.events import DeviceDown
from opencrate.toml_lines import TomlLines, parse_toml

WHERE = "modbus.device[0]"


def device(**keys: Any) -> ModbusDevice:
    return ModbusDevice.from_table({"id": "ahu-1", "host": "10.0.0.21", **keys}, where=WHERE)


def test_defaults_follow_the_design() -> None:
    d = device()
    assert (d.id, d.host, d.port, d.unit_id) == ("ahu-1", "10.0.0.21", 502, 1)
    assert (d.timeout_s, d.poll_interval_s) == (3.0, 10.0)
    assert (d.backoff_initial_s, d.backoff_max_s, d.down_after) == (1.0, 60.0, 3)
    assert (d.max_registers, d.max_bits, d.max_gap, d.enabled) == (125, 2000, 16, True)


def test_a_devices_health_takes_its_backoff_and_down_after() -> None:
    d = device(backoff_initial=0.5, backoff_max=0.75, down_after=2)
    assert d.health == HealthSettings(backoff_initial_s=0.5, backoff_max_s=0.75, down_after=2)
    h = DeviceHealth(d.id, d.health, protocol="modbus", rng=random.Random(0))
    first = h.on_failure("x", now_ms=0)
    second = h.on_failure("x", now_ms=0)
    assert 0.45 <= first.delay_s <= 0.5
    assert 0.675 <= second.delay_s <= 0.75
    assert second.events == (DeviceDown(ts_ms=0, device_key="ahu-1", protocol="modbus", error="x"),)


def test_every_key_is_read() -> None:
    d = device(
        port=1502,
        unit_id=7,
        timeout="500ms",
        max_registers=60,
        max_bits=800,
        max_gap=0,
        poll_interval="2m",
        backoff_initial=2,
        backoff_max="1h",
        down_after=5,
        enabled=False,
    )
    assert (d.port, d.unit_id, d.timeout_s, d.max_registers, d.max_bits) == (1502, 7, 0.5, 60, 800)
    assert (d.max_gap, d.poll_interval_s, d.backoff_initial_s, d.backoff_max_s) == (0, 120, 2, 3600)
    assert (d.down_after, d.enabled) == (5, False)


@pytest.mark.parametrize(
    ("keys", "key", "shown"),
    [
        ({"port": 0}, "port", "0"),
        ({"port": 70000}, "port", "70000"),
        ({"port": "502"}, "port", "'502'"),
        ({"port": True}, "port", "True"),
        ({"unit_id": 256}, "unit_id", "256"),
        ({"unit_id": -1}, "unit_id", "-1"),
        ({"max_registers": 126}, "max_registers", "126"),
        ({"max_registers": 0}, "max_registers", "0"),
        ({"max_bits": 2001}, "max_bits", "2001"),
        ({"max_gap": -1}, "max_gap", "-1"),
        ({"down_after": 0}, "down_after", "0"),
        ({"timeout": "3 sec"}, "timeout", "3 sec"),
        ({"timeout": "0s"}, "timeout", "'0s'"),
        ({"timeout": -1}, "timeout", "-1"),
        ({"timeout": [3]}, "timeout", "[3]"),
        ({"poll_interval": "fast"}, "poll_interval", "fast"),
        ({"backoff_initial": float("inf")}, "backoff_initial", "inf"),
        ({"backoff_initial": "10s", "backoff_max": "5s"}, "backoff_max", "'5s'"),
        ({"enabled": "yes"}, "enabled", "'yes'"),
        ({"colour": "red"}, "colour", "unknown device setting"),
        ({"host": ""}, "host", "empty"),
        ({"host": " 10.0.0.1"}, "host", "spaces"),
        ({"host": "a\nb"}, "host", "control"),
        ({"host": 10}, "host", "10"),
        ({"id": None}, "id", "None"),
    ],
)
def test_a_bad_value_is_a_config_error_naming_key_and_value(
    keys: dict[str, Any], key: str, shown: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        device(**keys)
    assert caught.value.key == f"{WHERE}.{key}"
    assert shown in caught.value.reason
    assert str(caught.value).startswith(f"[{WHERE}.{key}]: ")


@pytest.mark.parametrize("missing", ["id", "host"])
def test_id_and_host_are_required(missing: str) -> None:
    table = {"id": "ahu-1", "host": "h"}
    del table[missing]
    with pytest.raises(ConfigError, match="is required") as caught:
        ModbusDevice.from_table(table, where=WHERE)
    assert caught.value.key == f"{WHERE}.{missing}"


def test_a_table_that_is_not_a_table_names_where() -> None:
    with pytest.raises(ConfigError, match="must be a table") as caught:
        ModbusDevice.from_table(["id"], where=WHERE)  # type: ignore[arg-type]
    assert caught.value.key == WHERE


def test_durations_take_the_project_syntax_and_numbers_of_seconds() -> None:
    assert parse_duration_s("500ms", key="k") == 0.5
    assert parse_duration_s("3s", key="k") == 3.0
    assert parse_duration_s("2m", key="k") == 120.0
    assert parse_duration_s(1.5, key="k") == 1.5
    # A bare string of digits is milliseconds, as everywhere parse_duration_ms is used.
    assert parse_duration_s("250", key="k") == 0.25
    with pytest.raises(ConfigError) as caught:
        parse_duration_s(False, key="x.y")
    assert caught.value.key == "x.y"


def test_a_bindings_poll_interval() -> None:
    assert parse_poll_interval({"address": 3}, where="b") is None
    assert parse_poll_interval({"poll_interval": "1s"}, where="b") == 1.0
    with pytest.raises(ConfigError) as caught:
        parse_poll_interval({"poll_interval": "soon"}, where="point[3].binding")
    assert caught.value.key == "point[3].binding.poll_interval"
    assert isinstance(caught.value, InvalidInput)


def test_parse_devices_keeps_order_and_refuses_a_duplicate_id() -> None:
    tables = [{"id": "b", "host": "h1"}, {"id": "a", "host": "h2", "port": 1502}]
    devices = parse_devices(tables)
    assert list(devices) == ["b", "a"]
    assert devices["a"].port == 1502
    with pytest.raises(ConfigError, match="'b' is already used") as caught:
        parse_devices([*tables, {"id": "b", "host": "h3"}])
    assert caught.value.key == "modbus.device[2].id"


def test_parse_devices_names_the_index_of_the_bad_table() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_devices([{"id": "a", "host": "h"}, {"id": "b", "host": "h", "port": -2}])
    assert caught.value.key == "modbus.device[1].port"
    with pytest.raises(ConfigError, match="array of tables") as caught:
        parse_devices({"id": "a"})  # type: ignore[arg-type]
    assert caught.value.key == "modbus.device"


def test_settings_locate_the_error_in_the_file(tmp_path: Any) -> None:
    text = (
        '[[modbus.device]]\nid = "a"\nhost = "h"\n\n'
        '[[modbus.device]]\nid = "b"\nhost = "h"\nport = 0\n'
    )
    sections = parse_toml(text)
    settings = Settings(
        sections=sections,
        file=tmp_path / "opencrate.toml",
        file_sections=frozenset({"modbus"}),
        locator=TomlLines(text),
    )
    with pytest.raises(ConfigError) as caught, settings.errors_located():
        parse_devices(sections["modbus"]["device"])
    assert caught.value.line == 8
    assert caught.value.key == "modbus.device[1].port"
    assert caught.value.file == str(tmp_path / "opencrate.toml")
