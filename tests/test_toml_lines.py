"""The shared TOML line scanner: key paths and tokens back to 1-based lines."""

from __future__ import annotations

import tomllib

import pytest

from opencrate.toml_lines import TomlLines

NESTED = """\
title = "site"                    # 1

[[equip]]                         # 3
id = "ahu1"
[[equip.point]]                   # 5
id = "sat"
unit = "degC"                     # 7
[[equip.point]]                   # 8
id = "rat"
signal = { kind = "sine", period = "1h" }   # 10

[[equip]]                         # 12
id = "ahu2"
[[equip.point]]                   # 14
id = "oat"
unit = "degF"                     # 16
"""


def lines(text: str) -> TomlLines:
    tomllib.loads(text)  # the scanner is only asked about documents tomllib accepted
    return TomlLines(text)


def test_nested_arrays_of_tables_resolve_to_their_element() -> None:
    found = lines(NESTED)
    assert found.line_of(("title",)) == 1
    assert found.line_of(("equip", 0)) == 3
    assert found.line_of(("equip", 0, "point", 0, "unit")) == 7
    assert found.line_of(("equip", 0, "point", 1)) == 8
    # The second equip's point array starts counting at 0 again.
    assert found.line_of(("equip", 1, "point", 0)) == 14
    assert found.line_of(("equip", 1, "point", 0, "unit")) == 16


def test_a_key_inside_an_inline_table_is_reported_at_the_key_holding_it() -> None:
    found = lines(NESTED)
    assert found.line_of(("equip", 0, "point", 1, "signal", "period")) == 10
    assert found.line_of(("equip", 0, "point", 1, "signal")) == 10


def test_a_missing_key_falls_back_to_its_section_header() -> None:
    found = lines(NESTED)
    assert found.line_of(("equip", 1, "point", 0, "unknown")) == 14
    assert found.line_of(("equip", 1, "point", 7, "unit")) == 12


def test_quoted_and_dotted_keys() -> None:
    text = """\
[aliases]
"1001/ai-1" = "outside"
'1001/ai-2' = "inside"
[alarms.limits]
"1101/ai-1".low = 5
site.zone = "north"
["quoted.section"]
key = 1
"""
    found = lines(text)
    assert found.line_of(("aliases", "1001/ai-1")) == 2
    assert found.line_of(("aliases", "1001/ai-2")) == 3
    assert found.line_of(("alarms", "limits", "1101/ai-1", "low")) == 5
    assert found.line_of(("alarms", "limits", "site", "zone")) == 6
    assert found.line_of(("quoted.section", "key")) == 8


def test_unknown_paths_and_tokens_answer_none() -> None:
    found = lines("[server]\nport = 1\n")
    assert found.line_of(("nowhere", "key")) is None
    assert found.line_of(()) is None
    assert found.line_of_token((), "absent") is None
    assert found.line_of_token(("nowhere",), "absent") is None
    assert TomlLines("").line_of(("a",)) is None


PERSISTENCE = """\
[persistence]
default = "sqlite"

[persistence.services.sqlite]
kind = "sqlite"

[persistence.services.sqlite.strategies]
hourly = "0 0 * * * ?"

[[persistence.services.sqlite.items]]
points = ["*"]
strategies = ["hourly", "raw"]

[[persistence.services.sqlite.items]]
points = ["ahu1*"]
raw = 1

[[persistence.services.sqlite.retention.rules]]
points = ["meter*"]
raw = "2y"
"""


def test_a_token_prefers_its_assignment_over_a_value_quoting_it() -> None:
    found = lines(PERSISTENCE)
    item = ("persistence", "services", "sqlite", "items", 1)
    # Line 12 quotes "raw" first; the assignment on line 16 is the one meant.
    assert found.line_of_token(item, "raw") == 16
    # Without an assignment, the first line holding the text.
    assert found.line_of_token(("persistence", "services", "sqlite", "items", 0), "raw") == 12


def test_a_token_within_a_section_and_its_header_fallback() -> None:
    found = lines(PERSISTENCE)
    assert found.line_of_token(("persistence",), "default") == 2
    strategies = ("persistence", "services", "sqlite", "strategies")
    assert found.line_of_token(strategies, "hourly") == 8
    # An unknown token, or none, answers the section's own header.
    assert found.line_of_token(strategies, "missing") == 7
    assert found.line_of_token(("persistence", "services", "sqlite", "items", 1), None) == 14


def test_a_token_naming_a_sub_table_finds_its_header() -> None:
    found = lines(PERSISTENCE)
    service = ("persistence", "services", "sqlite")
    # [persistence.services.sqlite.retention] is never written: the first header under it.
    assert found.line_of_token(service, "retention") == 18
    assert found.line_of_token(service, "strategies") == 7


def test_a_path_without_a_header_uses_its_nearest_enclosing_section() -> None:
    found = lines(PERSISTENCE)
    service = ("persistence", "services", "sqlite", "filters")
    assert found.line_of_token(service, "kind") == 5
    assert found.line_of_token(service, "nothing") == 4


def test_a_token_locator_reads_paths_relative_to_its_prefix() -> None:
    locate = lines(PERSISTENCE).token_locator(("persistence",))
    assert locate(("services", "sqlite", "strategies"), "hourly") == 8
    assert locate((), "default") == 2


def test_a_token_in_the_root_section_stops_at_the_first_header() -> None:
    found = lines('default = "x"\n[services.x]\nkind = "memory"\n')
    assert found.line_of_token((), "default") == 1
    assert found.line_of_token((), "kind") is None
    assert found.line_of_token((), "services") == 2


@pytest.mark.parametrize("row", ['  ["a", "b"]', "  [1, 2]", '  ["x.y"]'])
def test_a_row_of_a_multi_line_array_is_not_a_header(row: str) -> None:
    text = f"[table]\nrows = [\n{row}\n]\nafter = 1\n"
    found = lines(text)
    assert found.line_of(("table", "after")) == 5
    assert found.line_of_token(("table",), "after") == 5


def test_a_header_like_line_inside_a_multi_line_string_is_not_a_header() -> None:
    text = '[table]\nnote = """\n[other]\n"""\nbasic = "[x] # \\" ["\nafter = 1\n[next]\nkey = 2\n'
    found = lines(text)
    assert found.line_of(("table", "after")) == 6
    assert found.line_of(("other",)) is None
    assert found.line_of(("next", "key")) == 8
