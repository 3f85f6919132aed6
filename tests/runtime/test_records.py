"""Declarative records: columns, rows by name, the JSON shape and its schema."""

from __future__ import annotations

import enum
import sqlite3
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
import pytest
from attrs import frozen
from hypothesis import given
from hypothesis import strategies as st

from opencrate.runtime.records import (
    BOOL_INT,
    JSON_TEXT,
    Derived,
    column,
    columns,
    enum_codec,
    fetch_all,
    fetch_one,
    from_json,
    from_row,
    json_schema,
    named_rows,
    record_list_codec,
    to_json,
    to_row,
)


class Colour(enum.StrEnum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 0
    HIGH = 1


@frozen(kw_only=True)
class Note:
    author: str = column()
    ts_ms: int = column()


_COLOUR = enum_codec(Colour)
_LEVEL = enum_codec(Level, json_value=lambda level: level.name.lower())
_NOTES = record_list_codec(Note)


@frozen(kw_only=True)
class Thing:
    id: int = column(sql_type="INTEGER")
    thing_name: str = column(sql="name", sql_type="TEXT", json="label")
    colour: Colour = column(sql_type="TEXT", codec=_COLOUR)
    level: Level = column(sql_type="INTEGER", codec=_LEVEL)
    enabled: bool = column(sql_type="INTEGER", codec=BOOL_INT)
    data: Mapping[str, Any] = column(sql_type="TEXT", codec=JSON_TEXT)
    notes: tuple[Note, ...] = column(sql_type="TEXT", codec=_NOTES)
    kind: str = column(sql=None, default="plain")
    secret: str = column(json=None, default="")
    ended_ms: int | None = column(sql_type="INTEGER", default=None)

    __json_derived__: ClassVar[tuple[Derived, ...]] = (
        Derived(name="ended", get=lambda t: t.ended_ms is not None, after="level", schema={}),
    )


_DDL = (
    "CREATE TABLE thing (id INTEGER PRIMARY KEY, name TEXT, colour TEXT, level INTEGER, "
    "enabled INTEGER, data TEXT, notes TEXT, secret TEXT, ended_ms INTEGER)"
)


def _thing(**changes: Any) -> Thing:
    values: dict[str, Any] = {
        "id": 7,
        "thing_name": "pump",
        "colour": Colour.RED,
        "level": Level.HIGH,
        "enabled": True,
        "data": {"b": [1, 2], "a": None},
        "notes": (Note(author="ann", ts_ms=5),),
    }
    return Thing(**{**values, **changes})


def _db() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute(_DDL)
    return conn


def _store(conn: sqlite3.Connection, thing: Thing) -> None:
    row = to_row(thing)
    names = ", ".join(row)
    marks = ", ".join(f":{name}" for name in row)
    conn.execute(f"INSERT INTO thing ({names}) VALUES ({marks})", row)


def test_columns_lists_stored_fields_by_column_name_in_field_order() -> None:
    assert columns(Thing) == "id, name, colour, level, enabled, data, notes, secret, ended_ms"
    assert columns(Thing, exclude=("secret", "ended_ms")) == (
        "id, name, colour, level, enabled, data, notes"
    )


def test_to_json_follows_field_order_with_json_names_codecs_and_derived_members() -> None:
    body = to_json(_thing())
    assert list(body) == [
        "id",
        "label",
        "colour",
        "level",
        "ended",
        "enabled",
        "data",
        "notes",
        "kind",
        "ended_ms",
    ]
    assert body == {
        "id": 7,
        "label": "pump",
        "colour": "red",
        "level": "high",
        "ended": False,
        "enabled": True,
        "data": {"b": [1, 2], "a": None},
        "notes": [{"author": "ann", "ts_ms": 5}],
        "kind": "plain",
        "ended_ms": None,
    }
    assert type(body["colour"]) is str  # the value, not the StrEnum member


def test_from_row_reads_columns_by_name_whatever_their_order() -> None:
    conn = _db()
    thing = _thing(secret="s", ended_ms=9)
    _store(conn, thing)
    reversed_columns = ", ".join(reversed(columns(Thing).split(", ")))
    assert fetch_one(conn, Thing, f"SELECT {reversed_columns} FROM thing") == thing


def test_from_row_leaves_missing_columns_at_their_default_and_takes_extra_fields() -> None:
    conn = _db()
    _store(conn, _thing(ended_ms=9))
    found = fetch_all(
        conn, Thing, f"SELECT {columns(Thing, exclude=('ended_ms',))} FROM thing WHERE id = ?", (7,)
    )
    assert found == [_thing()]
    row = named_rows(conn, f"SELECT {columns(Thing)} FROM thing").fetchone()
    assert from_row(Thing, row, kind="special").kind == "special"


def test_from_row_names_the_missing_column_of_a_field_without_default() -> None:
    conn = _db()
    _store(conn, _thing())
    row = named_rows(conn, "SELECT id FROM thing").fetchone()
    with pytest.raises(KeyError, match="'name'"):
        from_row(Thing, row)


def test_fetch_one_is_none_without_a_row() -> None:
    assert fetch_one(_db(), Thing, f"SELECT {columns(Thing)} FROM thing") is None


def test_json_schema_describes_every_member_with_types_and_nulls() -> None:
    schema = json_schema(Thing)
    assert schema["title"] == "Thing"
    assert schema["required"] == list(to_json(_thing()))
    props = schema["properties"]
    assert props["id"] == {"type": "integer"}
    assert props["label"] == {"type": "string"}
    assert props["colour"] == {"type": "string", "enum": ["red", "green"]}
    assert props["level"] == {"type": "string", "enum": ["low", "high"]}
    assert props["enabled"] == {"type": "boolean"}
    assert props["ended_ms"] == {"type": ["integer", "null"]}
    assert props["notes"]["items"]["properties"] == {
        "author": {"type": "string"},
        "ts_ms": {"type": "integer"},
    }
    assert "secret" not in props


def test_none_is_null_in_json_whatever_the_codec() -> None:
    assert to_json(_thing(notes=None))["notes"] is None


def test_nullable_enum_codec_adds_null_to_the_schema() -> None:
    codec = enum_codec(Colour, nullable=True)
    assert codec.from_sql("green") is Colour.GREEN
    assert codec.schema == {"type": ["string", "null"], "enum": ["red", "green", None]}


_json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text()
_json_values = (
    _json_scalars
    | st.lists(_json_scalars, max_size=3)
    | st.dictionaries(st.text(), _json_scalars, max_size=3)
)

_things = st.builds(
    Thing,
    id=st.integers(0, 2**63 - 1),
    thing_name=st.text(),
    colour=st.sampled_from(Colour),
    level=st.sampled_from(Level),
    enabled=st.booleans(),
    data=st.dictionaries(st.text(), _json_values, max_size=4),
    notes=st.lists(
        st.builds(Note, author=st.text(), ts_ms=st.integers(0, 2**63 - 1)), max_size=3
    ).map(tuple),
    secret=st.text(),
    ended_ms=st.none() | st.integers(0, 2**63 - 1),
)


@given(_things)
def test_record_round_trips_through_sqlite(thing: Thing) -> None:
    conn = _db()
    _store(conn, thing)
    assert fetch_one(conn, Thing, f"SELECT {columns(Thing)} FROM thing") == thing


@given(_things)
def test_record_round_trips_through_json(thing: Thing) -> None:
    # secret is not sent, so it comes back at its default.
    assert from_json(Thing, to_json(thing)) == _replace_secret(thing)


def _replace_secret(thing: Thing) -> Thing:
    return attrs.evolve(thing, secret="")
