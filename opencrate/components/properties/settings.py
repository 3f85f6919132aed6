"""The ``[properties]`` settings section of the PropertyStore.

.. code-block:: toml

    [properties]
    flush_interval = "1s"     # how often write-behind updates are written (API writes: at once)
    blob_threshold = 65536    # bytes values larger than this go to blocks
    chunk_size = 65536        # bytes per block
    max_dirty = 10000         # properties waiting for a flush before put() flushes at once

Every key is optional; errors are :class:`~opencrate.errors.ConfigError`
naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping

from attrs import frozen

from opencrate.clock import parse_duration_ms
from opencrate.errors import ConfigError, InvalidInput
from opencrate.validation import is_int

__all__ = ["PropertySettings"]

_INT_KEYS = {"blob_threshold": 0, "chunk_size": 1, "max_dirty": 1}  # key -> minimum


@frozen(kw_only=True)
class PropertySettings:
    flush_interval_s: float = 1.0
    blob_threshold: int = 64 * 1024
    chunk_size: int = 64 * 1024
    max_dirty: int = 10_000

    @classmethod
    def from_section(cls, section: object) -> PropertySettings:
        """Read the ``[properties]`` table (``None``: defaults)."""
        if section is None:
            return cls()
        if not isinstance(section, Mapping):
            raise ConfigError("must be a table", key="properties")
        defaults = cls()
        flush_interval_s = defaults.flush_interval_s
        ints = {key: getattr(defaults, key) for key in _INT_KEYS}
        for key, raw in section.items():
            if key == "flush_interval":
                try:
                    ms = parse_duration_ms(raw) if isinstance(raw, str) else 0
                except InvalidInput:
                    ms = 0
                if ms <= 0:
                    raise ConfigError(
                        f"must be a duration like '1s' or '500ms', got {raw!r}",
                        key="properties.flush_interval",
                    )
                flush_interval_s = ms / 1000
            elif key in _INT_KEYS:
                if not is_int(raw, minimum=_INT_KEYS[key]):
                    raise ConfigError(
                        f"must be an integer >= {_INT_KEYS[key]}, got {raw!r}",
                        key=f"properties.{key}",
                    )
                ints[key] = raw
            else:
                raise ConfigError("unknown setting", key=f"properties.{key}")
        return cls(
            flush_interval_s=flush_interval_s,
            blob_threshold=ints["blob_threshold"],
            chunk_size=ints["chunk_size"],
            max_dirty=ints["max_dirty"],
        )
