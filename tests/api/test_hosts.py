"""The Host and Origin rules (``opencrate/api/hosts.py``), without a server."""

from __future__ import annotations

import pytest

from opencrate.api.hosts import AllowedHosts, host_of, is_same_origin
from opencrate.errors import InvalidInput


@pytest.mark.parametrize(
    ("header", "host"),
    [
        ("localhost:8080", "localhost"),
        ("LocalHost.", "localhost"),
        ("[::1]:8080", "::1"),
        ("[::1]", "::1"),
        ("10.0.0.5", "10.0.0.5"),
        ("", ""),
        ("[::1", ""),
    ],
)
def test_host_of_drops_port_brackets_case_and_trailing_dot(header: str, host: str) -> None:
    assert host_of(header) == host


def test_bound_to_one_address_only_it_and_loopback_names_are_allowed() -> None:
    hosts = AllowedHosts.for_server("192.168.1.20", hostname="plantpc")
    for host in ("192.168.1.20", "localhost", "127.0.0.1", "::1"):
        assert hosts.allows(host), host
    for host in ("10.0.0.5", "plantpc", "evil.example", ""):
        assert not hosts.allows(host), host


def test_bound_to_a_wildcard_any_ip_literal_and_the_host_name_are_allowed() -> None:
    for wildcard in ("0.0.0.0", "::"):
        hosts = AllowedHosts.for_server(wildcard, hostname="PlantPC")
        for host in ("10.0.0.5", "fe80::1", "plantpc", "localhost"):
            assert hosts.allows(host), (wildcard, host)
        # A rebinding attack needs a DNS name the attacker controls: never allowed.
        assert not hosts.allows("evil.example")
        assert not hosts.allows("10.0.0.5.evil.example")


def test_configured_names_and_domains_add_to_the_defaults() -> None:
    hosts = AllowedHosts.for_server("127.0.0.1", ["bms.plant.example", ".site.example"])
    for host in ("bms.plant.example", "site.example", "ahu-1.site.example", "localhost"):
        assert hosts.allows(host), host
    for host in ("plant.example", "evilsite.example", "site.example.evil"):
        assert not hosts.allows(host), host
    with pytest.raises(InvalidInput, match="'http://bms' must be a name or IP address"):
        AllowedHosts.for_server("127.0.0.1", ["http://bms"])


@pytest.mark.parametrize(
    ("origin", "host", "scheme", "same"),
    [
        ("http://127.0.0.1:8080", "127.0.0.1:8080", "ws", True),
        ("http://LOCALHOST:8080", "localhost:8080", "ws", True),
        ("http://bms", "bms", "ws", True),
        ("https://bms", "bms", "wss", True),
        ("https://bms:443", "bms", "wss", True),
        ("http://[::1]:8080", "[::1]:8080", "ws", True),
        ("http://bms", "bms", "wss", False),  # the page came over plain HTTP
        ("http://127.0.0.1:3000", "127.0.0.1:8080", "ws", False),  # another app on the host
        ("http://evil.example:8080", "127.0.0.1:8080", "ws", False),
        ("null", "127.0.0.1:8080", "ws", False),
        ("http://bms:port", "bms", "ws", False),
    ],
)
def test_same_origin_means_same_host_and_port(
    origin: str, host: str, scheme: str, same: bool
) -> None:
    assert is_same_origin(origin, host, scheme=scheme) is same
