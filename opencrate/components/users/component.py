"""The users component: ``users.db`` and the Authenticator built over it."""

from __future__ import annotations

from opencrate.components.users.auth import Authenticator
from opencrate.components.users.settings import UserSettings
from opencrate.components.users.store import UserStore
from opencrate.runtime.component import BuildContext, Parts

__all__ = ["build"]


def build(ctx: BuildContext) -> Parts:
    settings = UserSettings.from_section(ctx.settings.sections.get("users"))
    store = UserStore(ctx.settings.data_dir / "users.db", clock=ctx.clock)
    return Parts(provides=(store, Authenticator(store, settings, ctx.clock)), stores=(store,))
