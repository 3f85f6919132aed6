"""``opencrate login``, ``logout`` and ``users ...``: accounts and tokens, through the API.

``login`` logs in with a user name and password (a session, for a moment),
makes an API token for this machine with it, logs the session out again and
stores the token (:mod:`opencrate.cli.credentials`); every later command
sends it. ``logout`` revokes that token on the server and forgets it.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import asyncclick as click
import trio

from opencrate.cli.client import ApiClient, cli_errors, resolve_url, url_option
from opencrate.cli.credentials import forget_token, store_token, stored_token
from opencrate.cli.options import json_lines_option
from opencrate.clock import ms_to_iso
from opencrate.components.users.roles import Role
from opencrate.errors import AuthError

__all__ = ["login", "logout", "read_password", "users"]

_ROLES = click.Choice([role.value for role in Role])

password_file_option = click.option(
    "--password-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the password from this file's first line instead of asking.",
)


async def read_password(path: Path | None, prompt: str, *, confirm: bool = False) -> str:
    """The password in ``path`` (first line), else asked for without echo."""
    if path is not None:
        text = await trio.to_thread.run_sync(path.read_text, "utf-8")
        lines = text.splitlines()
        if not lines or not lines[0]:
            raise click.ClickException(f"password file {path} is empty")
        return lines[0]
    answer: str = await click.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
    return answer


@click.command()
@url_option
@click.option("--user", help="User name (asked for when not given).")
@password_file_option
@click.option(
    "--token-name",
    help="Name of the token made for this machine (default: cli-<hostname>).",
)
@click.pass_context
async def login(
    ctx: click.Context,
    url: str | None,
    user: str | None,
    password_file: Path | None,
    token_name: str | None,
) -> None:
    """Log in to a server and store an API token for it (0600, in the user's config dir)."""
    base = resolve_url(ctx, url)
    name = user or str(await click.prompt("User"))
    password = await read_password(password_file, "Password")
    token_name = token_name or f"cli-{socket.gethostname().split('.')[0] or 'host'}"
    with cli_errors():
        async with ApiClient(base, token=None) as api:
            session = await api.post("/login", {"user": name, "password": password})
            csrf = {"X-CSRF-Token": session["csrf_token"]}
            # Replace an earlier token of this name: logging in again is not an error.
            for old in (await api.get(f"/users/{name}/tokens"))["items"]:
                if old["name"] == token_name and old["revoked_ms"] is None:
                    await api.delete(f"/tokens/{old['id']}", headers=csrf)
            made = await api.post(f"/users/{name}/tokens", {"name": token_name}, headers=csrf)
            await api.post("/logout", {}, headers=csrf)
    path = await _store(base, made["secret"])
    click.echo(f"logged in to {base} as {name} ({made['role']}); token {made['name']} in {path}")


async def _store(base: str, secret: str) -> Path:
    return await trio.to_thread.run_sync(store_token, base, secret)


@click.command()
@url_option
@click.pass_context
async def logout(ctx: click.Context, url: str | None) -> None:
    """Revoke the token `opencrate login` stored for the server, and forget it."""
    base = resolve_url(ctx, url)
    secret = stored_token(base)
    if secret is None:
        raise click.ClickException(f"not logged in to {base}")
    with cli_errors():
        async with ApiClient(base, token=secret) as api:
            try:
                me = await api.get("/me")
                await api.delete(f"/tokens/{me['token']['id']}")
            except AuthError:
                pass  # already revoked or expired: forgetting it is all that is left
    forget_token(base)
    click.echo(f"logged out of {base}")


@click.group()
def users() -> None:
    """Manage users and API tokens (through a running server; admin, or your own)."""


def _format_user(user: dict[str, Any]) -> str:
    state = "disabled" if user["disabled"] else "enabled"
    return f"{user['name']:<20} {user['role']:<9} {state:<9} since {ms_to_iso(user['created_ms'])}"


def _format_token(token: dict[str, Any]) -> str:
    if token["revoked_ms"] is not None:
        state = f"revoked {ms_to_iso(token['revoked_ms'])}"
    elif token["expires_ms"] is not None:
        state = f"expires {ms_to_iso(token['expires_ms'])}"
    else:
        state = "no expiry"
    used = ms_to_iso(token["last_used_ms"]) if token["last_used_ms"] else "never"
    return f"{token['id']}  {token['name']:<20} {token['role']:<9} {state}  last used {used}"


@users.command("list")
@url_option
@json_lines_option
@click.pass_context
async def list_users(ctx: click.Context, url: str | None, as_json: bool) -> None:
    """List the users (admin)."""
    with cli_errors():
        async with ApiClient(resolve_url(ctx, url)) as api:
            page = await api.get("/users")
    for user in page["items"]:
        click.echo(json.dumps(user) if as_json else _format_user(user))


@users.command()
@url_option
@click.argument("name")
@click.option("--role", type=_ROLES, default="viewer", show_default=True)
@password_file_option
@click.pass_context
async def add(
    ctx: click.Context, url: str | None, name: str, role: str, password_file: Path | None
) -> None:
    """Add user NAME (admin); asks for the password unless --password-file."""
    password = await read_password(password_file, f"Password for {name}", confirm=True)
    with cli_errors():
        async with ApiClient(resolve_url(ctx, url)) as api:
            user = await api.post("/users", {"name": name, "password": password, "role": role})
    click.echo(f"added {user['name']} ({user['role']})")


@users.command()
@url_option
@click.argument("name")
@password_file_option
@click.option(
    "--current-password-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Your current password (needed for your own, unless you are an admin).",
)
@click.pass_context
async def passwd(
    ctx: click.Context,
    url: str | None,
    name: str,
    password_file: Path | None,
    current_password_file: Path | None,
) -> None:
    """Set NAME's password: an admin for anybody, anybody for themself (with the current one)."""
    with cli_errors():
        async with ApiClient(resolve_url(ctx, url)) as api:
            me = await api.get("/me")
            body: dict[str, str] = {}
            if me["user"] == name and me["role"] != Role.ADMIN.value:
                body["current_password"] = await read_password(
                    current_password_file, "Current password"
                )
            body["password"] = await read_password(
                password_file, f"New password for {name}", confirm=True
            )
            await api.put(f"/users/{name}/password", body)
    click.echo(f"password of {name} changed")


async def _set_disabled(ctx: click.Context, url: str | None, name: str, disabled: bool) -> None:
    with cli_errors():
        async with ApiClient(resolve_url(ctx, url)) as api:
            user = await api.patch(f"/users/{name}", {"disabled": disabled})
    click.echo(_format_user(user))


@users.command()
@url_option
@click.argument("name")
@click.pass_context
async def disable(ctx: click.Context, url: str | None, name: str) -> None:
    """Disable NAME (admin): logins fail, sessions and tokens stop working at once."""
    await _set_disabled(ctx, url, name, True)


@users.command()
@url_option
@click.argument("name")
@click.pass_context
async def enable(ctx: click.Context, url: str | None, name: str) -> None:
    """Enable NAME again (admin); their unrevoked tokens work again."""
    await _set_disabled(ctx, url, name, False)


@users.group()
def token() -> None:
    """API tokens: create, list, revoke."""


async def _me(api: ApiClient) -> str:
    me: dict[str, Any] = await api.get("/me")
    return str(me["user"])


@token.command("create")
@url_option
@click.argument("name")
@click.option("--user", help="Whose token (default: yours; another user's needs admin).")
@click.option("--role", type=_ROLES, help="At most the user's role (default: the user's).")
@click.option("--expires", help="When it expires: a duration (90d), ISO 8601 or epoch ms.")
@click.pass_context
async def create_token(
    ctx: click.Context,
    url: str | None,
    name: str,
    user: str | None,
    role: str | None,
    expires: str | None,
) -> None:
    """Create API token NAME and print its secret (shown this once) on stdout."""
    body: dict[str, Any] = {"name": name}
    if role is not None:
        body["role"] = role
    if expires is not None:
        body["expires"] = expires
    with cli_errors():
        async with ApiClient(resolve_url(ctx, url)) as api:
            owner = user or await _me(api)
            made = await api.post(f"/users/{owner}/tokens", body)
    click.echo(f"token {made['id']} ({made['name']}, {made['role']}) of {owner}:", err=True)
    click.echo(made["secret"])


@token.command("list")
@url_option
@click.option("--user", help="Whose tokens (default: yours; another user's needs admin).")
@json_lines_option
@click.pass_context
async def list_tokens(ctx: click.Context, url: str | None, user: str | None, as_json: bool) -> None:
    """List API tokens (never their secrets)."""
    with cli_errors():
        async with ApiClient(resolve_url(ctx, url)) as api:
            owner = user or await _me(api)
            page = await api.get(f"/users/{owner}/tokens")
    for item in page["items"]:
        click.echo(json.dumps(item) if as_json else _format_token(item))


@token.command("revoke")
@url_option
@click.argument("token_id")
@click.pass_context
async def revoke_token(ctx: click.Context, url: str | None, token_id: str) -> None:
    """Revoke API token TOKEN_ID (yours, or anybody's as admin): refused from now on."""
    with cli_errors():
        async with ApiClient(resolve_url(ctx, url)) as api:
            revoked = await api.delete(f"/tokens/{token_id}")
    click.echo(f"revoked token {revoked['id']} ({revoked['name']}) of {revoked['owner']}")
