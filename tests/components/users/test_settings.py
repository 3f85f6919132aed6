"""The ``[users]`` section: defaults, overrides, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import argon2
import pytest

from opencrate.app import Services
from opencrate.components.users.settings import UserSettings
from opencrate.config import load_settings
from opencrate.errors import ConfigError


def test_defaults_are_the_rfc_9106_low_memory_profile_and_no_anonymous_access() -> None:
    settings = UserSettings.from_section(None)
    assert settings.argon2 == argon2.profiles.RFC_9106_LOW_MEMORY
    assert settings.anonymous_viewer is False
    assert (settings.login_failures_per_user, settings.login_failures_per_address) == (5, 20)
    assert settings.login_window_ms == 15 * 60_000
    assert settings.cache_ttl_ms == 30_000


def test_keys_override_the_profile() -> None:
    settings = UserSettings.from_section(
        {"argon2_profile": "cheapest", "argon2_time_cost": 2, "session_idle_timeout": "30m"}
    )
    assert settings.argon2.time_cost == 2
    assert settings.argon2.memory_cost == argon2.profiles.CHEAPEST.memory_cost
    assert settings.session_idle_timeout_ms == 30 * 60_000


@pytest.mark.parametrize(
    ("section", "key", "says"),
    [
        ({"argon2_profil": "cheapest"}, "users.argon2_profil", "unknown setting"),
        ({"argon2_profile": "fast"}, "users.argon2_profile", "cheapest, rfc9106_low_memory"),
        ({"argon2_time_cost": 0}, "users.argon2_time_cost", "positive integer"),
        ({"argon2_memory_kib": 8}, "users.argon2_memory_kib", "at least 8 x argon2_parallelism"),
        ({"anonymous_viewer": "yes"}, "users.anonymous_viewer", "true or false"),
        ({"login_window": "soon"}, "users.login_window", "a duration"),
        ({"login_failures_per_user": True}, "users.login_failures_per_user", "positive integer"),
    ],
)
def test_bad_values_name_their_key(section: dict[str, object], key: str, says: str) -> None:
    with pytest.raises(ConfigError) as raised:
        UserSettings.from_section(section)
    assert raised.value.key == key
    assert says in str(raised.value)


def test_an_error_in_the_settings_file_names_its_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "opencrate.toml"
    path.write_text('[users]\nanonymous_viewer = "yes"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        Services.create(load_settings(path).with_changes(data_dir=tmp_path))
    assert str(raised.value).startswith(f"{path}:2 [users.anonymous_viewer]: must be true or false")
