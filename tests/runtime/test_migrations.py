"""Every store's migrations against a golden schema dump, from every earlier version.

The stores are found, not listed: every module under ``opencrate`` is imported
and every subclass of :class:`~opencrate.runtime.actor.StoreActor` defined
there is checked, so a new store is covered the day it lands (and this test
fails until its golden dump, ``golden/<store name>.sql``, is added).

For each store and each earlier ``PRAGMA user_version`` *k* (0 is the empty
file): the file is migrated to *k*, seeded with rows (``SEEDS``, required for
every *k* > 0), migrated to the latest version, and then its schema must equal
both the golden dump and the schema of a fresh create, and every seeded row
must still be there. A migration can therefore never silently give a schema
that a fresh create does not.

After a deliberate schema change, rewrite the dumps and review the diff::

    OPENCRATE_UPDATE_GOLDEN=1 pytest tests/runtime/test_migrations.py
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

import opencrate
from opencrate.runtime import sqlite as sq
from opencrate.runtime.actor import StoreActor

GOLDEN = Path(__file__).parent / "golden"

#: Rows to put in a file at (store name, version) before migrating it further.
#: Every store with more than one migration needs an entry per earlier version.
SEEDS: dict[tuple[str, int], str] = {
    (
        "history",
        1,
    ): """
INSERT INTO point (key, point_id, kind) VALUES (1, 'ahu1/sat', 'number'), (2, 'ahu1/fan', 'bool');
INSERT INTO sample (point_key, ts_ms, value) VALUES
    (1, 1699999200000, 21.5), (1, 1699999260000, 22.0), (2, 1699999200000, 1);
INSERT INTO rollup_5m (point_key, start_ms, count, num_count, sum, min, min_ts, max, max_ts,
    first, first_ts, last, last_ts, changes, integral, integral_sq, weight_ms, close)
VALUES (1, 1699999200000, 2, 2, 43.5, 21.5, 1699999200000, 22.0, 1699999260000,
    21.5, 1699999200000, 22.0, 1699999260000, 1, 6510000.0, 1.4e8, 300000, 22.0);
""",
    ("discovery", 1): """
INSERT INTO discovered_device (device_key, protocol, device_instance, address, vendor_id,
    max_apdu, segmentation, state, first_seen_ms, last_seen_ms, object_count)
VALUES ('1001', 'bacnet', 1001, '10.0.0.5', 15, 1476, 'segmented-both', 'accepted', 1, 2, 2),
    ('1002', 'bacnet', 1002, '10.0.0.6', NULL, 480, NULL, 'ignored', 1, 2, NULL);
INSERT INTO discovered_point (device_key, object_type, object_instance, object_name, units,
    present_value, writable, cov)
VALUES ('1001', 'analog-input', 1, 'SAT', 'degrees-celsius', '13.5', 0, 1),
    ('1001', 'analog-output', 1, 'Damper', 'percent', '40.0', 1, 0);
""",
    ("discovery", 2): """
INSERT INTO discovered_device (device_key, protocol, device_instance, address, state,
    first_seen_ms, last_seen_ms, accepted_ms, node_ids)
VALUES ('1001', 'bacnet', 1001, '10.0.0.5', 'accepted', 1, 2, 2, '["1001"]');
INSERT INTO discovered_point (device_key, object_type, object_instance) VALUES
    ('1001', 'analog-input', 1);
""",
    ("discovery", 3): """
INSERT INTO discovered_device (device_key, protocol, device_instance, address, state,
    first_seen_ms, last_seen_ms, network_id)
VALUES ('1001', 'bacnet', 1001, '10.0.0.5', 'discovered', 1, 2, 'ip-2');
INSERT INTO discovered_point (device_key, object_type, object_instance) VALUES
    ('1001', 'binary-value', 1);
""",
}


def _subclasses(cls: type[StoreActor]) -> Iterator[type[StoreActor]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def store_classes() -> list[type[StoreActor]]:
    """Every StoreActor subclass in opencrate (not the tests' own), by store name."""
    for module in pkgutil.walk_packages(opencrate.__path__, "opencrate."):
        importlib.import_module(module.name)
    found = {cls for cls in _subclasses(StoreActor) if cls.__module__.split(".")[0] == "opencrate"}
    return sorted(found, key=lambda cls: cls.name)


STORES = store_classes()
CASES = [
    pytest.param(cls, version, id=f"{cls.name}-from-v{version}")
    for cls in STORES
    for version in range(max(1, len(cls.migrations)))  # v0 at least: every store has a dump
]


def _format_sql(kind: str, sql: str) -> str:
    """Whitespace-insensitive; a table's columns and constraints one per line."""
    flat = re.sub(r"\s+", " ", sql).strip()
    flat = re.sub(r"\( ", "(", flat)
    flat = re.sub(r" \)", ")", flat)
    flat = re.sub(r" ,", ",", flat)
    if kind != "table":
        return flat + ";"
    out: list[str] = []
    depth = 0
    quote: str | None = None
    for char in flat:
        if quote is not None:
            out.append(char)
            if char == quote:
                quote = None
            continue
        if char in "'\"`[":
            quote = "]" if char == "[" else char
            out.append(char)
        elif char == "(":
            depth += 1
            out.append("(\n    " if depth == 1 else char)
        elif char == ")":
            depth -= 1
            out.append("\n)" if depth == 0 else char)
        elif char == "," and depth == 1:
            out.append(",\n   ")  # the space after the comma completes the indent
        else:
            out.append(char)
    return "".join(out) + ";"


def schema_dump(conn: sqlite3.Connection) -> str:
    """``PRAGMA user_version`` and every object of ``sqlite_master``, sorted, normalized."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    lines = [f"PRAGMA user_version = {version};"]
    rows = conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
    ).fetchall()
    for kind, name, table, sql in rows:
        lines.append("")
        if sql is None:
            lines.append(f"-- {kind} {name} on {table} (made by SQLite)")
        else:
            lines.append(_format_sql(kind, sql))
    return "\n".join(lines) + "\n"


def _row_counts(conn: sqlite3.Connection) -> dict[str, int]:
    tables = [
        name
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def _fresh_dump(cls: type[StoreActor], path: Path) -> str:
    conn = sq.connect(path)
    try:
        sq.migrate(conn, cls.name, cls.migrations)
        return schema_dump(conn)
    finally:
        conn.close()


def test_the_stores_are_found() -> None:
    names = [cls.name for cls in STORES]
    assert len(names) == len(set(names)), f"two stores share a name: {names}"
    for expected in ("alarms", "audit", "events", "history", "nodes", "properties"):
        assert expected in names


def test_every_golden_dump_belongs_to_a_store() -> None:
    names = {cls.name for cls in STORES}
    orphans = sorted(p.stem for p in GOLDEN.glob("*.sql") if p.stem not in names)
    assert orphans == [], f"golden dumps with no store: {orphans}"


@pytest.mark.parametrize(("cls", "start"), CASES)
def test_migrating_from_every_earlier_version_gives_the_golden_schema(
    cls: type[StoreActor], start: int, tmp_path: Path
) -> None:
    golden = GOLDEN / f"{cls.name}.sql"
    fresh = _fresh_dump(cls, tmp_path / "fresh.db")
    if os.environ.get("OPENCRATE_UPDATE_GOLDEN") == "1":
        golden.write_text(fresh)
    if not golden.exists():
        pytest.fail(
            f"store {cls.name} ({cls.__module__}) has no golden schema dump {golden}; "
            "write it with OPENCRATE_UPDATE_GOLDEN=1 and review it"
        )

    conn = sq.connect(tmp_path / "migrated.db")
    try:
        sq.migrate(conn, cls.name, cls.migrations[:start])
        if start > 0:
            seed = SEEDS.get((cls.name, start))
            if seed is None:
                pytest.fail(f"add rows for store {cls.name} at version {start} to SEEDS")
            conn.executescript(seed)
        seeded = _row_counts(conn)
        assert sq.migrate(conn, cls.name, cls.migrations) == len(cls.migrations)
        migrated = schema_dump(conn)
        after = _row_counts(conn)
    finally:
        conn.close()

    assert migrated == fresh, f"{cls.name}: migrating from v{start} differs from a fresh create"
    assert migrated == golden.read_text(), f"{cls.name}: schema differs from {golden}"
    if start > 0:
        assert any(seeded.values()), f"SEEDS[{cls.name!r}, {start}] inserts no rows"
    assert {t: after[t] for t in seeded} == seeded, f"{cls.name}: rows lost migrating"
