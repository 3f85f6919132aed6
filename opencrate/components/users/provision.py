"""The first admin: made by ``opencrate init`` and ``serve --demo`` when ``users.db`` has no user.

Runs on its own :class:`UserStore` before (or after) the server's, never
beside it: the caller makes sure no server uses the data directory then.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import trio
from attrs import frozen

from opencrate.clock import Clock, SystemClock
from opencrate.components.users.auth import Authenticator
from opencrate.components.users.roles import Role
from opencrate.components.users.settings import UserSettings
from opencrate.components.users.store import UserStore

__all__ = ["ADMIN", "Provisioned", "ensure_admin", "write_secret_file"]

#: The name of the admin the first start makes.
ADMIN = "admin"


@frozen(kw_only=True)
class Provisioned:
    """What :func:`ensure_admin` did: ``password`` is set only when it made the admin
    with a password it generated (to be shown once)."""

    created: bool
    generated_password: str | None
    token_file: Path | None


def write_secret_file(path: Path, secret: str) -> None:
    """Write ``secret`` to ``path`` readable by its owner only (0600 from the start)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(secret + "\n")
    os.chmod(path, 0o600)  # an existing file keeps its old mode through O_CREAT


async def ensure_admin(
    data_dir: Path,
    settings: UserSettings,
    *,
    password: str | None = None,
    token_file: Path | None = None,
    token_name: str = "init",
    clock: Clock | None = None,
) -> Provisioned:
    """Make user :data:`ADMIN` if ``users.db`` has no user yet, and optionally a token.

    ``password`` None: one is generated (and returned once). With
    ``token_file``, an admin API token named ``token_name`` is made (for
    :data:`ADMIN`, new or not) and written there with mode 0600; a live token
    of that name is revoked first. InvalidInput for a password the rules refuse.
    """
    clock = clock or SystemClock()
    store = UserStore(data_dir / "users.db", clock=clock)
    auth = Authenticator(store, settings, clock)
    generated: str | None = None
    async with store.running():
        created = await store.count_users() == 0
        if created:
            if password is None:
                generated = password = secrets.token_urlsafe(12)
            await auth.add_user(ADMIN, Role.ADMIN, password)
        if token_file is not None:
            for old in await store.list_tokens(ADMIN):
                if old.name == token_name and old.revoked_ms is None:
                    await store.revoke_token(old.id)
            made = await auth.create_token(ADMIN, token_name)
            await trio.to_thread.run_sync(write_secret_file, token_file, made.secret)
    return Provisioned(created=created, generated_password=generated, token_file=token_file)
