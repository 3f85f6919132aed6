"""Device health: the state machine behind DeviceDown / DeviceRecovered (no I/O).

Every bridge (Modbus, BACnet) judges its devices by this one model, so that
"down" means the same thing and backs off the same way whatever the protocol:
a bridge's poller owns a :class:`DeviceHealth` per device, made from the
device's :class:`HealthSettings`, and names itself with ``protocol`` (the
``protocol`` member of the events).

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

from opencrate.runtime.events import DeviceDown, DeviceRecovered, Event

__all__ = ["DeviceHealth", "DeviceState", "DeviceStatistics", "HealthSettings", "Retry"]


class DeviceState(enum.StrEnum):
    UNKNOWN = "unknown"  # not yet asked
    ONLINE = "online"  # the last request was answered
    RETRYING = "retrying"  # failing, fewer than down_after times in a row
    DOWN = "down"  # failed down_after times in a row; DeviceDown was published


@frozen(kw_only=True)
class HealthSettings:
    """A device's retry settings, as its bridge's configuration gave them.

    ``backoff_initial_s`` above zero and at most ``backoff_max_s``; ``down_after``
    at least 1. Raises ValueError otherwise: a bridge checks its configuration
    (with errors naming the file and key) before it makes one, so a bad value
    here is a bug.
    """

    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    down_after: int = 3

    def __attrs_post_init__(self) -> None:
        if not 0 < self.backoff_initial_s <= self.backoff_max_s or self.down_after < 1:
            raise ValueError(
                f"bad health settings: backoff {self.backoff_initial_s}..{self.backoff_max_s}s, "
                f"down_after {self.down_after}"
            )


@frozen(kw_only=True)
class Retry:
    """What to do after a failure: wait ``delay_s``, publish ``events``."""

    delay_s: float
    events: tuple[Event, ...]


@frozen(kw_only=True)
class DeviceStatistics:
    """A snapshot of one device's health (a bridge's ``DeviceView`` is made from it)."""

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

    ``settings`` give the backoff and ``down_after``; ``jitter`` in 0..1 is the
    largest fraction a delay is shortened by (ValueError otherwise); ``protocol``
    names the bridge in the events (``"modbus"``, ``"bacnet"``).
    """

    def __init__(
        self,
        device_key: str,
        settings: HealthSettings,
        *,
        protocol: str,
        rng: random.Random,
        jitter: float = 0.1,
    ) -> None:
        if not 0 <= jitter < 1:
            raise ValueError(f"bad health settings: jitter {jitter} (0 <= jitter < 1)")
        self.device_key = device_key
        self.protocol = protocol
        self.settings = settings
        self._initial = settings.backoff_initial_s
        self._max = settings.backoff_max_s
        self._down_after = settings.down_after
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
