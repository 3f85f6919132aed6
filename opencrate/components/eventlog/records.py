"""Records of the event log (seed 004): levels, events, acknowledgements, queries, cursors.

Pure data and validation, no I/O. The store (:mod:`opencrate.components.eventlog.store`)
takes :class:`NewEvent` in and gives :class:`EventRecord` out; readers page
with :class:`EventQuery` and an opaque :class:`EventCursor`.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
from attrs import field, frozen

from opencrate.clock import ms_to_iso
from opencrate.components.eventlog.tables import TableKind
from opencrate.errors import InvalidInput
from opencrate.model.ids import validate_node_id
from opencrate.runtime.records import (
    JSON_TEXT,
    Derived,
    column,
    enum_codec,
    record_list_codec,
)
from opencrate.validation import INT64_MAX, ascii_int, is_int
from opencrate.validation import check_text as _check_text

__all__ = [
    "MAX_ID",
    "MAX_PAGE",
    "MAX_TEXT",
    "Acknowledgement",
    "Enrichment",
    "EventCursor",
    "EventLevel",
    "EventPage",
    "EventQuery",
    "EventRecord",
    "NewEvent",
    "Order",
    "check_page_size",
    "check_text",
    "dump_json_object",
]

#: The server-side cap on a page of events: larger requests are clamped to it.
MAX_PAGE = 1000
#: Longest event name, permission, format, user, comment or enrichment name accepted.
MAX_TEXT = 200
#: Largest event id or time in ms the log takes: SQLite's largest INTEGER (sqlite3
#: raises a bare OverflowError binding a larger one).
MAX_ID = INT64_MAX


class EventLevel(enum.IntEnum):
    """How serious an event is. Stored as the integer, so ``level >= WARNING`` is one compare."""

    DEBUG = 0
    INFO = 1
    NOTICE = 2
    WARNING = 3
    ERROR = 4
    FATAL = 5

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: object) -> EventLevel:
        """A level from its name (``"warning"``, any case) or its number; InvalidInput otherwise."""
        if isinstance(value, EventLevel):
            return value
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 5:
            return cls(value)
        if isinstance(value, str):
            found = cls.__members__.get(value.strip().upper())
            if found is not None:
                return found
        names = ", ".join(level.label for level in cls)
        raise InvalidInput(f"unknown event level {value!r} (use one of {names})", field="level")


def _parse_level(value: object) -> EventLevel:
    return EventLevel.parse(value)


def _parse_optional_level(value: object) -> EventLevel | None:
    return None if value is None else EventLevel.parse(value)


class Order(enum.Enum):
    """Paging direction over ``(time, id)``."""

    NEWEST_FIRST = "desc"
    OLDEST_FIRST = "asc"


def _text(value: object, what: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    # The dedup key joins fields with NUL, so a NUL inside one would let two
    # different events share a key; no name, role or format needs a control character.
    return _check_text(value, what, max_length=MAX_TEXT, controls_ok=False)


def dump_json_object(value: object, what: str) -> str:
    """Canonical JSON text of a JSON object (sorted keys); InvalidInput naming ``what``."""
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{what} must be a JSON object", field=what)
    try:
        return json.dumps(dict(value), allow_nan=False, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what} is not JSON: {exc}", field=what) from None


@frozen(kw_only=True)
class Acknowledgement:
    """Someone saw the event: who, when (epoch ms) and what they said."""

    user: str = column()
    ts_ms: int = column()
    comment: str = column(default="")


@frozen(kw_only=True)
class Enrichment:
    """A named value attached to an event after the fact (a diagnosis, a ticket number)."""

    name: str = column()
    value: Any = column(schema={})
    author: str = column()
    ts_ms: int = column()


@frozen(kw_only=True)
class NewEvent:
    """An event to record. Validated on construction (InvalidInput naming the field).

    ``context`` is the node id or resource path the event belongs to and follows
    the node id rules (:func:`~opencrate.model.ids.validate_node_id`).
    ``created_ms`` is when it happened; ``expires_ms`` when it may be purged.
    ``permissions`` is the role needed to see it, or ``None`` for the type's
    default; ``format`` likewise. ``data`` is a JSON object.
    """

    context: str = field()
    name: str = field()
    created_ms: int = field()
    expires_ms: int = field()
    level: EventLevel = field(converter=_parse_level)
    data: Mapping[str, Any] = field(factory=dict)
    permissions: str | None = None
    format: str | None = None

    @context.validator
    def _check_context(self, _: attrs.Attribute[str], value: str) -> None:
        validate_node_id(value, what="context")

    @name.validator
    def _check_name(self, _: attrs.Attribute[str], value: str) -> None:
        _text(value, "name")

    @created_ms.validator
    def _check_created(self, _: attrs.Attribute[int], value: int) -> None:
        if not is_int(value, minimum=0):
            raise InvalidInput(
                "created_ms must be a non-negative 64-bit integer", field="created_ms"
            )

    @expires_ms.validator
    def _check_expires(self, _: attrs.Attribute[int], value: int) -> None:
        if not is_int(value):
            raise InvalidInput("expires_ms must be a 64-bit integer", field="expires_ms")
        if value <= self.created_ms:
            raise InvalidInput("expires_ms must be after created_ms", field="expires_ms")

    def __attrs_post_init__(self) -> None:
        _text(self.permissions, "permissions", optional=True)
        _text(self.format, "format", optional=True)
        dump_json_object(self.data, "data")

    @property
    def device(self) -> str:
        """The device part of the context by the ``"{device}/{point}"`` convention."""
        return self.context.partition("/")[0]


_TABLE_KIND = enum_codec(TableKind)
_LEVEL = enum_codec(EventLevel, json_value=lambda level: level.label, parse=EventLevel.parse)
_ACKNOWLEDGEMENTS = record_list_codec(Acknowledgement)
_ENRICHMENTS = record_list_codec(Enrichment)


@frozen(kw_only=True)
class EventRecord:
    """A stored event.

    ``id`` is unique across every event table (see :mod:`~opencrate.components.eventlog.tables`).
    ``created_ms`` is the last occurrence, ``first_ms`` the first; ``count`` how
    many identical occurrences were folded into this row (deduplication).
    ``table`` names the kind of table that holds it (general, info, alert, change).
    """

    id: int = column(sql_type="INTEGER")
    table: TableKind = column(sql=None, codec=_TABLE_KIND)
    context: str = column(sql_type="TEXT")
    name: str = column(sql_type="TEXT")
    level: EventLevel = column(sql_type="INTEGER", codec=_LEVEL)
    created_ms: int = column(sql_type="INTEGER")
    first_ms: int = column(sql_type="INTEGER")
    expires_ms: int = column(sql_type="INTEGER")
    permissions: str | None = column(sql_type="TEXT")
    count: int = column(sql_type="INTEGER")
    acknowledgements: tuple[Acknowledgement, ...] = column(
        sql="acks", sql_type="TEXT", codec=_ACKNOWLEDGEMENTS
    )
    enrichments: tuple[Enrichment, ...] = column(sql_type="TEXT", codec=_ENRICHMENTS)
    format: str | None = column(sql_type="TEXT")
    data: Mapping[str, Any] = column(sql_type="TEXT", codec=JSON_TEXT, schema={"type": "object"})

    # The JSON form the API and the CLI print has times as epoch ms and ISO text.
    __json_derived__: ClassVar[tuple[Derived, ...]] = (
        Derived(
            name="created",
            get=lambda event: ms_to_iso(event.created_ms),
            after="created_ms",
            schema={"type": "string", "format": "date-time"},
        ),
    )

    @property
    def acknowledged(self) -> bool:
        return bool(self.acknowledgements)


@frozen(kw_only=True)
class EventCursor:
    """A position in ``(created_ms, id)`` order: the last row of the previous page.

    Its text form (``"<created_ms>.<id>"``) is what the API hands out as
    ``next_cursor``; :meth:`parse` reads it back and refuses anything else.
    """

    created_ms: int
    id: int

    def __str__(self) -> str:
        return f"{self.created_ms}.{self.id}"

    @classmethod
    def parse(cls, text: str) -> EventCursor:
        created, sep, ident = text.strip().partition(".")
        created_ms = ascii_int(created, minimum=0)
        event_id = ascii_int(ident, minimum=0)
        if not sep or created_ms is None or event_id is None:
            raise InvalidInput(f"not an event cursor: {text[:60]!r}", field="cursor")
        return cls(created_ms=created_ms, id=event_id)


@frozen(kw_only=True)
class EventQuery:
    """Which events to read. Every filter is optional; ``None`` means "any".

    ``context`` is one context exactly; ``under`` is a context and every
    context beneath it (``1001`` and ``1001/...``). ``min_level`` keeps events
    at that level or above; ``since``/``until`` bound ``created_ms`` (``since``
    inclusive, ``until`` exclusive).
    """

    context: str | None = None
    under: str | None = None
    name: str | None = None
    min_level: EventLevel | None = field(default=None, converter=_parse_optional_level)
    since_ms: int | None = None
    until_ms: int | None = None
    order: Order = Order.NEWEST_FIRST

    def __attrs_post_init__(self) -> None:
        if self.context is not None:
            validate_node_id(self.context, what="context")
        if self.under is not None:
            validate_node_id(self.under, what="under")
        if self.name is not None:
            _text(self.name, "name")
        for what, value in (("since", self.since_ms), ("until", self.until_ms)):
            if value is not None and not is_int(value):
                # Beyond SQLite's integers sqlite3 would raise a bare OverflowError.
                raise InvalidInput(f"{what} must be epoch milliseconds", field=what)
        if (
            self.since_ms is not None
            and self.until_ms is not None
            and self.since_ms >= self.until_ms
        ):
            raise InvalidInput("since must be before until", field="since")


@frozen(kw_only=True)
class EventPage:
    """One page of events and where the next one starts (``None``: this was the last)."""

    events: tuple[EventRecord, ...]
    next_cursor: EventCursor | None


def check_page_size(limit: int) -> int:
    """``limit`` clamped to :data:`MAX_PAGE`; InvalidInput when it is not a positive int."""
    # Clamped, not refused, above MAX_PAGE: any size of positive int will do.
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidInput(f"limit must be a positive integer, got {limit!r}", field="limit")
    return min(limit, MAX_PAGE)


def check_text(value: object, what: str) -> str:
    """A non-empty string of at most :data:`MAX_TEXT` characters; InvalidInput otherwise."""
    checked = _text(value, what)
    assert checked is not None
    return checked
