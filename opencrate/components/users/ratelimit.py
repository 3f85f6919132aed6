"""Counting failed logins per user name and per client address, in a sliding window.

In memory: a restart forgets the counts, which costs an attacker a restart
per few guesses. Timestamps come from the services clock, so tests move
through the window with trio's autojump clock.
"""

from __future__ import annotations

from collections import deque

from opencrate.clock import Clock
from opencrate.errors import RateLimited

__all__ = ["LoginLimiter"]

#: Keys kept at most per kind: a flood of made-up user names must not grow memory forever.
_MAX_KEYS = 10_000


class LoginLimiter:
    """:meth:`attempt` before verifying a password, :meth:`succeeded` after a right one.

    An attempt counts as a failure from the moment it starts, and is taken
    back when it succeeds: a burst of guesses sent at once cannot all pass
    the check while the first of them are still being verified.
    """

    def __init__(self, clock: Clock, *, per_user: int, per_address: int, window_ms: int) -> None:
        self._clock = clock
        self._window_ms = window_ms
        self._limits = {"user": per_user, "address": per_address}
        self._failures: dict[tuple[str, str], deque[int]] = {}

    def attempt(self, user: str, address: str) -> None:
        """Count an attempt; RateLimited (``retry_after_s``) instead when either is at its limit."""
        self._check(user, address)
        self._failed(user, address)

    def succeeded(self, user: str, address: str) -> None:
        """A right password: take the attempt back, and clear the user name's count.

        (The address keeps its other failures: one address may be shared by many.)
        """
        self._failures.pop(("user", user), None)
        times = self._failures.get(("address", address))
        if times:
            times.pop()

    def _check(self, user: str, address: str) -> None:
        now = self._clock.now_ms()
        waits = [
            self._wait_ms(("user", user), now),
            self._wait_ms(("address", address), now),
        ]
        wait_ms = max(waits)
        if wait_ms > 0:
            retry_after_s = -(-wait_ms // 1000)  # whole seconds, rounded up
            raise RateLimited(
                f"too many failed logins; try again in {retry_after_s} s",
                retry_after_s=retry_after_s,
            )

    def _failed(self, user: str, address: str) -> None:
        now = self._clock.now_ms()
        for key in (("user", user), ("address", address)):
            if key not in self._failures and len(self._failures) >= 2 * _MAX_KEYS:
                self._forget_old(now)
            self._failures.setdefault(key, deque()).append(now)

    def _wait_ms(self, key: tuple[str, str], now: int) -> int:
        times = self._failures.get(key)
        if not times:
            return 0
        while times and times[0] <= now - self._window_ms:
            times.popleft()
        if not times:
            del self._failures[key]
            return 0
        if len(times) < self._limits[key[0]]:
            return 0
        # Allowed again once enough of the oldest failures have left the window.
        oldest_that_counts = times[len(times) - self._limits[key[0]]]
        return oldest_that_counts + self._window_ms - now

    def _forget_old(self, now: int) -> None:
        for key in list(self._failures):
            self._wait_ms(key, now)
