"""Min / median / max of repeated benchmark runs: the one format every benchmark prints."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

__all__ = ["spread"]


def spread(values: Sequence[float], fmt: str = ",.0f", unit: str = "") -> str:
    """``"min / median / max unit"`` of ``values`` (at least one), each formatted with ``fmt``."""
    if not values:
        raise ValueError("spread of no runs")
    lo, mid, hi = min(values), statistics.median(values), max(values)
    return f"{lo:{fmt}} / {mid:{fmt}} / {hi:{fmt}}{' ' + unit if unit else ''}"
