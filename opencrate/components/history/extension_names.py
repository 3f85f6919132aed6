"""The names of the persistence extensions the history API serves, and how URLs spell them.

Shared by the routes (which pick the extension) and ``opencrate history stat``
(which refuses an unknown name before asking the server, because an unknown
name in the URL reads as part of the point id).
"""

from __future__ import annotations

import re

__all__ = ["BY_NAME", "EXTENSIONS", "POINT", "RANGED", "WEIGHTED", "snake"]

#: Extensions over a window (``since``, ``until`` or ``begin`` + ``end``).
RANGED = (
    *("average", "changed", "count", "countStateChanges", "delta", "deviation"),
    *("evolutionRate", "maximum", "median", "minimum", "riemannSum", "sum", "updated"),
    "variance",
)
WEIGHTED = frozenset({"average", "riemannSum", "variance", "deviation"})
#: Extensions at a point in time (``at`` for persistedState; ``skipEqual`` for
#: previousState and nextState).
POINT = (
    *("persistedState", "historicState", "lastUpdate", "nextUpdate", "lastChange"),
    *("nextChange", "previousState", "nextState"),
)
EXTENSIONS: tuple[str, ...] = (*RANGED, *POINT)


def snake(name: str) -> str:
    """``averageSince`` -> ``average_since``."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _by_name() -> dict[str, tuple[str, str | None]]:
    names: dict[str, tuple[str, str | None]] = {}
    for name in EXTENSIONS:
        names[name] = names[snake(name)] = (name, None)
    for name in RANGED:
        for form in ("Since", "Until", "Between"):
            names[name + form] = names[snake(name + form)] = (name, form.lower())
    return names


#: URL name -> (extension, window form or None). ``averageSince``, ``average_since`` and
#: ``average`` (form from the parameters) all work.
BY_NAME: dict[str, tuple[str, str | None]] = _by_name()
