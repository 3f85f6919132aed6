from __future__ import annotations

import json
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opencrate.errors import InvalidInput
from opencrate.validation import (
    INT64_MAX,
    INT64_MIN,
    MAX_JSON_DEPTH,
    ascii_decimal,
    ascii_int,
    check_limit,
    check_text,
    decode_cursor,
    encode_cursor,
    has_control_char,
    has_lone_surrogate,
    is_int,
    json_depth_exceeds,
    parse_duration_ms,
    parse_json_object,
    parse_time_ms,
)

NOW = 1_800_000_000_000
# Text with at least one character outside ASCII digits (and '-').
_NOT_DIGITS = st.text().filter(lambda t: any(c not in "0123456789-" for c in t))
_NON_ASCII_DIGITS = st.characters(categories=["Nd", "No"]).filter(lambda c: not c.isascii())


# -- integers -----------------------------------------------------------------------
@given(st.integers(min_value=INT64_MIN, max_value=INT64_MAX))
def test_ascii_int_reads_every_64_bit_integer_back(value: int) -> None:
    assert ascii_int(str(value), signed=True) == value
    assert ascii_int(str(value)) == (value if value >= 0 else None)


@given(st.text(alphabet=_NON_ASCII_DIGITS, min_size=1), st.text(alphabet=string.digits))
def test_ascii_int_refuses_any_non_ascii_digit(digits: str, ascii: str) -> None:
    # str.isdigit() takes "²" and int() takes "٣": neither is ours.
    assert ascii_int(digits) is None
    assert ascii_int(ascii + digits, signed=True) is None
    assert ascii_int(digits + ascii) is None


@given(_NOT_DIGITS)
def test_ascii_int_never_raises_on_any_text(text: str) -> None:
    assert ascii_int(text, signed=True) is None


@pytest.mark.parametrize("text", ["", "-", "+1", " 1", "1 ", "1_000", "0x10", "1.0", "--1"])
def test_ascii_int_refuses_what_int_would_take_or_is_not_an_integer(text: str) -> None:
    assert ascii_int(text, signed=True) is None


def test_ascii_int_refuses_beyond_64_bits_and_outside_its_bounds() -> None:
    assert ascii_int(str(INT64_MAX + 1)) is None
    assert ascii_int(str(INT64_MIN - 1), signed=True) is None
    # int() of more than 4,300 digits is a ValueError; never reached.
    assert ascii_int("1" * 5000) is None
    assert ascii_int("0" * 5000 + "7") == 7
    assert ascii_int("0", minimum=1) is None
    assert ascii_int("11", maximum=10) is None
    assert ascii_int("10", minimum=1, maximum=10) == 10


def test_is_int_takes_ints_in_range_only() -> None:
    assert all(is_int(value) for value in (0, INT64_MAX, INT64_MIN))
    assert not is_int(True)
    assert not is_int(1.0)
    assert not is_int("1")
    assert not is_int(INT64_MAX + 1)
    assert not is_int(0, minimum=1)


@pytest.mark.parametrize(("text", "value"), [("5", 5.0), ("1.5", 1.5), ("5.", 5.0), (".5", 0.5)])
def test_ascii_decimal(text: str, value: float) -> None:
    assert ascii_decimal(text) == value


@pytest.mark.parametrize("text", ["", ".", "-1", "1e3", "inf", "nan", "²", " 1", "9" * 400])
def test_ascii_decimal_refuses(text: str) -> None:
    assert ascii_decimal(text) is None


# -- text ---------------------------------------------------------------------------
def test_control_characters_c0_del_and_optionally_c1() -> None:
    assert all(has_control_char(text) for text in ("a\x00b", "\x1f", "\x7f", "\x85"))
    assert not has_control_char("\x85", c1=False)
    assert not has_control_char("Zone 2 — north ☃")


def test_lone_surrogates() -> None:
    assert all(has_lone_surrogate(text) for text in ("x\ud800", "\udfff"))
    assert not has_lone_surrogate("😀")


@pytest.mark.parametrize(
    ("value", "kwargs", "message"),
    [
        (3, {}, "name must be a string, got int"),
        ("  ", {}, "name must not be empty"),
        ("x" * 11, {}, "name is longer than 10 characters"),
        ("a\x00b", {"controls_ok": False}, "name must not contain control characters"),
        ("a\ud800", {}, "name is not valid Unicode"),
    ],
)
def test_check_text_names_the_rule_broken(
    value: object, kwargs: dict[str, bool], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        check_text(value, "name", max_length=10, **kwargs)
    assert caught.value.detail["field"] == "name"


def test_check_text_returns_good_text() -> None:
    assert check_text("", "comment", max_length=10, empty_ok=True) == ""
    assert check_text("a\tb", "comment", max_length=10) == "a\tb"


# -- limits and cursors -------------------------------------------------------------
@pytest.mark.parametrize("limit", [0, 11, True, 1.0, "5", None])
def test_check_limit_refuses(limit: object) -> None:
    with pytest.raises(InvalidInput, match="limit must be between 1 and 10"):
        check_limit(limit, 10)


@given(st.one_of(st.integers(min_value=INT64_MIN, max_value=INT64_MAX), st.text()))
def test_cursors_round_trip(key: int | str) -> None:
    if isinstance(key, str) and has_lone_surrogate(key):
        return
    assert decode_cursor("audit", encode_cursor("audit", key), type(key)) == key


def test_cursor_of_another_listing_or_unstorable_key_is_refused() -> None:
    with pytest.raises(InvalidInput, match="not a cursor of this listing"):
        decode_cursor("nodes", encode_cursor("audit", 5), int)
    with pytest.raises(InvalidInput, match="not a cursor of this listing"):
        decode_cursor("audit", encode_cursor("audit", 2**63), int)
    with pytest.raises(InvalidInput, match="not a cursor of this listing"):
        decode_cursor("audit", encode_cursor("audit", "\ud800"), str)
    assert decode_cursor("audit", None, int) is None


@given(st.text())
def test_any_cursor_text_is_a_key_or_invalid_input(token: str) -> None:
    try:
        decode_cursor("audit", token, int)
    except InvalidInput:
        pass


# -- durations and times ------------------------------------------------------------
@given(st.text())
def test_any_duration_or_time_text_is_ms_or_invalid_input(text: str) -> None:
    # Never ValueError, OverflowError or UnicodeError.
    for parse in (parse_duration_ms, lambda t: parse_time_ms(t, now_ms=NOW)):
        try:
            assert is_int(parse(text))
        except InvalidInput:
            pass


@pytest.mark.parametrize(
    "text",
    [
        "9" * 400 + "s",  # float infinity: round() raised OverflowError
        "1" * 5000,  # int() refused more than 4,300 digits with a bare ValueError
        "²",
        "٣",
        str(INT64_MAX + 1),
        "-5",
    ],
)
def test_durations_beyond_64_bits_or_not_ascii_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="not a duration"):
        parse_duration_ms(text)


@pytest.mark.parametrize("text", ["9" * 400 + "h", "1" * 5000, str(INT64_MAX + 1), "٣"])
def test_times_beyond_64_bits_or_not_ascii_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="not a time"):
        parse_time_ms(text, now_ms=NOW)


def test_times_parse_epoch_iso_and_durations() -> None:
    assert parse_time_ms(str(INT64_MIN), now_ms=NOW) == INT64_MIN
    assert parse_time_ms("-1000", now_ms=NOW) == -1000
    assert parse_time_ms("1970-01-01T00:00:01Z", now_ms=NOW) == 1000
    assert parse_time_ms("90s", now_ms=NOW, ahead=True) == NOW + 90_000


# -- JSON bodies --------------------------------------------------------------------
def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def test_json_nested_to_the_limit_parses_and_one_deeper_is_refused() -> None:
    assert parse_json_object(_nested(MAX_JSON_DEPTH))
    with pytest.raises(InvalidInput, match=f"deeper than {MAX_JSON_DEPTH} levels"):
        parse_json_object(_nested(MAX_JSON_DEPTH + 1))


@pytest.mark.parametrize("body", ["[" * 1000 + "]" * 1000, "[" * 100_000, '{"a":' * 1000])
def test_json_nested_1000_deep_is_invalid_input_not_recursion_error(body: str) -> None:
    with pytest.raises(InvalidInput, match="nests arrays and objects deeper"):
        parse_json_object(body.encode())


def test_json_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"a": "[" * 1000, "b": '\\"{' * 500, "c": [[["x]]]"]]]})
    assert not json_depth_exceeds(text, 4)
    assert json_depth_exceeds(text, 3)
    assert parse_json_object(text)["a"] == "[" * 1000


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "must be a JSON object"),
        (b"{not json", "must be a JSON object"),
        (b"[1, 2]", "must be a JSON object"),
        (b'"text"', "must be a JSON object"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b'{"a": "x\\ud800"}', "lone surrogate"),
        (b'{"\\udfff": 1}', "lone surrogate"),
        (b'{"a": [{"b": ["\\ud800"]}]}', "lone surrogate"),
    ],
)
def test_json_bodies_refused(body: bytes, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_json_object(body)


def test_json_body_message_names_what_and_expected() -> None:
    with pytest.raises(InvalidInput, match="config must be a JSON object or text"):
        parse_json_object("[]", what="config", expected="a JSON object or text")


@given(st.text())
def test_any_text_is_an_object_or_invalid_input(text: str) -> None:
    try:
        assert isinstance(parse_json_object(text), dict)
    except InvalidInput:
        pass


_STORABLE_TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]))


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _STORABLE_TEXT,
        lambda inner: st.lists(inner) | st.dictionaries(_STORABLE_TEXT, inner),
    )
)
def test_json_values_round_trip_inside_an_object(value: object) -> None:
    text = json.dumps({"v": value})
    if _depth({"v": value}) > MAX_JSON_DEPTH:
        with pytest.raises(InvalidInput, match="deeper"):
            parse_json_object(text)
    else:
        assert parse_json_object(text) == {"v": value}
