"""Declarative records: attrs fields that know their SQLite column and their JSON member.

A record stays a frozen attrs class; each field that is stored or sent is
declared with :func:`column`, which keeps a :class:`Column` in the field's
metadata: the column name, the JSON member name and a :class:`Codec` that
converts the Python value to and from its SQL and JSON forms::

    @frozen(kw_only=True)
    class AuditEntry:
        id: int = column(sql_type="INTEGER")
        ts_ms: int = column(sql_type="INTEGER")
        detail: Mapping[str, Any] = column(sql_type="TEXT", codec=JSON_TEXT)

    columns(AuditEntry)             # "id, ts_ms, detail": the SELECT list
    fetch_all(conn, AuditEntry, f"SELECT {columns(AuditEntry)} FROM audit_entry")
    from_row(AuditEntry, row)       # from a sqlite3.Row, by column name
    to_json(entry)                  # {"id": 1, "ts_ms": ..., "detail": {...}}
    json_schema(AuditEntry)         # a JSON Schema of that shape

The SQL of queries stays written out by each store; this module only names
the columns and maps rows. Members of the JSON shape that are computed from
the record (an alarm's ``state``) are declared with :class:`Derived` in the
record's ``__json_derived__`` class attribute, each placed after a field.
:func:`json_schema` is what the API contract builds its request and response
schemas from, so that every shape is written once, on its record.
"""

from __future__ import annotations

import enum
import json
import sqlite3
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import attrs
from attrs import NOTHING, frozen

__all__ = [
    "BOOL_INT",
    "IDENTITY",
    "JSON_TEXT",
    "Codec",
    "Column",
    "Derived",
    "column",
    "column_meta",
    "columns",
    "enum_codec",
    "fetch_all",
    "fetch_one",
    "from_json",
    "from_row",
    "iter_records",
    "json_schema",
    "named_rows",
    "record_list_codec",
    "to_json",
    "to_row",
]

T = TypeVar("T")

_KEY = "opencrate.record"


def _same(value: Any) -> Any:
    return value


@frozen(kw_only=True)
class Codec:
    """How one field's value becomes its SQL value and its JSON value, and back.

    ``None`` never reaches a codec: it is SQL NULL and JSON null both ways.

    ``schema`` is the JSON Schema of the JSON value; ``None`` derives it from
    the field's annotation (int, str, bool, float, ``X | None``).
    """

    from_sql: Callable[[Any], Any] = _same
    to_sql: Callable[[Any], Any] = _same
    to_json: Callable[[Any], Any] = _same
    from_json: Callable[[Any], Any] = _same
    schema: Mapping[str, Any] | None = None


#: The value is the same in Python, SQL and JSON (int, str, float, None).
IDENTITY = Codec()

#: A bool stored as SQLite's 0 or 1.
BOOL_INT = Codec(from_sql=bool, to_sql=int, schema={"type": "boolean"})


def _dump_json_text(value: Any) -> str:
    return json.dumps(value, allow_nan=False, sort_keys=True, separators=(",", ":"))


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_thaw(v) for v in value]
    return value


#: Any JSON value stored as JSON text (canonical: sorted keys, no spaces).
JSON_TEXT = Codec(from_sql=json.loads, to_sql=_dump_json_text, to_json=_thaw, schema={})


def enum_codec(
    cls: type[enum.Enum],
    *,
    json_value: Callable[[Any], Any] | None = None,
    parse: Callable[[Any], Any] | None = None,
    nullable: bool = False,
) -> Codec:
    """An enum stored as its value; in JSON its value too, or ``json_value(member)``.

    ``parse`` reads the JSON form back (default: by the JSON form).
    ``nullable`` adds null to the schema (the value itself is never converted).
    """
    to_json_fn = json_value or (lambda member: member.value)
    choices = [to_json_fn(member) for member in cls]
    kind = "integer" if all(isinstance(c, int) for c in choices) else "string"
    schema: dict[str, Any] = {"type": [kind, "null"] if nullable else kind, "enum": choices}
    from_json_fn = parse or (lambda raw: _by_json(cls, to_json_fn, raw))
    if nullable:
        schema["enum"] = [*choices, None]
    return Codec(
        from_sql=cls,
        to_sql=lambda member: member.value,
        to_json=to_json_fn,
        from_json=from_json_fn,
        schema=schema,
    )


def _by_json(cls: type[enum.Enum], to_json_fn: Callable[[Any], Any], raw: Any) -> Any:
    for member in cls:
        if to_json_fn(member) == raw:
            return member
    raise ValueError(f"{raw!r} is not a {cls.__name__}")


def record_list_codec(cls: type[Any]) -> Codec:
    """A tuple of records (not stored themselves) kept as JSON text of their JSON forms."""

    def load(text: str) -> tuple[Any, ...]:
        return tuple(from_json(cls, item) for item in json.loads(text))

    return Codec(
        from_sql=load,
        to_sql=lambda items: _dump_json_text([to_json(item) for item in items]),
        to_json=lambda items: [to_json(item) for item in items],
        from_json=lambda items: tuple(from_json(cls, item) for item in items),
        schema={"type": "array", "items": json_schema(cls)},
    )


@frozen(kw_only=True)
class Column:
    """The metadata :func:`column` keeps on a field. ``None`` names: not stored / not sent."""

    sql: str | None
    sql_type: str
    json: str | None
    codec: Codec
    description: str
    schema: Mapping[str, Any] | None


@frozen(kw_only=True)
class Derived:
    """A JSON member computed from the record, placed right after the field ``after``."""

    name: str
    get: Callable[[Any], Any]
    after: str
    schema: Mapping[str, Any]


_ATTR_NAME = "\0attr"


def column(
    *,
    sql: str | None = _ATTR_NAME,
    sql_type: str = "",
    json: str | None = _ATTR_NAME,
    codec: Codec = IDENTITY,
    default: Any = NOTHING,
    factory: Callable[[], Any] | None = None,
    description: str = "",
    schema: Mapping[str, Any] | None = None,
    **field_kwargs: Any,
) -> Any:
    """An attrs field with its column (``sql``) and JSON member (``json``) names.

    Both default to the attribute name; ``None`` leaves the field out of the
    table or out of the JSON shape. ``schema`` overrides the JSON Schema of the
    member (default: the codec's, else one from the annotation). Other keywords
    (validator) go to :func:`attrs.field`. A field with a converter is better
    written ``attrs.field(converter=..., metadata=column_meta(...))``: mypy's
    attrs plugin then types ``__init__`` from the converter.
    """
    meta = column_meta(
        sql=sql, sql_type=sql_type, json=json, codec=codec, description=description, schema=schema
    )
    if factory is not None:
        return attrs.field(factory=factory, metadata=meta, **field_kwargs)
    return attrs.field(default=default, metadata=meta, **field_kwargs)


def column_meta(
    *,
    sql: str | None = _ATTR_NAME,
    sql_type: str = "",
    json: str | None = _ATTR_NAME,
    codec: Codec = IDENTITY,
    description: str = "",
    schema: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``metadata`` of an attrs field declared as :func:`column` (same arguments)."""
    return {
        _KEY: Column(
            sql=sql,
            sql_type=sql_type,
            json=json,
            codec=codec,
            description=description,
            schema=schema,
        )
    }


@frozen
class _Member:
    attr: str
    column: Column
    has_default: bool


@frozen
class _Layout:
    stored: tuple[tuple[str, str, Callable[[Any], Any], bool], ...]  # column, attr, from_sql, opt
    members: tuple[tuple[str, Callable[[Any], Any]], ...]  # JSON name, value of the record
    fields: tuple[_Member, ...]
    derived: tuple[Derived, ...]
    columns: str


_LAYOUTS: dict[type[Any], _Layout] = {}


def _layout(cls: type[Any]) -> _Layout:
    layout = _LAYOUTS.get(cls)
    if layout is None:
        layout = _LAYOUTS[cls] = _build_layout(cls)
    return layout


def _build_layout(cls: type[Any]) -> _Layout:
    fields: list[_Member] = []
    for f in attrs.fields(cls):
        meta = f.metadata.get(_KEY)
        if meta is None:
            meta = Column(
                sql=None, sql_type="", json=None, codec=IDENTITY, description="", schema=None
            )
        else:
            meta = attrs.evolve(
                meta,
                sql=f.name if meta.sql == _ATTR_NAME else meta.sql,
                json=f.name if meta.json == _ATTR_NAME else meta.json,
            )
        fields.append(_Member(f.name, meta, f.default is not NOTHING))
    derived: tuple[Derived, ...] = getattr(cls, "__json_derived__", ())
    members: list[tuple[str, Callable[[Any], Any]]] = []
    for m in fields:
        if m.column.json is not None:
            members.append((m.column.json, _getter(m.attr, m.column.codec.to_json)))
        members.extend((d.name, d.get) for d in derived if d.after == m.attr)
    missing = {d.after for d in derived} - {m.attr for m in fields}
    if missing:
        raise TypeError(f"{cls.__name__}.__json_derived__ follows unknown fields {missing}")
    stored = tuple(
        (m.column.sql, m.attr, m.column.codec.from_sql, m.has_default)
        for m in fields
        if m.column.sql is not None
    )
    return _Layout(
        stored=stored,
        members=tuple(members),
        fields=tuple(fields),
        derived=derived,
        columns=", ".join(name for name, *_ in stored),
    )


def _getter(attr: str, convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    if convert is _same:
        return lambda record: getattr(record, attr)

    def get(record: Any) -> Any:
        value = getattr(record, attr)
        return None if value is None else convert(value)

    return get


def columns(cls: type[Any], *, exclude: Iterable[str] = ()) -> str:
    """The record's columns, comma-separated, for a SELECT list (``exclude``: column names)."""
    skip = set(exclude)
    if not skip:
        return _layout(cls).columns
    return ", ".join(name for name, *_ in _layout(cls).stored if name not in skip)


def from_row(cls: type[T], row: sqlite3.Row, **extra: Any) -> T:
    """A ``cls`` from a ``sqlite3.Row``, each field read by its column name.

    A column the row lacks leaves the field at its default (an error if it has
    none); ``extra`` gives fields that are not columns, or overrides them.
    """
    kwargs: dict[str, Any] = {}
    for name, attr, from_sql, has_default in _layout(cls).stored:
        if attr in extra:
            continue
        try:
            raw = row[name]
        except IndexError:
            if has_default:
                continue
            raise KeyError(f"{cls.__name__}: the row has no column {name!r}") from None
        kwargs[attr] = None if raw is None else from_sql(raw)
    kwargs.update(extra)
    return cls(**kwargs)


def to_row(record: Any) -> dict[str, Any]:
    """The record's stored fields as ``{column: SQL value}`` (for named parameters)."""
    out: dict[str, Any] = {}
    for m in _layout(type(record)).fields:
        if m.column.sql is not None:
            value = getattr(record, m.attr)
            out[m.column.sql] = None if value is None else m.column.codec.to_sql(value)
    return out


def to_json(record: Any) -> dict[str, Any]:
    """The record's JSON shape: the one routes, the CLI and the websocket send."""
    return {name: get(record) for name, get in _layout(type(record)).members}


def from_json(cls: type[T], data: Mapping[str, Any], **extra: Any) -> T:
    """A ``cls`` from its JSON shape (derived members are ignored); ``extra`` as in from_row."""
    kwargs: dict[str, Any] = {}
    for m in _layout(cls).fields:
        name = m.column.json
        if name is None or m.attr in extra:
            continue
        if name not in data:
            if m.has_default:
                continue
            raise KeyError(f"{cls.__name__}: the JSON has no member {name!r}")
        raw = data[name]
        kwargs[m.attr] = None if raw is None else m.column.codec.from_json(raw)
    kwargs.update(extra)
    return cls(**kwargs)


def json_schema(cls: type[Any]) -> dict[str, Any]:
    """A JSON Schema (draft 2020-12 subset) of ``to_json``'s output for ``cls``.

    Every member is always present (``required``); a member that may be null
    has ``"null"`` among its types.
    """
    layout = _layout(cls)
    try:
        hints = typing.get_type_hints(cls)
    except NameError:  # an annotation names a type only imported for type checking
        hints = {}
    properties: dict[str, Any] = {}
    for m in layout.fields:
        if m.column.json is None:
            continue
        schema = m.column.schema if m.column.schema is not None else m.column.codec.schema
        prop = dict(_annotation_schema(hints.get(m.attr)) if schema is None else schema)
        if m.column.description:
            prop["description"] = m.column.description
        properties[m.column.json] = prop
        for d in layout.derived:
            if d.after == m.attr:
                properties[d.name] = dict(d.schema)
    return {
        "title": cls.__name__,
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


_SCALARS: Mapping[Any, str] = {bool: "boolean", int: "integer", float: "number", str: "string"}


def _annotation_schema(hint: Any) -> dict[str, Any]:
    if hint in _SCALARS:
        return {"type": _SCALARS[hint]}
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        nullable = len(inner) < len(args)
        if len(inner) == 1:
            schema = _annotation_schema(inner[0])
            if nullable and isinstance(schema.get("type"), str):
                schema["type"] = [schema["type"], "null"]
            return schema
    return {}


def iter_records(
    conn: sqlite3.Connection,
    cls: type[T],
    sql: str,
    params: Sequence[Any] | Mapping[str, Any] = (),
    **extra: Any,
) -> Iterator[T]:
    """Run ``sql`` and build a ``cls`` from each row, by column name (``extra`` as in from_row).

    The names are matched to positions once per query, from the cursor's
    description, so the rows stay plain tuples: as fast as a hand-written
    positional mapper, without its fragility.
    """
    cursor = conn.execute(sql, params)
    build = _row_builder(cls, tuple(d[0] for d in cursor.description), frozenset(extra))
    for row in cursor:
        yield build(row, extra)


def fetch_all(
    conn: sqlite3.Connection,
    cls: type[T],
    sql: str,
    params: Sequence[Any] | Mapping[str, Any] = (),
    **extra: Any,
) -> list[T]:
    """Every row of ``sql`` as a ``cls``, by column name (``extra`` as in from_row)."""
    return list(iter_records(conn, cls, sql, params, **extra))


def fetch_one(
    conn: sqlite3.Connection,
    cls: type[T],
    sql: str,
    params: Sequence[Any] | Mapping[str, Any] = (),
    **extra: Any,
) -> T | None:
    """The first row of ``sql`` as a ``cls``, by column name; ``None`` if there is none."""
    return next(iter_records(conn, cls, sql, params, **extra), None)


_BUILDERS: dict[tuple[type[Any], tuple[str, ...], frozenset[str]], Any] = {}


def _row_builder(
    cls: type[T], names: tuple[str, ...], extra: frozenset[str]
) -> Callable[[Sequence[Any], Mapping[str, Any]], T]:
    key = (cls, names, extra)
    build = _BUILDERS.get(key)
    if build is None:
        build = _BUILDERS[key] = _make_row_builder(cls, names, extra)
    return build


def _make_row_builder(
    cls: type[T], names: tuple[str, ...], extra: frozenset[str]
) -> Callable[[Sequence[Any], Mapping[str, Any]], T]:
    position = {name: i for i, name in enumerate(names)}
    plain: list[tuple[str, int]] = []
    converted: list[tuple[str, int, Callable[[Any], Any]]] = []
    for name, attr, from_sql, has_default in _layout(cls).stored:
        if attr in extra:
            continue
        if name not in position:
            if has_default:
                continue
            raise KeyError(f"{cls.__name__}: the query has no column {name!r}")
        if from_sql is _same:
            plain.append((attr, position[name]))
        else:
            converted.append((attr, position[name], from_sql))

    def build(row: Sequence[Any], extra_values: Mapping[str, Any]) -> T:
        kwargs = {attr: row[i] for attr, i in plain}
        for attr, i, from_sql in converted:
            raw = row[i]
            kwargs[attr] = None if raw is None else from_sql(raw)
        return cls(**kwargs, **extra_values)

    return build


def named_rows(
    conn: sqlite3.Connection, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()
) -> sqlite3.Cursor:
    """A cursor over ``sql`` whose rows are ``sqlite3.Row`` (read by name)."""
    cursor = conn.cursor()
    cursor.row_factory = sqlite3.Row
    return cursor.execute(sql, params)
