"""The device-health model every bridge shares: backoff, DeviceDown once, DeviceRecovered."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opencrate.components.devices.health import DeviceHealth, DeviceState, HealthSettings, Retry
from opencrate.errors import BridgeTimeout
from opencrate.runtime.events import DeviceDown, DeviceRecovered


def health(
    *,
    initial: float = 1.0,
    cap: float = 60.0,
    down_after: int = 3,
    jitter: float = 0.1,
    seed: int = 7,
    protocol: str = "modbus",
) -> DeviceHealth:
    return DeviceHealth(
        "plc-1",
        HealthSettings(backoff_initial_s=initial, backoff_max_s=cap, down_after=down_after),
        protocol=protocol,
        rng=random.Random(seed),
        jitter=jitter,
    )


def test_starts_unknown_and_a_success_makes_it_online_without_events() -> None:
    h = health()
    assert h.statistics().state is DeviceState.UNKNOWN
    assert h.on_success(0.004, now_ms=1000) == ()
    stats = h.statistics()
    assert (stats.state, stats.successes, stats.last_rtt_s, stats.last_success_ms) == (
        DeviceState.ONLINE,
        1,
        0.004,
        1000,
    )


def test_backoff_doubles_up_to_the_cap_without_jitter() -> None:
    h = health(initial=1.0, cap=10.0, down_after=100, jitter=0.0)
    delays = [h.on_failure("timeout", now_ms=i).delay_s for i in range(7)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]


def test_jitter_only_shortens_and_is_deterministic_for_a_seed() -> None:
    first = health(initial=1.0, cap=8.0, down_after=100, jitter=0.1, seed=3)
    second = health(initial=1.0, cap=8.0, down_after=100, jitter=0.1, seed=3)
    other = health(initial=1.0, cap=8.0, down_after=100, jitter=0.1, seed=4)
    a = [first.on_failure("x", now_ms=0).delay_s for _ in range(6)]
    b = [second.on_failure("x", now_ms=0).delay_s for _ in range(6)]
    c = [other.on_failure("x", now_ms=0).delay_s for _ in range(6)]
    assert a == b
    assert a != c
    for delay, base in zip(a, [1, 2, 4, 8, 8, 8], strict=True):
        assert base * 0.9 <= delay <= base


def test_device_down_once_after_down_after_failures_then_recovered_once() -> None:
    h = health(down_after=3)
    assert h.on_success(0.01, now_ms=0) == ()
    first = h.on_failure(BridgeTimeout("no answer in 3s", device="plc-1"), now_ms=10)
    assert first.events == ()
    assert h.state is DeviceState.RETRYING
    assert h.on_failure("connection refused", now_ms=20).events == ()
    third = h.on_failure("connection refused", now_ms=30)
    assert third.events == (
        DeviceDown(ts_ms=30, device_key="plc-1", protocol="modbus", error="connection refused"),
    )
    assert h.state is DeviceState.DOWN
    # Still down: no second DeviceDown.
    assert h.on_failure("connection refused", now_ms=40).events == ()
    assert h.on_success(0.02, now_ms=50) == (
        DeviceRecovered(ts_ms=50, device_key="plc-1", protocol="modbus"),
    )
    assert h.on_success(0.02, now_ms=60) == ()
    stats = h.statistics()
    assert (stats.successes, stats.failures, stats.consecutive_failures) == (3, 4, 0)
    assert stats.last_error == "connection refused"
    assert stats.last_failure_ms == 40
    assert stats.next_delay_s is None


def test_a_success_while_retrying_resets_the_count_and_the_backoff() -> None:
    h = health(down_after=3, jitter=0.0)
    h.on_failure("x", now_ms=0)
    h.on_failure("x", now_ms=0)
    assert h.on_success(0.01, now_ms=0) == ()  # retrying -> online: nothing to publish
    assert h.state is DeviceState.ONLINE
    assert h.on_failure("x", now_ms=0) == Retry(delay_s=1.0, events=())
    assert h.on_failure("x", now_ms=0) == Retry(delay_s=2.0, events=())
    assert h.on_failure("x", now_ms=0).events == (
        DeviceDown(ts_ms=0, device_key="plc-1", protocol="modbus", error="x"),
    )


def test_a_device_that_never_answered_goes_down() -> None:
    h = health(down_after=1)
    retry = h.on_failure(ConnectionRefusedError(), now_ms=5)
    assert retry.events == (
        DeviceDown(ts_ms=5, device_key="plc-1", protocol="modbus", error="ConnectionRefusedError"),
    )
    assert h.statistics().state is DeviceState.DOWN


def test_statistics_is_a_frozen_snapshot() -> None:
    h = health()
    before = h.statistics()
    h.on_failure("boom", now_ms=1)
    assert before.failures == 0
    assert h.statistics().failures == 1
    with pytest.raises(AttributeError):
        before.failures = 5  # type: ignore[misc]


def test_the_events_name_the_bridge_given_as_protocol() -> None:
    h = health(down_after=1, protocol="bacnet")
    (down,) = h.on_failure("no answer", now_ms=1).events
    assert down == DeviceDown(ts_ms=1, device_key="plc-1", protocol="bacnet", error="no answer")
    assert h.on_success(0.01, now_ms=2) == (
        DeviceRecovered(ts_ms=2, device_key="plc-1", protocol="bacnet"),
    )


@pytest.mark.parametrize(
    ("initial", "cap", "down_after"), [(0.0, 1.0, 1), (-1.0, 1.0, 1), (2.0, 1.0, 1), (1.0, 1.0, 0)]
)
def test_bad_settings_are_refused(initial: float, cap: float, down_after: int) -> None:
    with pytest.raises(ValueError, match="bad health settings"):
        HealthSettings(backoff_initial_s=initial, backoff_max_s=cap, down_after=down_after)


@pytest.mark.parametrize("jitter", [-0.1, 1.0])
def test_a_bad_jitter_is_refused(jitter: float) -> None:
    with pytest.raises(ValueError, match="bad health settings: jitter"):
        health(jitter=jitter)


@given(
    initial=st.floats(min_value=0.001, max_value=100),
    factor=st.floats(min_value=1, max_value=1000),
    failures=st.integers(min_value=1, max_value=200),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_delay_stays_within_jitter_of_the_capped_doubling(
    initial: float, factor: float, failures: int, seed: int
) -> None:
    cap = initial * factor
    h = health(initial=initial, cap=cap, down_after=failures, seed=seed)
    retries = [h.on_failure("x", now_ms=0) for _ in range(failures)]
    assert [bool(r.events) for r in retries] == [False] * (failures - 1) + [True]
    for n, delay in enumerate(r.delay_s for r in retries):
        base = min(cap, initial * 2.0 ** min(n, 20))  # 2**20 > factor
        assert base * 0.9 <= delay <= base
    assert h.state is DeviceState.DOWN
    assert h.on_failure("x", now_ms=0).events == ()  # DeviceDown came once, already
