"""The ``[users]`` settings section: password hashing, sessions, login limits.

.. code-block:: toml

    [users]
    argon2_profile = "rfc9106_low_memory"  # or "cheapest" (tests only: no real protection)
    argon2_time_cost = 3          # each overrides the profile's value
    argon2_memory_kib = 65536
    argon2_parallelism = 4
    anonymous_viewer = false      # true: requests without credentials may read (viewer)
    session_idle_timeout = "8h"   # a session unused this long ends
    session_lifetime = "7d"       # and every session ends this long after login
    cache_ttl = "30s"             # how long a verified token or session is trusted from memory
    login_failures_per_user = 5   # failed logins allowed per user name ...
    login_failures_per_address = 20  # ... and per client address ...
    login_window = "15m"          # ... within this window; then 429 until the window passes

Every error is a :class:`~opencrate.errors.ConfigError` naming the key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import argon2
from attrs import frozen

from opencrate.config import duration_setting_ms
from opencrate.errors import ConfigError

__all__ = ["ARGON2_PROFILES", "UserSettings"]

#: The named starting points for the argon2 parameters.
ARGON2_PROFILES: Mapping[str, argon2.Parameters] = {
    "rfc9106_low_memory": argon2.profiles.RFC_9106_LOW_MEMORY,
    "cheapest": argon2.profiles.CHEAPEST,
}

_DURATIONS = {
    "session_idle_timeout": 8 * 3600_000,
    "session_lifetime": 7 * 86400_000,
    "cache_ttl": 30_000,
    "login_window": 15 * 60_000,
}
_COUNTS = {"login_failures_per_user": 5, "login_failures_per_address": 20}
_ARGON2_KEYS = {
    "argon2_time_cost": "time_cost",
    "argon2_memory_kib": "memory_cost",
    "argon2_parallelism": "parallelism",
}


@frozen(kw_only=True)
class UserSettings:
    argon2: argon2.Parameters = argon2.profiles.RFC_9106_LOW_MEMORY
    anonymous_viewer: bool = False
    session_idle_timeout_ms: int = _DURATIONS["session_idle_timeout"]
    session_lifetime_ms: int = _DURATIONS["session_lifetime"]
    cache_ttl_ms: int = _DURATIONS["cache_ttl"]
    login_failures_per_user: int = _COUNTS["login_failures_per_user"]
    login_failures_per_address: int = _COUNTS["login_failures_per_address"]
    login_window_ms: int = _DURATIONS["login_window"]

    @classmethod
    def from_section(cls, section: object) -> UserSettings:
        """Read the ``[users]`` table (``None``: defaults); ConfigError naming the key."""
        if section is None:
            return cls()
        if not isinstance(section, Mapping):
            raise ConfigError("must be a table", key="users")
        known = {"argon2_profile", "anonymous_viewer", *_DURATIONS, *_COUNTS, *_ARGON2_KEYS}
        for key in section:
            if key not in known:
                raise ConfigError("unknown setting", key=f"users.{key}")
        profile_name = section.get("argon2_profile", "rfc9106_low_memory")
        if profile_name not in ARGON2_PROFILES:
            raise ConfigError(
                f"must be one of {', '.join(sorted(ARGON2_PROFILES))}, got {profile_name!r}",
                key="users.argon2_profile",
            )
        overrides = {
            field: _positive_int(section, key)
            for key, field in _ARGON2_KEYS.items()
            if key in section
        }
        params = _argon2_parameters(ARGON2_PROFILES[profile_name], overrides)
        anonymous = section.get("anonymous_viewer", False)
        if not isinstance(anonymous, bool):
            raise ConfigError(
                f"must be true or false, got {anonymous!r}", key="users.anonymous_viewer"
            )
        durations = {
            key: duration_setting_ms("users", section, key, default)
            for key, default in _DURATIONS.items()
        }
        counts = {key: _positive_int(section, key, default) for key, default in _COUNTS.items()}
        return cls(
            argon2=params,
            anonymous_viewer=anonymous,
            session_idle_timeout_ms=durations["session_idle_timeout"],
            session_lifetime_ms=durations["session_lifetime"],
            cache_ttl_ms=durations["cache_ttl"],
            login_failures_per_user=counts["login_failures_per_user"],
            login_failures_per_address=counts["login_failures_per_address"],
            login_window_ms=durations["login_window"],
        )


def _argon2_parameters(base: argon2.Parameters, overrides: dict[str, int]) -> argon2.Parameters:
    params = dataclasses.replace(base, **overrides)  # type: ignore[arg-type]  # all int fields
    # argon2 itself refuses these later, with a message that names no setting.
    if params.memory_cost < 8 * params.parallelism:
        raise ConfigError(
            f"must be at least 8 x argon2_parallelism ({8 * params.parallelism}), "
            f"got {params.memory_cost}",
            key="users.argon2_memory_kib",
        )
    return params


def _positive_int(data: Mapping[str, Any], key: str, default: int = 0) -> int:
    raw = data.get(key, default)
    if not isinstance(raw, int) or isinstance(raw, bool) or raw < 1:
        raise ConfigError(f"must be a positive integer, got {raw!r}", key=f"users.{key}")
    return raw
