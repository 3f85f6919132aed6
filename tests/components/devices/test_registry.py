"""The DeviceRegistry: every bridge's devices in one list, looked up by id alone."""

from __future__ import annotations

import random

import pytest

from opencrate.components.devices.health import DeviceHealth, HealthSettings
from opencrate.components.devices.registry import DeviceRegistry, DeviceView
from opencrate.errors import ConfigError, NotFound
from tests.components.devices.memory import ListSource, device_view


def _registry() -> DeviceRegistry:
    registry = DeviceRegistry()
    registry.add(ListSource("memory", [device_view("vav-2"), device_view("ahu-1")]))
    registry.add(ListSource("other", [device_view("1001", protocol="other", failed=2)]))
    return registry


def test_the_list_holds_every_bridges_devices_by_id() -> None:
    registry = _registry()
    assert registry.protocols == ["memory", "other"]
    views = registry.device_views()
    assert [(v.id, v.protocol) for v in views] == [
        ("1001", "other"),
        ("ahu-1", "memory"),
        ("vav-2", "memory"),
    ]
    assert (views[0].state, views[0].consecutive_failures, views[0].next_retry_s) == (
        "down",
        2,
        2.0,
    )


def test_one_device_comes_from_whichever_bridge_has_it() -> None:
    registry = _registry()
    assert registry.device_view("1001").protocol == "other"
    assert registry.device_view("ahu-1").address == "mem://ahu-1"
    with pytest.raises(NotFound, match="no device 'nope' is polled") as missing:
        registry.device_view("nope")
    assert missing.value.detail == {"device": "nope"}
    assert DeviceRegistry().device_views() == []


def test_one_id_on_two_bridges_is_a_config_error_naming_both() -> None:
    registry = _registry()
    registry.add(ListSource("third", [device_view("ahu-1", protocol="third")]))
    message = "device id 'ahu-1' is used by both the memory and the third bridge"
    with pytest.raises(ConfigError, match=message):
        registry.device_views()
    with pytest.raises(ConfigError, match=message):
        registry.device_view("ahu-1")
    assert registry.device_view("vav-2").id == "vav-2"  # the others still answer


def test_a_second_source_of_one_protocol_is_refused() -> None:
    registry = _registry()
    with pytest.raises(ValueError, match="a memory device source is registered already"):
        registry.add(ListSource("memory", []))


def test_a_view_carries_the_health_and_the_protocols_own_details() -> None:
    health = DeviceHealth(
        "plc-1",
        HealthSettings(backoff_initial_s=0.5, backoff_max_s=4.0, down_after=3),
        protocol="modbus",
        rng=random.Random(0),
        jitter=0.0,
    )
    fresh = DeviceView.from_statistics(
        health.statistics(), protocol="modbus", address="10.0.0.5:502 unit 1", points=4
    )
    assert (fresh.state, fresh.last_rtt_ms, fresh.last_success_ms, fresh.details) == (
        "unknown",
        None,
        None,
        {},
    )
    health.on_success(0.0123456, now_ms=1000)
    health.on_failure("connection refused", now_ms=2000)
    details = {"unit_id": 1, "connected": False}
    view = DeviceView.from_statistics(
        health.statistics(), protocol="modbus", address="10.0.0.5:502 unit 1", points=4,
        details=details,
    )  # fmt: skip
    details["unit_id"] = 7  # the view keeps its own copy
    assert view == DeviceView(
        id="plc-1",
        protocol="modbus",
        address="10.0.0.5:502 unit 1",
        points=4,
        state="retrying",
        successes=1,
        failures=1,
        consecutive_failures=1,
        last_error="connection refused",
        last_rtt_ms=12.346,
        last_success_ms=1000,
        last_failure_ms=2000,
        next_retry_s=0.5,
        details={"unit_id": 1, "connected": False},
    )
