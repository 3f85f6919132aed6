"""Process settings: where data lives, what to serve, which scenario to load.

Settings come from (later wins): defaults, an ``opencrate.toml`` file, command
line options. Unknown keys are errors (a typo must not be silently ignored),
and every error names the file and the key.

.. code-block:: toml

    [server]
    host = "127.0.0.1"
    port = 8080
    allowed_hosts = ["bms.plant.example"]   # Host names besides the defaults
    certfile = "tls/cert.pem"                # serve HTTPS (both or neither)
    keyfile = "tls/key.pem"

    [data]
    dir = "data"

    [scenario]
    file = "examples/office.toml"
    simulate = true          # drive points from the scenario's simulated signals

    [bus]
    capacity = 4096
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, overload

import attrs
from attrs import frozen

from opencrate.api.hosts import check_host_names
from opencrate.errors import ConfigError, InvalidInput
from opencrate.toml_lines import TomlLines, parse_toml, read_config_text

__all__ = [
    "Settings",
    "component_sections",
    "duration_setting_ms",
    "load_settings",
    "settings_sections",
]


@frozen(kw_only=True)
class Settings:
    data_dir: Path = Path("data")
    host: str = "127.0.0.1"
    port: int = 8080
    #: Host names the API answers to besides the defaults (see opencrate.api.hosts).
    allowed_hosts: tuple[str, ...] = ()
    #: TLS certificate chain and private key (PEM); both or neither.
    certfile: Path | None = None
    keyfile: Path | None = None
    scenario: Path | None = None
    simulate: bool = False
    bus_capacity: int = 4096
    #: Extra TOML sections for components (persistence, events, alarms ...), as read.
    sections: dict[str, Any] = attrs.field(factory=dict)
    #: The settings file these came from (None: defaults and options only).
    file: Path | None = None
    #: The component sections that file has (others came from code, e.g. ``--demo``).
    file_sections: frozenset[str] = frozenset()
    #: Finds the line of a key in that file, for error messages.
    locator: TomlLines | None = attrs.field(default=None, eq=False, repr=False)

    def with_changes(self, **changes: Any) -> Settings:
        return attrs.evolve(self, **{k: v for k, v in changes.items() if v is not None})

    def located(self, exc: ConfigError) -> ConfigError:
        """``exc`` naming this settings file, and the line of its key where found.

        Components parse their section (``Settings.sections``) without knowing
        the file; their ConfigErrors name only the key (``alarms.limits.x.low``).
        Returns ``exc`` itself when it already names a file or its key is not
        in a component section of the file.
        """
        section = (exc.key or "").split(".", 1)[0].split("[", 1)[0]
        if exc.file is not None or self.file is None or section not in self.file_sections:
            return exc
        assert exc.key is not None
        line = None
        if self.locator is not None:
            line = self.locator.line_of(_key_path(self.sections, exc.key))
        return ConfigError(exc.reason, file=str(self.file), line=line, key=exc.key, **exc.detail)

    @contextmanager
    def errors_located(self) -> Iterator[None]:
        """Re-raise a ConfigError from the block as :meth:`located` (for component builders)."""
        try:
            yield
        except ConfigError as exc:
            located = self.located(exc)
            if located is exc:
                raise
            raise located from None


@overload
def duration_setting_ms(section: str, data: Mapping[str, Any], key: str, default: int) -> int: ...
@overload
def duration_setting_ms(
    section: str, data: Mapping[str, Any], key: str, default: None
) -> int | None: ...
def duration_setting_ms(
    section: str, data: Mapping[str, Any], key: str, default: int | None
) -> int | None:
    """``data[key]`` of the ``[section]`` table as a positive duration in ms (``"30s"``, ``"15m"``).

    ``default`` when the key is absent; ConfigError naming ``section.key`` otherwise.
    """
    from opencrate.validation import parse_duration_ms

    raw = data.get(key)
    if raw is None:
        return default
    try:
        ms = parse_duration_ms(raw) if isinstance(raw, str) else None
    except InvalidInput:
        ms = None
    if ms is None or ms <= 0:
        raise ConfigError(
            f"must be a duration like '30s' or '15m', got {raw!r}", key=f"{section}.{key}"
        )
    return ms


# section -> {key: (settings field, type)}; a list holds strings.
_KNOWN: dict[str, dict[str, tuple[str, type]]] = {
    "server": {
        "host": ("host", str),
        "port": ("port", int),
        "allowed_hosts": ("allowed_hosts", list),
        "certfile": ("certfile", str),
        "keyfile": ("keyfile", str),
    },
    "data": {"dir": ("data_dir", str)},
    "scenario": {"file": ("scenario", str), "simulate": ("simulate", bool)},
    "bus": {"capacity": ("bus_capacity", int)},
}


@functools.cache
def component_sections() -> frozenset[str]:
    """Sections owned by components (their declared ``sections``), passed through unread."""
    from opencrate.app import COMPONENTS  # the app imports this module

    return frozenset(section for spec in COMPONENTS for section in spec.sections)


def settings_sections() -> frozenset[str]:
    """Every section a settings file may have."""
    return frozenset(_KNOWN) | component_sections()


#: Paths inside component sections, resolved like ``data.dir``: (section, key).
_COMPONENT_PATHS = (("persistence", "file"),)


_INDEX = re.compile(r"\[(\d+)\]")


def _key_path(data: Any, key: str) -> tuple[str | int, ...]:
    """``"alarms.limits.1101/ai-1.low"`` -> its path in ``data`` (names may hold dots).

    Matches the longest name present at each level; stops where the key no
    longer matches the data (the line is then that of the nearest enclosing key).
    """
    path: list[str | int] = []
    rest, node = key, data
    while rest:
        index = _INDEX.match(rest)
        if isinstance(node, list) and index is not None and int(index[1]) < len(node):
            path.append(int(index[1]))
            node = node[int(index[1])]
            rest = rest[index.end() :].removeprefix(".")
            continue
        if not isinstance(node, Mapping):
            break
        names = [n for n in node if isinstance(n, str) and rest.startswith(n)]
        names = [n for n in names if rest[len(n) :][:1] in ("", ".", "[")]
        if not names:
            break
        name = max(names, key=len)
        path.append(name)
        node = node[name]
        rest = rest[len(name) :].removeprefix(".")
    return tuple(path)


def load_settings(path: Path | None) -> Settings:
    """Read ``path`` (TOML) into Settings; defaults when ``path`` is None.

    Relative paths in the file (``data.dir``, ``scenario.file``,
    ``persistence.file``) are relative to the file's directory; absolute ones
    stay as written. Raises :class:`ConfigError` naming the file and key.
    """
    if path is None:
        return Settings()
    text = read_config_text(path, what="settings file")
    data = parse_toml(text, file=str(path))
    values: dict[str, Any] = {}
    sections: dict[str, Any] = {}
    for section, table in data.items():
        if section in component_sections():
            sections[section] = table
            continue
        known = _KNOWN.get(section)
        if known is None or not isinstance(table, dict):
            raise ConfigError(f"unknown section [{section}]", file=str(path), key=section)
        for key, value in table.items():
            if key not in known:
                raise ConfigError("unknown setting", file=str(path), key=f"{section}.{key}")
            field_name, kind = known[key]
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ConfigError(
                    f"must be {kind.__name__}, got {value!r}",
                    file=str(path),
                    key=f"{section}.{key}",
                )
            values[field_name] = value
    if "allowed_hosts" in values:
        try:
            values["allowed_hosts"] = check_host_names(values["allowed_hosts"])
        except InvalidInput as exc:
            raise ConfigError(exc.message, file=str(path), key="server.allowed_hosts") from None
    for name in ("data_dir", "scenario", "certfile", "keyfile"):
        if name in values:
            values[name] = (path.parent / values[name]).resolve()
    if ("certfile" in values) != ("keyfile" in values):
        missing = "keyfile" if "certfile" in values else "certfile"
        raise ConfigError(
            "certfile and keyfile go together: TLS needs both",
            file=str(path),
            key=f"server.{missing}",
        )
    for section, key in _COMPONENT_PATHS:
        table = sections.get(section)
        if isinstance(table, dict) and isinstance(table.get(key), str) and table[key]:
            sections[section] = {**table, key: str((path.parent / table[key]).resolve())}
    port = values.get("port", 8080)
    if not 0 <= port <= 65535:
        raise ConfigError(f"port {port} is out of range", file=str(path), key="server.port")
    return Settings(
        sections=sections,
        file=path,
        file_sections=frozenset(sections),
        locator=TomlLines(text),
        **values,
    )
