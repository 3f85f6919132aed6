"""The one exception tree of OpenCrate.

Every error the project raises on purpose derives from :class:`OpenCrateError`
(with the HTTP status the API answers it with)::

    OpenCrateError               500
    ├── StoreError               500  a store could not do what was asked
    │   ├── StoreClosed          503  you closed it (after aclose(), or during shutdown)
    │   ├── StoreBroken          503  it died under you (its actor task ended with an error)
    │   ├── StoreUnavailable     503  it cannot write now (read-only file, I/O error); retry later
    │   │   └── StorageFull      503  its disk is full; retry once space is freed
    │   └── StoreCorrupt         500  its file is not a usable database (it was quarantined)
    ├── NotFound                 404  the named thing does not exist
    ├── Conflict                 409  it exists already, or its state forbids the change
    ├── InvalidInput             400  bad input from a caller (also a ValueError)
    │   ├── ConfigError          400  bad configuration; names the file, line and key
    │   ├── InvalidHost          400  the Host header names no host this server answers to
    │   ├── ContentTooLarge      413  a request body over its route's limit
    │   └── UnsupportedMediaType 415  a request body of a type its route does not take
    ├── BridgeError              502  a field bus failed; carries the device
    │   ├── BridgeTimeout        504  the device did not answer in time
    │   ├── ProtocolError        502  it answered what the protocol does not allow
    │   └── DeviceError          502  it answered with an error (e.g. a Modbus exception)
    └── AuthError                401  not logged in, or not allowed
        ├── Forbidden            403
        └── RateLimited          429  too many failed logins; retry after detail["retry_after_s"]

Library errors are translated at each boundary with :func:`map_exceptions`, so
callers never see them bare: ``sqlite3`` and ``psycopg`` in the store actors,
``httpx`` in the CLI's API client, ``tomllib`` and file reading in
``opencrate.toml_lines`` (used by every configuration reader), ``croniter`` in
the persistence strategies, protocol stacks in the bridges. The statuses live
in exactly one table, ``opencrate.api.status``, which the API's error handler
and the CLI client both read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

__all__ = [
    "AuthError",
    "BridgeError",
    "BridgeTimeout",
    "ConfigError",
    "Conflict",
    "ContentTooLarge",
    "DeviceError",
    "Forbidden",
    "InvalidHost",
    "InvalidInput",
    "MapTarget",
    "NotFound",
    "OpenCrateError",
    "ProtocolError",
    "RateLimited",
    "StorageFull",
    "StoreBroken",
    "StoreClosed",
    "StoreCorrupt",
    "StoreError",
    "StoreUnavailable",
    "UnsupportedMediaType",
    "map_exceptions",
]


class OpenCrateError(Exception):
    """Base of every error OpenCrate raises on purpose.

    ``detail`` carries structured context (node id, device, store name) that the
    API returns beside the message.
    """

    code = "error"

    def __init__(self, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.message = message
        self.detail: dict[str, Any] = detail

    def __str__(self) -> str:
        return self.message


class StoreError(OpenCrateError):
    code = "store_error"


class StoreClosed(StoreError):
    code = "store_closed"


class StoreBroken(StoreError):
    """The store's actor ended with an error: not closed by you, and not coming back.

    trio's ``BrokenResourceError`` to :class:`StoreClosed`'s ``ClosedResourceError``.
    """

    code = "store_broken"


class StoreUnavailable(StoreError):
    """The store could not write (its file is read-only, the disk failed): nothing was stored.

    Not the caller's fault and not a bug; the store is ``degraded`` in health
    until a later write commits.
    """

    code = "store_unavailable"


class StorageFull(StoreUnavailable):
    """Its disk (or its size limit) is full: nothing was stored; retry once space is freed."""

    code = "storage_full"


class StoreCorrupt(StoreError):
    code = "store_corrupt"


class NotFound(OpenCrateError):
    code = "not_found"


class Conflict(OpenCrateError):
    code = "conflict"


class InvalidInput(OpenCrateError, ValueError):
    code = "invalid_input"


class ConfigError(InvalidInput):
    """Bad configuration. The message names the file, line and key where known."""

    code = "config_error"

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        key: str | None = None,
        **detail: Any,
    ) -> None:
        where = ":".join(str(p) for p in (file, line) if p is not None)
        if key is not None:
            where = f"{where} [{key}]" if where else f"[{key}]"
        super().__init__(f"{where}: {message}" if where else message, **detail)
        self.file, self.line, self.key = file, line, key
        #: The message without the location, to re-raise it elsewhere.
        self.reason = message


class InvalidHost(InvalidInput):
    """The request's Host is not one this server answers to (a DNS-rebinding guard)."""

    code = "invalid_host"


class ContentTooLarge(InvalidInput):
    """The request body is larger than its route accepts (RFC 9110 §15.5.14)."""

    code = "content_too_large"


class UnsupportedMediaType(InvalidInput):
    """The request body's content type is not one its route accepts."""

    code = "unsupported_media_type"


class BridgeError(OpenCrateError):
    code = "bridge_error"


class BridgeTimeout(BridgeError):
    code = "bridge_timeout"


class ProtocolError(BridgeError):
    code = "protocol_error"


class DeviceError(BridgeError):
    code = "device_error"


class AuthError(OpenCrateError):
    code = "unauthorized"


class Forbidden(AuthError):
    code = "forbidden"


class RateLimited(AuthError):
    """Too many attempts (failed logins); ``detail["retry_after_s"]`` says when to retry."""

    code = "rate_limited"


#: What :func:`map_exceptions` raises for a library exception: an OpenCrate
#: class (built from the exception's text and the boundary's detail), or a
#: function that builds the error from the exception (to word the message, or
#: to read a position out of it).
MapTarget = type[OpenCrateError] | Callable[[Any], OpenCrateError]


@contextlib.contextmanager
def map_exceptions(
    mapping: Mapping[type[BaseException], MapTarget], **detail: Any
) -> Iterator[None]:
    """Translate library exceptions into OpenCrate ones at a boundary.

    The first entry of ``mapping`` that the raised exception is an instance of
    wins, so list subclasses before their bases. A class target is raised as
    ``target(str(exc), **detail)``; a function target is called with the
    exception and what it returns is raised (``detail`` is the class targets'
    only). The original stays as ``__cause__``, for the traceback of a bug.

    An :class:`OpenCrateError` passes through untouched, and so does anything
    ``mapping`` does not name. A ``BaseException`` that is not an ``Exception``
    is mapped only when ``mapping`` names its own class (bacpypes3 raises its
    Error / Reject / Abort PDUs that way), so ``trio.Cancelled`` is never caught.
    """
    try:
        yield
    except OpenCrateError:
        raise
    except BaseException as exc:
        for source, target in mapping.items():
            if isinstance(exc, source) and (isinstance(exc, Exception) or _names(source)):
                if isinstance(target, type):
                    raise target(str(exc) or type(exc).__name__, **detail) from exc
                raise target(exc) from exc
        raise


def _names(source: type[BaseException]) -> bool:
    """Whether ``source`` names a library's own BaseException, not a base of everything.

    Some libraries raise errors that are not ``Exception`` (bacpypes3's Error,
    Reject and Abort PDUs); a mapping that names such a class maps it. Naming
    ``BaseException`` itself never catches ``trio.Cancelled`` or ``KeyboardInterrupt``.
    """
    return source is not BaseException and not issubclass(Exception, source)
