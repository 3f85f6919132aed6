"""Keep database passwords out of everything OpenCrate renders.

A PostgreSQL DSN may carry a password in libpq's URL form
(``postgresql://user:secret@host/db``, or ``?password=secret``) or its
``key=value`` form (``host=db password=secret``). The configuration model
keeps the real DSN (the service needs it to connect, and a configuration
saved through the API must still work after a restart); whatever shows it to
a person (the API, ``opencrate persistence check``, health, logs, error
messages) passes it through :func:`redact_secrets` first.

The API's GET returns the redacted form, and clients send what they got back
in a PUT. :func:`unmask_dsn` turns such a DSN back into the stored one, so
the mask never replaces the real password.
"""

from __future__ import annotations

import re

__all__ = ["MASK", "redact_secrets", "unmask_dsn"]

#: What a password is replaced with.
MASK = "********"

# user:password@ in a postgres:// or postgresql:// URL (the user part may be empty).
_URL_PASSWORD = re.compile(r"(?P<head>postgres(?:ql)?://[^:@/?#\s]*:)(?P<secret>[^@/?#\s]*)(?=@)")
# password=... as a key=value pair or a URL query parameter; libpq allows spaces
# around '=' and single-quoted values with backslash escapes.
_KEY_PASSWORD = re.compile(
    r"(?P<head>\bpassword\s*=\s*)(?P<secret>'(?:[^'\\]|\\.)*'|[^\s&'#]+)", re.IGNORECASE
)


def redact_secrets(text: str) -> str:
    """``text`` with every DSN password in it replaced by :data:`MASK`.

    Works on a DSN alone and on any message that quotes one (a libpq error, a
    log line). Text without a password is returned unchanged.
    """
    text = _URL_PASSWORD.sub(lambda m: m["head"] + MASK, text)
    return _KEY_PASSWORD.sub(lambda m: m["head"] + MASK, text)


def unmask_dsn(incoming: str, stored: str) -> str:
    """``stored`` when ``incoming`` is its redacted form (a GET sent back), else ``incoming``.

    So a client that round-trips the configuration keeps the real password;
    a DSN that differs in anything but the mask is returned as given (and the
    caller decides whether a changed DSN is allowed).
    """
    if incoming != stored and incoming == redact_secrets(stored):
        return stored
    return incoming
