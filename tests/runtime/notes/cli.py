from __future__ import annotations

import asyncclick as click


@click.group()
async def notes() -> None:
    """Notes (a test component)."""
