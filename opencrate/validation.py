"""Input checks, each written once: routes, CLI and stores all call these.

No domain knowledge lives here: what a node id or an alarm is belongs to its
component, which calls these checks with the field name to report. Every check
raises :class:`~opencrate.errors.InvalidInput` (never a bare ``ValueError``,
``OverflowError`` or ``RecursionError``) with a message naming what was wrong,
or is a predicate / ``None``-returning parse for callers that word their own
message.

* **Integers.** :func:`ascii_int` reads ASCII digits only (``str.isdigit`` and
  ``int`` also take ``"²"`` or ``"٣"``) and never calls ``int()`` on more digits
  than a 64-bit integer has (Python refuses strings over 4,300 digits with a
  ``ValueError``). :func:`is_int` checks an already-parsed value: an ``int``
  that is not a ``bool``, within SQLite's signed 64-bit range by default.
* **Text.** :func:`has_control_char`, :func:`has_lone_surrogate` and
  :func:`check_text` (type, emptiness, length, control characters).
* **Limits and cursors.** :func:`check_limit`, :func:`encode_cursor`,
  :func:`decode_cursor`.
* **Durations and times.** :func:`parse_duration_ms`, :func:`parse_time_ms`.
* **JSON bodies.** :func:`parse_json_object`: nesting at most
  :data:`MAX_JSON_DEPTH` (measured on the raw text before ``json.loads``, so
  the parser cannot recurse out of stack), an object at the top, and no lone
  surrogate escapes (JSON allows ``"\\ud800"``; no store can encode it).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeGuard

from opencrate.errors import ConfigError, InvalidInput

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "MAX_JSON_DEPTH",
    "ascii_decimal",
    "ascii_int",
    "check_json_depth",
    "check_limit",
    "check_ms",
    "check_text",
    "decode_cursor",
    "encode_cursor",
    "has_control_char",
    "has_lone_surrogate",
    "is_int",
    "json_depth_exceeds",
    "parse_duration_ms",
    "parse_duration_s",
    "parse_json_object",
    "parse_time_ms",
    "setting_bool",
    "setting_int",
    "setting_seconds",
    "shown",
]

#: SQLite INTEGER and PostgreSQL bigint: binding a larger int is a bare
#: OverflowError (sqlite3) or NumericValueOutOfRange (psycopg).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: Deepest nesting of arrays and objects a JSON body may have. No request of
#: ours nests more than a few levels; the json module recurses once per level.
MAX_JSON_DEPTH = 64

_DIGITS = re.compile(r"[0-9]+")
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
_SIGNED_DIGITS = re.compile(r"-?[0-9]+")
# More significant digits than this cannot be a 64-bit integer.
_INT64_DIGITS = len(str(INT64_MAX))


# -- integers ------------------------------------------------------------------------
def is_int(value: object, *, minimum: int = INT64_MIN, maximum: int = INT64_MAX) -> TypeGuard[int]:
    """Whether ``value`` is an ``int`` (not a ``bool``) in ``minimum..maximum``."""
    return isinstance(value, int) and not isinstance(value, bool) and minimum <= value <= maximum


def ascii_int(
    text: str,
    *,
    signed: bool = False,
    minimum: int = INT64_MIN,
    maximum: int = INT64_MAX,
) -> int | None:
    """The integer ``text`` spells in ASCII digits, or ``None``.

    ``None`` when ``text`` is anything but ASCII digits (with one leading ``-``
    when ``signed``): no spaces, ``+``, ``_``, or Unicode digits, which
    ``int()`` would take. Also ``None`` when the value is outside
    ``minimum..maximum`` (64-bit by default; bounds wider than 64 bits are
    clamped to it). Never raises.
    """
    if not isinstance(text, str) or not (_SIGNED_DIGITS if signed else _DIGITS).fullmatch(text):
        return None
    digits = text.lstrip("-").lstrip("0") or "0"
    if len(digits) > _INT64_DIGITS:
        return None  # beyond 64 bits; and int() of over 4,300 digits is a ValueError
    value = -int(digits) if text.startswith("-") else int(digits)
    if not max(minimum, INT64_MIN) <= value <= min(maximum, INT64_MAX):
        return None
    return value


def ascii_decimal(text: str) -> float | None:
    """The non-negative number ``text`` spells as ASCII ``digits[.digits]``, or ``None``.

    ``"5"``, ``"1.5"``, ``"5."`` and ``".5"`` parse; signs, exponents, spaces,
    Unicode digits and numbers too large for a finite float do not. Never raises.
    """
    if not isinstance(text, str) or not _DECIMAL.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def check_ms(ms: float, text: str, message: str) -> int:
    """``ms`` rounded if finite and within 64 bits; InvalidInput(``message``) otherwise."""
    if not math.isfinite(ms) or not INT64_MIN <= ms <= INT64_MAX:
        raise InvalidInput(message, value=shown(text))
    return round(ms)


# -- text ----------------------------------------------------------------------------
def shown(text: str, limit: int = 60) -> str:
    """``text`` cut to ``limit`` characters (with ``...``) for an error message."""
    return text if len(text) <= limit else text[:limit] + "..."


def has_control_char(text: str, *, c1: bool = True) -> bool:
    """Whether ``text`` holds a C0 control, DEL or (with ``c1``) a C1 control."""
    if c1:
        return any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in text)
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)


def has_lone_surrogate(text: str) -> bool:
    """Whether ``text`` holds a surrogate code point (UTF-8 cannot encode one)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_text(
    value: object,
    what: str,
    *,
    max_length: int,
    empty_ok: bool = False,
    controls_ok: bool = True,
) -> str:
    """``value`` if it is a string fit to store; InvalidInput naming ``what`` otherwise.

    Refused: not a string, empty or blank (unless ``empty_ok``), longer than
    ``max_length`` characters, a control character (unless ``controls_ok``;
    C0 and DEL), a lone surrogate.
    """
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a string, got {type(value).__name__}", field=what)
    if not empty_ok and not value.strip():
        raise InvalidInput(f"{what} must not be empty", field=what)
    if len(value) > max_length:
        raise InvalidInput(f"{what} is longer than {max_length} characters", field=what)
    if not controls_ok and has_control_char(value, c1=False):
        raise InvalidInput(f"{what} must not contain control characters", field=what)
    if has_lone_surrogate(value):
        raise InvalidInput(f"{what} is not valid Unicode (it holds a lone surrogate)", field=what)
    return value


# -- limits and cursors ------------------------------------------------------------
def check_limit(limit: object, maximum: int, *, what: str = "limit") -> int:
    """``limit`` if it is an int in 1..``maximum``; InvalidInput naming it otherwise."""
    if not is_int(limit, minimum=1, maximum=maximum):
        raise InvalidInput(f"{what} must be between 1 and {maximum}, got {limit!r}", field=what)
    return limit


def encode_cursor(listing: str, key: str | int) -> str:
    """An opaque cursor that resumes ``listing`` after ``key``.

    base64url of the JSON array ``[listing, key]``: the listing name is inside
    so that a cursor from one listing is refused by another.
    """
    raw = json.dumps([listing, key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(listing: str, token: str | None, kind: type[str] | type[int]) -> Any:
    """The key inside a cursor from :func:`encode_cursor`, or ``None`` when ``token`` is None.

    Raises InvalidInput when the token is not a cursor, belongs to another
    listing, or holds an integer key outside SQLite's 64-bit range.
    """
    if token is None:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error, RecursionError):
        data = None
    if (
        not isinstance(data, list)
        or len(data) != 2
        or data[0] != listing
        or type(data[1]) is not kind
        # Integer keys are SQLite row ids: one outside its 64-bit range was never
        # a cursor we issued, and would reach sqlite3 as an OverflowError (500).
        or (isinstance(data[1], int) and not is_int(data[1]))
        or (isinstance(data[1], str) and has_lone_surrogate(data[1]))
    ):
        raise InvalidInput(
            f"cursor {token[:40]!r} is not a cursor of this listing; "
            "pass back the next_cursor of the previous page",
            field="cursor",
        )
    return data[1]


# -- durations and times ---------------------------------------------------------
_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def parse_duration_ms(text: str) -> int:
    """Parse ``"90s"``, ``"15m"``, ``"2h"``, ``"7d"``, ``"1w"`` or a bare number of ms.

    Raises InvalidInput naming the text when it is none of these or is longer
    than a 64-bit number of milliseconds.
    """
    raw = text.strip()
    message = f"not a duration: {shown(text)!r} (use e.g. 90s, 15m, 2h, 7d)"
    for unit in ("ms", "s", "m", "h", "d", "w"):
        number = ascii_decimal(raw[: -len(unit)].strip()) if raw.endswith(unit) else None
        if number is not None:
            return check_ms(number * _UNITS_MS[unit], text, message)
    value = ascii_int(raw, minimum=0)
    if value is None:
        raise InvalidInput(message, value=shown(text))
    return value


def parse_time_ms(text: str, *, now_ms: int | None = None, ahead: bool = False) -> int:
    """Parse a point in time: ISO 8601, epoch milliseconds, or a duration from now.

    A duration (``"2h"``) means that long ago, or that long ahead with
    ``ahead=True`` (expiry times). Naive ISO times are taken as UTC. Raises
    :class:`~opencrate.errors.InvalidInput` naming the text when it is none of
    these (epoch milliseconds must fit in 64 bits).
    """
    raw = text.strip()
    epoch = ascii_int(raw, signed=True)
    if epoch is not None:
        return epoch
    direction = "ahead" if ahead else "ago"
    refused = InvalidInput(
        f"not a time: {shown(text)!r} (use ISO 8601, epoch ms, or a duration {direction} like 2h)",
        value=shown(text),
    )
    if _SIGNED_DIGITS.fullmatch(raw):
        raise refused  # digits beyond 64 bits: not a duration either
    try:
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        pass
    else:
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        try:
            return int(dt.timestamp() * 1000)
        except (OverflowError, ValueError):
            raise refused from None
    try:
        duration = parse_duration_ms(raw)
    except InvalidInput:
        raise refused from None
    now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    return now + duration if ahead else now - duration


# -- JSON bodies -----------------------------------------------------------------
# A JSON string (with its escapes) or one bracket: brackets inside strings do not nest.
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)


def json_depth_exceeds(text: str, max_depth: int) -> bool:
    """Whether ``text`` nests arrays and objects deeper than ``max_depth``.

    Read on the raw text, skipping strings, without parsing it: so a body the
    json module would recurse on too deeply is refused before it is parsed.
    """
    depth = 0
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > max_depth:
                return True
        elif token in "]}":
            depth -= 1
    return False


def check_json_depth(text: str, what: str, max_depth: int = MAX_JSON_DEPTH) -> str:
    """``text`` if it nests at most ``max_depth`` levels; InvalidInput naming ``what`` otherwise.

    Call it before ``json.loads`` on text from outside (a file, a request):
    ``json.loads`` recurses once per level and raises RecursionError, not
    ValueError, on deep enough input.
    """
    if json_depth_exceeds(text, max_depth):
        raise InvalidInput(f"{what} nests arrays and objects deeper than {max_depth} levels")
    return text


def _find_lone_surrogate(value: object) -> bool:
    if isinstance(value, str):
        return has_lone_surrogate(value)
    if isinstance(value, dict):
        return any(_find_lone_surrogate(k) or _find_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_find_lone_surrogate(item) for item in value)
    return False


def parse_json_object(
    data: bytes | str,
    *,
    what: str = "request body",
    expected: str = "a JSON object",
    max_depth: int = MAX_JSON_DEPTH,
) -> dict[str, Any]:
    """The JSON object in ``data``; InvalidInput naming ``what`` otherwise.

    Refused: not UTF-8, not JSON, nested deeper than ``max_depth``, not an
    object at the top (``"{what} must be {expected}"``), or a string (key or
    value) with a lone surrogate escape.
    """
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(f"{what} is not UTF-8 text") from None
    else:
        text = data
    check_json_depth(text, what, max_depth)
    try:
        parsed = json.loads(text)
    except ValueError:  # InvalidInput is one too: keep the depth check out of this
        parsed = None
    if not isinstance(parsed, dict):
        raise InvalidInput(f"{what} must be {expected}")
    if _find_lone_surrogate(parsed):
        raise InvalidInput(
            f"{what} has a string that is not valid Unicode (a lone surrogate escape)"
        )
    return parsed


def parse_duration_s(value: object, *, key: str) -> float:
    """``value`` (``"500ms"``, ``"3s"``, or a number of seconds) as positive seconds.

    Raises ConfigError naming ``key`` and the value when it is not a duration or not
    above zero.
    """
    seconds: float | None = None
    if isinstance(value, str):
        try:
            seconds = parse_duration_ms(value) / 1000
        except InvalidInput as exc:
            raise ConfigError(exc.message, key=key) from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    if seconds is None:
        raise ConfigError(f"must be a duration like '3s' or '500ms', got {value!r}", key=key)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"must be a positive duration, got {value!r}", key=key)
    return seconds


# -- a settings table's values, errors keyed ``<where>.<key>`` ---------------------------
def setting_int(
    table: Mapping[str, Any], key: str, where: str, default: int, low: int, high: int
) -> int:
    """``table[key]`` (or ``default``) as an integer in ``low..high``; ConfigError otherwise."""
    raw = table.get(key, default)
    if not is_int(raw, minimum=low, maximum=high):
        raise ConfigError(
            f"must be an integer from {low} to {high}, got {raw!r}", key=f"{where}.{key}"
        )
    return raw


def setting_bool(table: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
    """``table[key]`` (or ``default``) as true or false; ConfigError otherwise."""
    raw = table.get(key, default)
    if not isinstance(raw, bool):
        raise ConfigError(f"must be true or false, got {raw!r}", key=f"{where}.{key}")
    return raw


def setting_seconds(table: Mapping[str, Any], key: str, where: str, default: float) -> float:
    """``table[key]`` (``"3s"``, ``"500ms"`` or seconds; ``default`` if absent) in seconds."""
    raw = table.get(key)
    return default if raw is None else parse_duration_s(raw, key=f"{where}.{key}")
