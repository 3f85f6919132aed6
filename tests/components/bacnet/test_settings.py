"""``[bacnet]``: defaults that work, and every bad value refused with its key named."""

from __future__ import annotations

from typing import Any

import pytest

from opencrate.components.bacnet.settings import BacnetSettings, parse_settings
from opencrate.errors import ConfigError


def test_an_empty_section_gives_the_defaults_and_a_full_one_is_read() -> None:
    assert parse_settings({}) == BacnetSettings()
    settings = parse_settings(
        {"address": "10.0.0.5/24:47808", "foreign_bbmd": "10.1.0.1:47808", "timeout": "500ms",
         "retries": 2, "cov": False, "cov_lifetime": "10m", "poll_interval": 15,
         "device": [{"instance": 1001, "address": "10.2.0.7:47808", "max_per_request": 10}]}
    )  # fmt: skip
    assert settings.address == "10.0.0.5/24:47808"
    assert settings.foreign_bbmd == "10.1.0.1:47808"
    assert (settings.timeout_s, settings.retries, settings.cov) == (0.5, 2, False)
    assert (settings.cov_lifetime_s, settings.poll_interval_s) == (600.0, 15.0)
    (device,) = settings.devices
    assert (device.instance, device.address, device.max_per_request) == (
        1001, "10.2.0.7:47808", 10
    )  # fmt: skip
    assert settings.health.down_after == 3


@pytest.mark.parametrize(
    ("section", "key", "words"),
    [
        ({"adress": "x"}, "bacnet.adress", "unknown key"),
        ({"address": "10.0.0.5:port"}, "bacnet.address", "host[/prefix][:port]"),
        ({"address": "10.0.0.5:70000"}, "bacnet.address", "0-65535"),
        ({"device_instance": 4_194_304}, "bacnet.device_instance", "0 to 4194303"),
        ({"timeout": "soon"}, "bacnet.timeout", "soon"),
        ({"timeout": 0}, "bacnet.timeout", "positive"),
        ({"cov": "yes"}, "bacnet.cov", "true or false"),
        ({"retries": -1}, "bacnet.retries", "0 to 10"),
        ({"network_id": ""}, "bacnet.network_id", "short name"),
        ({"backoff_initial": "10s", "backoff_max": "5s"}, "bacnet.backoff_max", "at least"),
        ({"device": {"instance": 1}}, "bacnet.device", "array of tables"),
        ({"device": [{"address": "10.0.0.1"}]}, "bacnet.device[0].instance", "required"),
        ({"device": [{"instance": 1, "address": "a:1", "port": 2}]}, "bacnet.device[0].port",
         "unknown key"),
        ({"device": [{"instance": 1, "address": "a:1"}, {"instance": 1, "address": "b:1"}]},
         "bacnet.device", "listed twice"),
        ({"device": [{"instance": 1, "address": "a:1", "max_per_request": 0}]},
         "bacnet.device[0].max_per_request", "1 to 200"),
    ],
)  # fmt: skip
def test_bad_values_are_refused_naming_the_key(
    section: dict[str, Any], key: str, words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(section)
    assert caught.value.key == key
    assert words in caught.value.reason
