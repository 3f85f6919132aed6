"""Options that several command groups share, written once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import asyncclick as click

__all__ = ["compose", "count_option", "json_lines_option"]

F = TypeVar("F", bound=Callable[..., Any])
Decorator = Callable[[F], F]

#: ``--json``: print each item as one JSON object per line (for scripts and ``jq``).
json_lines_option = click.option(
    "--json", "as_json", is_flag=True, help="One JSON object per line."
)


def compose(*decorators: Callable[[Any], Any]) -> Callable[[F], F]:
    """One decorator that applies ``decorators`` as if stacked in this order above a function."""

    def apply(fn: F) -> F:
        for decorator in reversed(decorators):
            fn = decorator(fn)
        return fn

    return apply


def count_option(
    *names: str, default: int, maximum: int | None, help: str, minimum: int = 1
) -> Callable[[F], F]:
    """How many items to print: an integer option in ``[minimum, maximum]`` with its default."""
    return click.option(
        *names,
        type=click.IntRange(minimum, maximum),
        default=default,
        show_default=True,
        help=help,
    )
