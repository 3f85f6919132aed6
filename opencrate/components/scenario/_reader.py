"""Reading TOML tables strictly, with errors that say where.

:class:`TomlTable` wraps one table of a parsed document with typed accessors
(``text``, ``number``, ``duration_s``, ...) that raise
:class:`~opencrate.errors.ConfigError` naming the file, line and key path, and
:meth:`TomlTable.done`, which refuses every key nobody asked for. The
:class:`Reporter` turns a key path into that error.
"""

from __future__ import annotations

import math
from typing import Any, NoReturn

from opencrate.clock import parse_duration_ms
from opencrate.errors import ConfigError, InvalidInput
from opencrate.toml_lines import KeyPath, TomlLines

__all__ = ["KeyPath", "Reporter", "TomlTable", "show_path"]


class Reporter:
    """Raises ConfigErrors for one document (``source`` names it in messages)."""

    def __init__(self, source: str, locator: TomlLines) -> None:
        self.source = source
        self.locator = locator

    def fail(self, message: str, path: KeyPath) -> NoReturn:
        raise ConfigError(
            message,
            file=self.source,
            line=self.locator.line_of(path),
            key=show_path(path) or None,
        )


def show_path(path: KeyPath) -> str:
    """``("equip", 0, "point", 2, "unit")`` -> ``equip[0].point[2].unit``."""
    shown = ""
    for part in path:
        shown += f"[{part}]" if isinstance(part, int) else (f".{part}" if shown else part)
    return shown


class TomlTable:
    """One TOML table being read: typed accessors, and a check for unknown keys."""

    def __init__(self, reporter: Reporter, data: Any, path: KeyPath) -> None:
        self.reporter = reporter
        self.path = path
        if not isinstance(data, dict):
            self.fail(f"must be a table, got {type(data).__name__}")
        self.data: dict[str, Any] = data
        self._read: set[str] = set()

    def fail(self, message: str, key: str | int | None = None) -> NoReturn:
        self.reporter.fail(message, self.path if key is None else (*self.path, key))

    @property
    def line(self) -> int | None:
        return self.reporter.locator.line_of(self.path)

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str) -> Any:
        self._read.add(key)
        return self.data.get(key)

    def text(self, key: str, *, default: str | None = None) -> str:
        value = self.raw(key)
        if value is None:
            if default is None:
                self.fail(f"{key!r} is required", key)
            return default
        if not isinstance(value, str) or not value.strip():
            self.fail(f"must be a non-empty string, got {value!r}", key)
        return value

    def optional_text(self, key: str) -> str | None:
        return self.text(key) if self.has(key) else self.raw(key)

    def number(self, key: str, *, default: float | None = None) -> float:
        value = self.raw(key)
        if value is None:
            if default is None:
                self.fail(f"{key!r} is required", key)
            return default
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            self.fail(f"must be a finite number, got {value!r}", key)
        return float(value)

    def optional_number(self, key: str) -> float | None:
        return self.number(key) if self.has(key) else self.raw(key)

    def integer(self, key: str, *, default: int) -> int:
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"must be an integer, got {value!r}", key)
        return value

    def flag(self, key: str, *, default: bool) -> bool:
        value = self.raw(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail(f"must be true or false, got {value!r}", key)
        return value

    def duration_s(self, key: str, *, default: float | None = None, zero: bool = False) -> float:
        """A duration as ``"90s"``/``"15m"``/``"2h"`` or a number of seconds."""
        value = self.raw(key)
        if value is None:
            if default is None:
                self.fail(f"{key!r} is required", key)
            return default
        if isinstance(value, str):
            try:
                seconds = parse_duration_ms(value) / 1000
            except InvalidInput as exc:
                self.fail(exc.message, key)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            seconds = float(value)
        else:
            self.fail(f"must be a duration like '30s' or '10m', got {value!r}", key)
        if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not zero):
            self.fail(f"must be a positive duration, got {value!r}", key)
        return seconds

    def names(self, key: str) -> frozenset[str]:
        value = self.raw(key)
        if value is None:
            return frozenset()
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.fail(f"must be a list of names, got {value!r}", key)
        return frozenset(value)

    def mapping(self, key: str) -> dict[str, Any]:
        value = self.raw(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(f"must be a table, got {type(value).__name__}", key)
        return value

    def table(self, key: str) -> TomlTable | None:
        value = self.raw(key)
        return None if value is None else TomlTable(self.reporter, value, (*self.path, key))

    def tables(self, key: str) -> list[TomlTable]:
        value = self.raw(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(f"must be an array of tables ([[{key}]]), got {type(value).__name__}", key)
        return [
            TomlTable(self.reporter, item, (*self.path, key, i)) for i, item in enumerate(value)
        ]

    def done(self) -> None:
        """Fail on the first key nobody asked for (a typo, or a key in the wrong place)."""
        for key in self.data:
            if key not in self._read:
                self.fail(f"unknown key {key!r}", key)
