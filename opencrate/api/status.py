"""The one table from OpenCrate's exception tree to HTTP statuses, and back.

The server answers an error with :func:`status_for` and the error's ``code``;
the CLI client turns that answer back into the exception with
:func:`error_class`. Both read :data:`STATUS`, so the two ends cannot drift.
No quart here: the CLI imports this module without the web stack.

=======  ==============================================  ==========================
status   exception                                       meaning
=======  ==============================================  ==========================
400      :class:`~opencrate.errors.InvalidInput`         bad input (ConfigError, InvalidHost too)
413      :class:`~opencrate.errors.ContentTooLarge`      a body over its route's limit
415      :class:`~opencrate.errors.UnsupportedMediaType` a body type the route does not take
401      :class:`~opencrate.errors.AuthError`            not logged in
403      :class:`~opencrate.errors.Forbidden`            not allowed
429      :class:`~opencrate.errors.RateLimited`          too many attempts
404      :class:`~opencrate.errors.NotFound`             no such thing
409      :class:`~opencrate.errors.Conflict`             exists, or state forbids it
502      :class:`~opencrate.errors.BridgeError`          a field bus or device failed
503      :class:`~opencrate.errors.StoreClosed`,         the store is closing, or
         :class:`~opencrate.errors.StoreBroken`,         its actor died, or it cannot
         :class:`~opencrate.errors.StoreUnavailable`     write now (``storage_full``:
                                                         its disk is full)
504      :class:`~opencrate.errors.BridgeTimeout`        the device did not answer
500      :class:`~opencrate.errors.OpenCrateError`       anything else: a bug
=======  ==============================================  ==========================
"""

from __future__ import annotations

from opencrate import errors
from opencrate.errors import (
    AuthError,
    BridgeError,
    BridgeTimeout,
    Conflict,
    ContentTooLarge,
    Forbidden,
    InvalidInput,
    NotFound,
    OpenCrateError,
    RateLimited,
    StoreBroken,
    StoreClosed,
    StoreUnavailable,
    UnsupportedMediaType,
)

__all__ = ["STATUS", "error_class", "status_for"]

#: Most specific first: the first class an exception is an instance of decides
#: its status. Read backwards, the first class listed for a status is what the
#: client raises for that status when the error's code names no better one.
STATUS: tuple[tuple[type[OpenCrateError], int], ...] = (
    (NotFound, 404),
    (Conflict, 409),
    (ContentTooLarge, 413),
    (UnsupportedMediaType, 415),
    (InvalidInput, 400),
    (RateLimited, 429),
    (Forbidden, 403),
    (AuthError, 401),
    (StoreClosed, 503),
    (StoreBroken, 503),
    (StoreUnavailable, 503),
    (BridgeTimeout, 504),
    (BridgeError, 502),
    (OpenCrateError, 500),
)


def status_for(exc: OpenCrateError | type[OpenCrateError]) -> int:
    """The HTTP status for an OpenCrate error (or error class)."""
    cls = exc if isinstance(exc, type) else type(exc)
    for base, status in STATUS:
        if issubclass(cls, base):
            return status
    return 500


def _by_code() -> dict[str, type[OpenCrateError]]:
    found: dict[str, type[OpenCrateError]] = {}
    pending: list[type[OpenCrateError]] = [OpenCrateError]
    while pending:
        cls = pending.pop()
        # Only the tree itself: a subclass defined elsewhere (a test's, a
        # component's) must not capture a code the client decodes.
        if cls.__module__ == errors.__name__:
            found.setdefault(cls.code, cls)
        pending.extend(cls.__subclasses__())
    return found


_BY_CODE = _by_code()
_BY_STATUS: dict[int, type[OpenCrateError]] = {}
for _cls, _status in STATUS:
    _BY_STATUS.setdefault(_status, _cls)


def error_class(status: int, code: str | None = None) -> type[OpenCrateError]:
    """The exception an error answer stands for: by its ``code``, else by its status.

    The code wins only when it names a class of the tree that has this very
    status (a 503 ``store_broken`` is :class:`~opencrate.errors.StoreBroken`, a
    502 ``device_error`` a :class:`~opencrate.errors.DeviceError`); an unknown
    code or one that disagrees with the status falls back to the status's
    class, and an unknown status to :class:`~opencrate.errors.OpenCrateError`.
    """
    cls = _BY_CODE.get(code) if code is not None else None
    if cls is not None and status_for(cls) == status:
        return cls
    return _BY_STATUS.get(status, OpenCrateError)
