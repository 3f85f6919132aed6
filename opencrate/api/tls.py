"""The TLS certificate and key the API serves HTTPS with, checked before serving.

hypercorn loads ``certfile`` / ``keyfile`` itself when it starts listening; a
missing file or a key that does not match would surface there as a bare
``FileNotFoundError`` or ``ssl.SSLError`` from inside the server's task.
:func:`check_tls_files` loads the pair the same way first and says what is
wrong as a :class:`~opencrate.errors.ConfigError` naming the setting.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from opencrate.errors import ConfigError

__all__ = ["check_tls_files"]


def check_tls_files(certfile: Path, keyfile: Path) -> None:
    """Raise ConfigError unless ``certfile`` and ``keyfile`` are a usable PEM pair.

    Blocking file I/O: call it in a worker thread.
    """
    for key, path in (("server.certfile", certfile), ("server.keyfile", keyfile)):
        if not path.is_file():
            raise ConfigError(f"no such file: {path}", key=key)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certfile, keyfile)
    except OSError as exc:  # ssl.SSLError is an OSError too
        reason = getattr(exc, "reason", None) or exc.strerror or str(exc)
        raise ConfigError(
            f"cannot use {certfile} with key {keyfile} (a PEM certificate chain and its "
            f"private key are needed): {reason}",
            key="server.certfile",
        ) from None
