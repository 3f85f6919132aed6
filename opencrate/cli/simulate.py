"""The ``opencrate simulate`` group: each bridge adds its simulated devices to it.

One group, defined here in the shared CLI, so ``simulate modbus`` and
``simulate bacnet`` sit side by side without one bridge importing the other;
each bridge's CLI module attaches its command and lists this group in its
component spec (registering the same group twice is harmless).
"""

from __future__ import annotations

import asyncclick as click

__all__ = ["simulate"]


@click.group()
async def simulate() -> None:
    """Simulated devices, to try a client without hardware."""
