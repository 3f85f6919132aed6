"""Line numbers in TOML source text, for error messages.

``tomllib`` returns plain dicts without positions, yet every configuration
error must name its file, line and key. :class:`TomlLines` scans the source
text once, indexing its ``[table]`` and ``[[array]]`` headers by their
canonical key path (``[[equip.point]]`` under the third ``[[equip]]`` is
``("equip", 2, "point", n)``), and answers two questions:

* :meth:`TomlLines.line_of` — the line of a key path such as
  ``("equip", 2, "point", 3, "signal", "period")``: the line of the key itself
  when it sits directly in a section, else that of the nearest enclosing key
  (an inline table ``signal = { ... }`` is reported at its ``signal =`` line).
* :meth:`TomlLines.line_of_token` — the line of an offending *token* (a key,
  or a value such as a strategy name inside a list) within the section a path
  names: a line assigning it as a key first, then any line holding the text,
  then the header of a sub-table it names (``[a.b.retention]``), then the
  section's own header.

Contract: best effort. This is a text scan, not a TOML parser; it is meant to
be asked only after ``tomllib`` has accepted the document. A wrong guess costs
a line number in a message, never a wrong result, and where it cannot tell it
answers ``None``. It never raises for any text or path.

The ``tomllib`` boundary itself is here too: :func:`read_config_text` and
:func:`parse_toml` turn what the file system, the UTF-8 decoder and
``tomllib`` raise into a :class:`~opencrate.errors.ConfigError` naming the
file (and the line, for a TOML syntax error), so every configuration reader
fails the same way.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from opencrate.errors import ConfigError, map_exceptions

__all__ = ["KeyPath", "TokenLocator", "TomlLines", "parse_toml", "read_config_text"]

#: Where a value sits in a document: table names and array indexes.
KeyPath = tuple[str | int, ...]
#: ``(path, token) -> line``, the shape configuration readers pass around.
TokenLocator = Callable[[KeyPath, str | None], int | None]

# A table header: [a.b] or [[a.b]] with bare or quoted parts, optional comment.
# Strict on purpose: a line of a multi-line array such as `  ["a", "b"],` is no header.
_HEADER = re.compile(
    r"""^\s*(\[\[|\[)\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
    r"""(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*(\]\]|\])\s*(?:\#.*)?$"""
)
_PART = re.compile(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""")


def _parts(dotted: str) -> list[str]:
    return [p.strip("\"'") for p in _PART.findall(dotted)]


def _key_pattern(key: str) -> re.Pattern[str]:
    # `key =`, `"key" =`, `'key' =`, or the first part of a dotted key `key.x =`.
    k = re.escape(key)
    return re.compile(rf"""^\s*(?:{k}|"{k}"|'{k}')\s*[=.]""")


class _Continuation:
    """Whether a multi-line array (or inline table) or string is open, line by line."""

    def __init__(self) -> None:
        self.depth = 0  # open [ and { of values
        self.string: str | None = None  # the open ''' or """ delimiter

    @property
    def open(self) -> bool:
        return self.depth > 0 or self.string is not None

    def feed(self, line: str) -> None:
        if self.depth == 0 and self.string is None and _HEADER.match(line):
            return  # a header's brackets open nothing
        i = 0
        while i < len(line):
            if self.string is not None:
                end = line.find(self.string, i)
                if end < 0:
                    return
                self.string, i = None, end + 3
                continue
            char = line[i]
            if char == "#":
                return
            if line.startswith(('"""', "'''"), i):
                self.string, i = line[i : i + 3], i + 3
            elif char in "\"'":
                i = _string_end(line, i)
            else:
                if char in "[{":
                    self.depth += 1
                elif char in "]}" and self.depth > 0:
                    self.depth -= 1
                i += 1


def _string_end(line: str, start: int) -> int:
    # The index after the one-line string opening at `start` (escapes in "..." only).
    quote, i = line[start], start + 1
    while i < len(line):
        if quote == '"' and line[i] == "\\":
            i += 2
            continue
        if line[i] == quote:
            return i + 1
        i += 1
    return i


class TomlLines:
    """The sections of one TOML text, answering "which line holds this?" (1-based).

    Construction scans ``text`` once (linear in its length); queries scan only
    the lines of the section they name.
    """

    def __init__(self, text: str) -> None:
        self._lines = text.splitlines()
        # (header line, canonical path) for every header, in document order.
        self._headers: list[tuple[int, KeyPath]] = []
        # Canonical section path -> (header line, last line); the root is (0, ...).
        self._sections: dict[KeyPath, tuple[int, int]] = {}
        self._scan()

    def _scan(self) -> None:
        counters: dict[KeyPath, int] = {}
        current: KeyPath = ()
        state = _Continuation()
        for number, line in enumerate(self._lines, start=1):
            # A line inside a multi-line array or string is a value, never a header.
            inside = state.open
            state.feed(line)
            match = None if inside else _HEADER.match(line)
            if match is None or (match.group(1) == "[[") != (match.group(3) == "]]"):
                continue
            path = self._resolve(_parts(match.group(2)), current)
            if match.group(1) == "[[":
                index = counters.get(path, 0)
                counters[path] = index + 1
                # A new element restarts the numbering of the arrays nested in it.
                for key in [k for k in counters if k[: len(path)] == path and k != path]:
                    del counters[key]
                path = (*path, index)
            current = path
            self._headers.append((number, path))
        starts = [(0, ()), *self._headers]
        for i, (start, path) in enumerate(starts):
            end = starts[i + 1][0] - 1 if i + 1 < len(starts) else len(self._lines)
            # A repeated [table] is invalid TOML; should one slip by, the first wins.
            self._sections.setdefault(path, (start, end))

    @staticmethod
    def _resolve(names: list[str], current: KeyPath) -> KeyPath:
        # [[equip.point]] means "the point array of the *latest* equip element":
        # reuse the indexes of the current path where the names agree.
        # The last name is the table itself: a new [[array]] element, not the latest.
        resolved: list[str | int] = []
        position = 0
        for depth, name in enumerate(names):
            resolved.append(name)
            if position < len(current) and current[position] == name:
                position += 1
                last = depth == len(names) - 1
                if not last and position < len(current) and isinstance(current[position], int):
                    resolved.append(current[position])
                    position += 1
            else:
                position = len(current)
        return tuple(resolved)

    def _enclosing(self, path: KeyPath) -> tuple[KeyPath, KeyPath]:
        # The longest prefix of `path` that has a header (the root always does).
        for cut in range(len(path), -1, -1):
            if path[:cut] in self._sections:
                return path[:cut], path[cut:]
        return (), path  # pragma: no cover - the root is always a section

    def line_of(self, path: KeyPath) -> int | None:
        """The line of the key at ``path``, or of its nearest enclosing key.

        ``("equip", 1, "point", 2, "unit")`` is looked up as ``unit`` in the
        section of the third point of the second equip; a key inside an
        inline table answers the line of the key holding that table; a path
        naming an array element answers its ``[[...]]`` header. ``None``
        when nothing encloses it but the document root.
        """
        section, rest = self._enclosing(path)
        start, end = self._sections[section]
        if rest and isinstance(rest[0], str):
            found = self._assigned(rest[0], start + 1, end)
            if found is not None:
                return found
        return start or None

    def line_of_token(self, path: KeyPath, token: str | None) -> int | None:
        """The line of ``token`` within the section ``path`` names.

        ``path`` names a table (``("services", "sqlite", "items", 1)``); when
        it has no header of its own its nearest enclosing section is used.
        Within that section's lines (its header included) the answer is, in
        order: a line assigning ``token`` as a key (so ``raw = "90d"`` wins
        over ``rules = ["raw"]``), any line containing the text, the first
        header of a sub-table named ``token`` (``[path.token]`` or
        ``[[path.token.x]]``), and finally the section's header. ``None``
        when none of these exists (e.g. a token absent from the root section).
        """
        section, _ = self._enclosing(path)
        start, end = self._sections[section]
        if token:
            first = max(start, 1)
            found = self._assigned(token, first, end)
            if found is None:
                found = next(
                    (n for n in range(first, end + 1) if token in self._lines[n - 1]), None
                )
            if found is None:
                found = self._subtable(section, token)
            if found is not None:
                return found
        return start or None

    def token_locator(self, prefix: KeyPath = ()) -> TokenLocator:
        """:meth:`line_of_token` with paths relative to ``prefix``.

        For readers of a section (``("persistence",)``) that name their paths
        from its content, whether the text wraps that content or is it alone.
        """

        def locate(path: KeyPath, token: str | None) -> int | None:
            return self.line_of_token((*prefix, *path), token)

        return locate

    def _assigned(self, key: str, first: int, last: int) -> int | None:
        pattern = _key_pattern(key)
        return next((n for n in range(first, last + 1) if pattern.match(self._lines[n - 1])), None)

    def _subtable(self, section: KeyPath, token: str) -> int | None:
        # A key that is a table written under its own header ([a.b.retention]
        # or only [[a.b.retention.rules]]) is not among its parent's lines.
        child = (*section, token)
        return next((n for n, path in self._headers if path[: len(child)] == child), None)


def _toml_error(exc: Exception, *, file: str | None) -> ConfigError:
    # Python 3.11's TOMLDecodeError has no lineno; its message ends "(at line N, column M)".
    match = re.search(r"at line (\d+)", str(exc))
    return ConfigError(
        f"not valid TOML: {exc}", file=file, line=int(match.group(1)) if match else None
    )


def parse_toml(text: str, *, file: str | None = None) -> dict[str, Any]:
    """``tomllib.loads(text)``; a syntax error as a ConfigError naming ``file`` and the line."""
    with map_exceptions({tomllib.TOMLDecodeError: partial(_toml_error, file=file)}):
        return tomllib.loads(text)


def _read_error(exc: Exception, *, file: str, what: str | None) -> ConfigError:
    if what is not None and isinstance(exc, FileNotFoundError):
        return ConfigError(f"{what} not found", file=file)
    if isinstance(exc, UnicodeDecodeError):
        reason = f"not UTF-8 text (byte {exc.start}: {exc.reason})"
    else:
        reason = str(exc.strerror if isinstance(exc, OSError) and exc.strerror else exc)
    return ConfigError(
        f"cannot read {what}: {reason}" if what else f"cannot read: {reason}", file=file
    )


def read_config_text(path: Path, *, what: str | None = None) -> str:
    """The UTF-8 text of a configuration file.

    Raises :class:`~opencrate.errors.ConfigError` naming the file when it
    cannot be read (missing, a directory, no permission) or is not UTF-8:
    ``"cannot read: ..."``, or with ``what`` ``"{what} not found"`` and
    ``"cannot read {what}: ..."``.
    """
    read_error = partial(_read_error, file=str(path), what=what)
    with map_exceptions({OSError: read_error, UnicodeDecodeError: read_error}):
        return path.read_text(encoding="utf-8")
