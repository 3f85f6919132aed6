"""Device health: the state machine behind DeviceDown / DeviceRecovered (no I/O).

States::

    unknown --success--> online <--success-- retrying
       |                   |                    ^  |
       +------failure------+------failure-------+  | down_after consecutive failures
                                                   v
                          online <--success--    down   (failures stay down)

:meth:`DeviceHealth.on_failure` answers when to try again: ``backoff_initial_s``
doubling with each consecutive failure, capped at ``backoff_max_s``, less a small
jitter drawn from the caller's seeded ``random.Random`` (so hundreds of devices
that fail together do not retry in step, and a test with a fixed seed sees fixed
delays). The jitter only shortens a delay: the cap holds. The events come back to
the caller (the poller publishes them): :class:`DeviceDown` once, on the failure
that reaches ``down_after``; :class:`DeviceRecovered` on the first success after.
"""

from __future__ import annotations

import enum
import random

from attrs import frozen

from opencrate.components.modbus.devices import ModbusDevice
from opencrate.runtime.events import DeviceDown, DeviceRecovered, Event

__all__ = ["DeviceHealth", "DeviceState", "DeviceStatistics", "Retry"]


class DeviceState(enum.StrEnum):
    UNKNOWN = "unknown"  # not yet asked
    ONLINE = "online"  # the last request was answered
    RETRYING = "retrying"  # failing, fewer than down_after times in a row
    DOWN = "down"  # failed down_after times in a row; DeviceDown was published


@frozen(kw_only=True)
class Retry:
    """What to do after a failure: wait ``delay_s``, publish ``events``."""

    delay_s: float
    events: tuple[Event, ...]


@frozen(kw_only=True)
class DeviceStatistics:
    """A snapshot of one device's health, for ``GET /api/devices``."""

    device_key: str
    state: DeviceState
    successes: int
    failures: int
    consecutive_failures: int
    last_error: str | None
    last_rtt_s: float | None
    last_success_ms: int | None
    last_failure_ms: int | None
    next_delay_s: float | None  # the delay the last failure asked for; None once answered


class DeviceHealth:
    """The health of one device. Not thread-safe: one poller task owns it.

    ``down_after`` is at least 1; ``backoff_max_s`` at least ``backoff_initial_s``
    (both above zero); ``jitter`` in 0..1 is the largest fraction a delay is
    shortened by. Raises ValueError otherwise (the device config checked these
    already: a bad value here is a bug).
    """

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
        if not 0 < backoff_initial_s <= backoff_max_s or down_after < 1 or not 0 <= jitter < 1:
            raise ValueError(
                f"bad health settings: backoff {backoff_initial_s}..{backoff_max_s}s, "
                f"down_after {down_after}, jitter {jitter}"
            )
        self.device_key = device_key
        self.protocol = protocol
        self._initial = backoff_initial_s
        self._max = backoff_max_s
        self._down_after = down_after
        self._rng = rng
        self._jitter = jitter
        self.state = DeviceState.UNKNOWN
        self.successes = 0
        self.failures = 0
        self.consecutive_failures = 0
        self.last_error: str | None = None
        self.last_rtt_s: float | None = None
        self.last_success_ms: int | None = None
        self.last_failure_ms: int | None = None
        self.next_delay_s: float | None = None

    @classmethod
    def for_device(cls, device: ModbusDevice, *, rng: random.Random) -> DeviceHealth:
        """The health of ``device``, with its backoff and ``down_after`` settings."""
        return cls(
            device.id,
            backoff_initial_s=device.backoff_initial_s,
            backoff_max_s=device.backoff_max_s,
            down_after=device.down_after,
            rng=rng,
        )

    def on_success(self, rtt_s: float, *, now_ms: int) -> tuple[Event, ...]:
        """Record an answered request; ``(DeviceRecovered,)`` if the device was down."""
        was_down = self.state is DeviceState.DOWN
        self.state = DeviceState.ONLINE
        self.successes += 1
        self.consecutive_failures = 0
        self.last_rtt_s = rtt_s
        self.last_success_ms = now_ms
        self.next_delay_s = None
        if was_down:
            return (
                DeviceRecovered(ts_ms=now_ms, device_key=self.device_key, protocol=self.protocol),
            )
        return ()

    def on_failure(self, error: BaseException | str, *, now_ms: int) -> Retry:
        """Record a failed attempt: the delay before the next, and ``DeviceDown`` once.

        ``DeviceDown`` comes with the failure that makes ``down_after`` in a row (from
        ``unknown`` too: a device that never answered is down); later failures only
        lengthen the delay, up to the cap.
        """
        self.failures += 1
        self.consecutive_failures += 1
        self.last_error = str(error) or type(error).__name__
        self.last_failure_ms = now_ms
        events: tuple[Event, ...] = ()
        if self.state is not DeviceState.DOWN:
            if self.consecutive_failures >= self._down_after:
                self.state = DeviceState.DOWN
                events = (
                    DeviceDown(
                        ts_ms=now_ms,
                        device_key=self.device_key,
                        protocol=self.protocol,
                        error=self.last_error,
                    ),
                )
            else:
                self.state = DeviceState.RETRYING
        self.next_delay_s = self._delay(self.consecutive_failures)
        return Retry(delay_s=self.next_delay_s, events=events)

    def _delay(self, attempt: int) -> float:
        base = self._initial
        # Doubling stops at the cap (so no float overflow after many failures).
        for _ in range(attempt - 1):
            if base >= self._max:
                break
            base *= 2
        base = min(base, self._max)
        return base * (1 - self._jitter * self._rng.random())

    def statistics(self) -> DeviceStatistics:
        """A frozen snapshot of the counts, state, last error and round-trip time."""
        return DeviceStatistics(
            device_key=self.device_key,
            state=self.state,
            successes=self.successes,
            failures=self.failures,
            consecutive_failures=self.consecutive_failures,
            last_error=self.last_error,
            last_rtt_s=self.last_rtt_s,
            last_success_ms=self.last_success_ms,
            last_failure_ms=self.last_failure_ms,
            next_delay_s=self.next_delay_s,
        )
