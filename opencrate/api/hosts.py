"""Which ``Host`` (and websocket ``Origin``) values the API answers to. No quart here.

DNS rebinding: a page on ``evil.example`` makes its own name resolve to the
building server's address; its scripts are then "same-origin" with the
server as far as the browser is concerned. The browser still sends
``Host: evil.example``, so the server refuses every Host that is not one of
its own names. An IP-address literal is always safe (the attack needs a name
the attacker controls in DNS), and so is ``localhost``.

The names allowed, besides any configured in ``[server] allowed_hosts``:

* the address the server is bound to, ``localhost``, ``127.0.0.1`` and ``::1``;
* bound to a wildcard (``0.0.0.0``, ``::``): also any IP-address literal and
  this machine's host name (``socket.gethostname()``).

A configured name that starts with a dot (``.plant.example``) allows that
domain and every name under it. Ports are ignored throughout: the Host check
is about names, the port is the listener's business.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from attrs import frozen

from opencrate.errors import InvalidInput

__all__ = [
    "WILDCARD_ADDRESSES",
    "AllowedHosts",
    "check_host_names",
    "host_of",
    "is_ip_literal",
    "is_same_origin",
]

#: Bind addresses meaning "every interface".
WILDCARD_ADDRESSES = frozenset({"", "0.0.0.0", "::", "[::]"})

_LOOPBACK = ("localhost", "127.0.0.1", "::1")

#: Characters a configured host name may hold (letters, digits, ``-``, ``.``,
#: ``_`` and, for IPv6 literals, ``:``).
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-._:")


def _normalise(name: str) -> str:
    """Lowercase, no IPv6 brackets, no trailing dot (``Localhost.`` is ``localhost``)."""
    name = name.strip().lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    return name.rstrip(".") if name not in (".", "") else name


def host_of(header: str) -> str:
    """The host part of a ``Host`` header value: ``"[::1]:8080"`` -> ``"::1"``.

    Lowercase, without the port and without a trailing dot; ``""`` when
    there is none.
    """
    value = header.strip()
    if value.startswith("["):
        end = value.find("]")
        return _normalise(value[: end + 1]) if end != -1 else ""
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return _normalise(value)


def is_ip_literal(host: str) -> bool:
    """Whether ``host`` (as :func:`host_of` gives it) is an IPv4 or IPv6 address."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def check_host_names(names: Iterable[object]) -> tuple[str, ...]:
    """Configured host names, normalised; InvalidInput naming the first bad one.

    A name is a DNS name or an IP literal, optionally with a leading dot
    (that domain and its subdomains); no scheme, port, path or spaces.
    """
    checked: list[str] = []
    for raw in names:
        if not isinstance(raw, str) or not raw.strip():
            raise InvalidInput(
                f"host name {raw!r} must be a non-empty string", field="allowed_hosts"
            )
        name = _normalise(raw)
        bare = name.removeprefix(".")
        valid = bool(bare) and set(bare) <= _NAME_CHARS
        if ":" in bare and not is_ip_literal(bare):
            valid = False  # a port, or a URL: "host:8080", "http://host"
        if not valid:
            raise InvalidInput(
                f"host name {raw!r} must be a name or IP address without scheme, port or path "
                "(e.g. 'bms.plant.example', '.plant.example' or '10.0.0.5')",
                field="allowed_hosts",
            )
        checked.append(name)
    return tuple(checked)


@frozen(kw_only=True)
class AllowedHosts:
    """The host names one server answers to; see the module docstring."""

    names: frozenset[str]
    #: Domains (with their leading dot) whose every subdomain is allowed.
    suffixes: tuple[str, ...] = ()
    #: Any IP-address literal (the server is bound to a wildcard address).
    any_ip: bool = False

    @classmethod
    def for_server(
        cls, bind_host: str, configured: Iterable[str] = (), *, hostname: str | None = None
    ) -> AllowedHosts:
        """The defaults for a server bound to ``bind_host``, plus ``configured`` names.

        ``hostname`` is this machine's name (default ``socket.gethostname()``),
        allowed only when bound to a wildcard address.
        """
        names = {*_LOOPBACK}
        wildcard = bind_host.strip() in WILDCARD_ADDRESSES
        if wildcard:
            names.add(_normalise(hostname if hostname is not None else socket.gethostname()))
        else:
            names.add(_normalise(bind_host))
        suffixes: list[str] = []
        for name in check_host_names(configured):
            if name.startswith("."):
                suffixes.append(name)
            else:
                names.add(name)
        return cls(names=frozenset(names), suffixes=tuple(suffixes), any_ip=wildcard)

    def allows(self, host: str) -> bool:
        """Whether ``host`` (as :func:`host_of` gives it) is one of ours."""
        if not host:
            return False
        if host in self.names or (self.any_ip and is_ip_literal(host)):
            return True
        return any(host == s[1:] or host.endswith(s) for s in self.suffixes)


def _default_port(scheme: str) -> int | None:
    return {"http": 80, "ws": 80, "https": 443, "wss": 443}.get(scheme)


def is_same_origin(origin: str, host_header: str, *, scheme: str) -> bool:
    """Whether a browser's ``Origin`` is the server's own: same host and port as ``Host``.

    ``scheme`` is the request's (``ws``/``wss``, ``http``/``https``), for the
    port of a Host without one. ``Origin: null`` (a sandboxed or file page)
    and anything unparsable are foreign.
    """
    try:
        parts = urlsplit(origin.strip())
        origin_port = parts.port or _default_port(parts.scheme)
    except ValueError:
        return False
    if not parts.hostname or origin_port is None:
        return False
    value = host_header.strip()
    port_text = value.rsplit("]", 1)[-1] if value.startswith("[") else value
    own_port = _default_port(scheme)
    if port_text.count(":") == 1:
        digits = port_text.rsplit(":", 1)[1]
        own_port = int(digits) if digits.isdigit() else None
    return _normalise(parts.hostname) == host_of(value) and origin_port == own_port
