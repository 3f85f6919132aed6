"""Point history: openHAB-style persistence services, strategies, extensions, retention."""

from opencrate.runtime.component import ComponentSpec

__all__ = ["COMPONENT"]

COMPONENT = ComponentSpec(
    name="history",
    component="opencrate.components.history.component:HistoryComponent",
    routes=(
        "opencrate.components.history.routes:blueprint",
        "opencrate.components.history.config_routes:blueprint",
    ),
    commands=(
        "opencrate.components.history.cli:history",
        "opencrate.components.history.config_cli:persistence",
    ),
    sections=("persistence", "history"),
)
