"""Line numbers for keys of a TOML document, for error messages.

``tomllib`` returns plain dicts without positions, so a scenario error could
only name a key path such as ``equip[2].point[3].signal.period``. This module
scans the source text once and maps such a path back to the line it is on:
the line of the key itself when it sits directly in a ``[table]`` or
``[[array]]`` section, else the line of the nearest enclosing key (an inline
table ``signal = { ... }`` is reported at its ``signal =`` line).

It is a best-effort text scan, not a TOML parser: it is only asked after
``tomllib`` has accepted the document, and a wrong guess costs a line number in
a message, never a wrong result. When it cannot tell, it answers ``None``.
"""

from __future__ import annotations

import re

__all__ = ["KeyLocator"]

# A table header: [a.b] or [[a.b]] with bare or quoted parts, optional comment.
_HEADER = re.compile(
    r"""^\s*(\[\[|\[)\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
    r"""(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*(\]\]|\])\s*(?:\#.*)?$"""
)
_PART = re.compile(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""")


def _parts(dotted: str) -> list[str]:
    return [p.strip("\"'") for p in _PART.findall(dotted)]


class KeyLocator:
    """Maps key paths (``("equip", 1, "point", 2, "unit")``) to 1-based line numbers."""

    def __init__(self, text: str) -> None:
        self._lines = text.splitlines()
        # Canonical section path (with array indexes) -> (header line, end line).
        self._sections: dict[tuple[str | int, ...], tuple[int, int]] = {(): (0, 0)}
        self._scan()

    def _scan(self) -> None:
        counters: dict[tuple[str | int, ...], int] = {}
        current: tuple[str | int, ...] = ()
        starts: list[tuple[tuple[str | int, ...], int]] = [((), 0)]
        for number, line in enumerate(self._lines, start=1):
            match = _HEADER.match(line)
            if match is None or (match.group(1) == "[[") != (match.group(3) == "]]"):
                continue
            names = _parts(match.group(2))
            path = self._resolve(names, current)
            if match.group(1) == "[[":
                index = counters.get(path, 0)
                counters[path] = index + 1
                # A new element restarts the numbering of the arrays nested in it.
                for key in [k for k in counters if k[: len(path)] == path and k != path]:
                    del counters[key]
                path = (*path, index)
            current = path
            starts.append((path, number))
        for i, (path, start) in enumerate(starts):
            end = starts[i + 1][1] - 1 if i + 1 < len(starts) else len(self._lines)
            self._sections[path] = (start, end)

    @staticmethod
    def _resolve(names: list[str], current: tuple[str | int, ...]) -> tuple[str | int, ...]:
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

    def line_of(self, path: tuple[str | int, ...]) -> int | None:
        """The line of ``path``, or of its nearest enclosing key; ``None`` if unknown."""
        for cut in range(len(path), -1, -1):
            section = self._sections.get(tuple(path[:cut]))
            if section is None:
                continue
            start, end = section
            rest = path[cut:]
            if not rest:
                return start or None
            key = rest[0]
            if isinstance(key, int):
                return start or None
            found = self._find_key(str(key), start + 1, end)
            return found if found is not None else (start or None)
        return None

    def _find_key(self, key: str, first: int, last: int) -> int | None:
        pattern = re.compile(
            rf"""^\s*(?:{re.escape(key)}|"{re.escape(key)}"|'{re.escape(key)}')\s*[=.]"""
        )
        for number in range(first, last + 1):
            if pattern.match(self._lines[number - 1]):
                return number
        return None
