"""What a property is: its context and name (checked), and the values it holds.

A property is ``(context, name) -> value``. The context is a path
(``"devices/1001"``), the name an identifier, the value JSON or bytes; bytes
over the store's threshold come back from a read as a :class:`BlobRef`. The
store (:mod:`.store`), the routes and the CLI check keys with the same
functions, so a key is refused the same way whichever way it arrives.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeAlias

from attrs import frozen

from opencrate.errors import InvalidInput

__all__ = [
    "CONTEXT_PATTERN",
    "MAX_CONTEXT_LENGTH",
    "MAX_NAME_LENGTH",
    "NAME_PATTERN",
    "RESERVED_NAMES",
    "BlobRef",
    "JsonValue",
    "PropertyValue",
    "StoredValue",
    "check_context",
    "check_name",
    "dump_json",
]

JsonValue: TypeAlias = bool | int | float | str | list[Any] | dict[str, Any] | None
#: What :meth:`PropertyStore.put` takes.
PropertyValue: TypeAlias = JsonValue | bytes
#: What :meth:`PropertyStore.get` returns: large bytes come back as a reference.
StoredValue: TypeAlias = "JsonValue | bytes | BlobRef"

# Read with fullmatch: with .match, "$" also matched before a trailing newline.
#: A context and a name, as regular expressions (the API's schema states them too).
CONTEXT_PATTERN = r"[A-Za-z0-9_.:@-]+(/[A-Za-z0-9_.:@-]+)*"
NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_.-]*"
_CONTEXT = re.compile(CONTEXT_PATTERN)
_NAME = re.compile(NAME_PATTERN)
MAX_CONTEXT_LENGTH = 512
MAX_NAME_LENGTH = 128
#: Reserved: ``.../{name}/blob`` is the blob download route.
RESERVED_NAMES = frozenset({"blob"})


@frozen(kw_only=True)
class BlobRef:
    """A large binary value kept in blocks; fetch the bytes with :meth:`PropertyStore.iter_blob`."""

    size: int
    sha256: str
    chunks: int


def check_context(context: object) -> str:
    """A context path: segments of letters, digits and ``_ . : @ -`` joined by ``/``."""
    if not isinstance(context, str) or not context:
        raise InvalidInput("property context must be a non-empty string", field="context")
    if len(context) > MAX_CONTEXT_LENGTH or not _CONTEXT.fullmatch(context):
        raise InvalidInput(
            f"property context {context[:80]!r} is not a path of segments made of letters, "
            f"digits and _ . : @ - joined by '/' (at most {MAX_CONTEXT_LENGTH} characters)",
            field="context",
        )
    return context


def check_name(name: object) -> str:
    """A property name: a letter or ``_`` then letters, digits, ``_ . -``; not ``blob``."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(
            f"property name {str(name)[:80]!r} must start with a letter or _ and hold only "
            f"letters, digits and _ . - (at most {MAX_NAME_LENGTH} characters)",
            field="name",
        )
    if name in RESERVED_NAMES:
        raise InvalidInput(f"property name {name!r} is reserved", field="name")
    return name


def dump_json(value: object, where: str) -> str:
    try:
        return json.dumps(value, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"property {where}: value is not JSON: {exc}", field="value") from None
