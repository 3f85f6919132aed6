"""``opencrate login|logout|users ...`` against a real server on loopback."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from asyncclick.testing import CliRunner

from opencrate.app import Services
from opencrate.cli.credentials import stored_token, tokens_path
from opencrate.cli.main import cli
from opencrate.components.users.roles import Role
from opencrate.components.users.store import UserStore
from tests.harness import TEST_PASSWORD


async def _run(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = await CliRunner().invoke(cli, list(args), input=stdin)
    return result.exit_code, result.output


def _password_file(tmp_path: Path, password: str = TEST_PASSWORD) -> str:
    path = tmp_path / "password.txt"
    path.write_text(password + "\n", encoding="utf-8")
    return str(path)


async def test_users_add_list_disable_and_enable(
    live_services: Services, api_url: str, tmp_path: Path
) -> None:
    password = _password_file(tmp_path, "a fine new passphrase")
    code, output = await _run(
        "users", "add", "carol", "--role", "operator", "--password-file", password, "--url", api_url
    )
    assert (code, output.strip()) == (0, "added carol (operator)")
    code, output = await _run("users", "list", "--json", "--url", api_url)
    assert code == 0
    listed = {u["name"]: u for u in map(json.loads, output.splitlines())}
    assert set(listed) == {"admin", "carol", "operator", "viewer"}
    assert listed["carol"]["role"] == "operator"

    code, output = await _run("users", "disable", "carol", "--url", api_url)
    assert code == 0
    assert "disabled" in output
    assert (await live_services.get(UserStore).get_user("carol")).disabled
    code, output = await _run("users", "enable", "carol", "--url", api_url)
    assert code == 0
    assert not (await live_services.get(UserStore).get_user("carol")).disabled

    code, output = await _run(
        "users",
        "add",
        "dave",
        "--password-file",
        _password_file(tmp_path, "short"),
        "--url",
        api_url,
    )
    assert code == 1
    assert "at least 10 characters" in output


async def test_token_create_prints_the_secret_and_revoke_ends_it(
    live_services: Services, api_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, output = await _run(
        "users", "token", "create", "backup", "--user", "operator", "--url", api_url
    )
    assert code == 0
    secret = output.strip().splitlines()[-1]
    assert secret.startswith("oc_")
    code, output = await _run(
        "users", "token", "list", "--user", "operator", "--json", "--url", api_url
    )
    tokens = [json.loads(line) for line in output.splitlines()]
    (backup,) = [t for t in tokens if t["name"] == "backup"]
    assert backup["revoked_ms"] is None

    # The new token works as the CLI's own ...
    monkeypatch.setenv("OPENCRATE_TOKEN", secret)
    code, output = await _run("users", "token", "list", "--url", api_url)
    assert code == 0
    assert "backup" in output
    # ... but it is the operator's: admin commands are refused with a clear error.
    code, output = await _run("users", "list", "--url", api_url)
    assert code == 1
    assert "not allowed: this needs the admin role" in output

    code, output = await _run("users", "token", "revoke", backup["id"], "--url", api_url)
    assert code == 0
    assert f"revoked token {backup['id']} (backup) of operator" in output
    code, output = await _run("users", "token", "list", "--url", api_url)
    assert code == 1
    assert "not logged in" in output
    assert "opencrate login" in output


async def test_login_stores_a_private_token_that_later_commands_send_and_logout_revokes(
    live_services: Services,
    api_url: str,
    live_tokens: dict[Role, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENCRATE_TOKEN")
    code, output = await _run("users", "token", "list", "--url", api_url)
    assert code == 1
    assert "not logged in" in output

    password = _password_file(tmp_path)
    code, output = await _run(
        "login", "--user", "operator", "--password-file", password, "--url", api_url
    )
    assert code == 0, output
    assert f"logged in to {api_url} as operator (operator)" in output
    path = tokens_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stored_token(api_url) is not None

    code, output = await _run("users", "token", "list", "--url", api_url)
    assert code == 0
    assert "cli-" in output
    # Logging in again replaces the token of that name instead of failing.
    code, _ = await _run(
        "login", "--user", "operator", "--password-file", password, "--url", api_url
    )
    assert code == 0
    live = [
        t for t in await live_services.get(UserStore).list_tokens("operator") if not t.revoked_ms
    ]
    assert [t.name for t in live if t.name.startswith("cli-")] == [live[-1].name]

    code, output = await _run("logout", "--url", api_url)
    assert (code, output.strip()) == (0, f"logged out of {api_url}")
    assert stored_token(api_url) is None
    tokens = await live_services.get(UserStore).list_tokens("operator")
    assert all(t.revoked_ms is not None for t in tokens if t.name.startswith("cli-"))


async def test_a_wrong_password_at_login_is_one_clear_line(api_url: str, tmp_path: Path) -> None:
    code, output = await _run(
        "login", "--user", "operator", "--password-file", _password_file(tmp_path, "wrong one!!"),
        "--url", api_url,
    )  # fmt: skip
    assert code == 1
    assert "wrong user name or password" in output
    assert "Traceback" not in output


async def test_the_token_file_option_wins_over_the_environment(
    api_url: str, live_tokens: dict[Role, str], tmp_path: Path
) -> None:
    token_file = tmp_path / "viewer.token"
    token_file.write_text(live_tokens[Role.VIEWER] + "\n", encoding="utf-8")
    # The environment holds the admin token; the file's viewer token is sent instead.
    code, output = await _run("--token-file", str(token_file), "users", "list", "--url", api_url)
    assert code == 1
    assert "has viewer" in output


async def test_passwd_sets_a_password_that_the_next_login_takes(
    api_url: str, live_tokens: dict[Role, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    new = tmp_path / "new.txt"
    new.write_text("the operator's new passphrase\n", encoding="utf-8")
    code, output = await _run(
        "users", "passwd", "operator", "--password-file", str(new), "--url", api_url
    )
    assert (code, output.strip()) == (0, "password of operator changed")
    code, output = await _run(
        "login", "--user", "operator", "--password-file", _password_file(tmp_path), "--url", api_url
    )
    assert code == 1  # the old one no longer
    code, output = await _run(
        "login", "--user", "operator", "--password-file", str(new), "--url", api_url
    )
    assert code == 0, output

    # A viewer changes their own, with the current one.
    monkeypatch.setenv("OPENCRATE_TOKEN", live_tokens[Role.VIEWER])
    current = tmp_path / "current.txt"
    current.write_text("wrong current one\n", encoding="utf-8")
    code, output = await _run(
        "users", "passwd", "viewer", "--password-file", str(new),
        "--current-password-file", str(current), "--url", api_url,
    )  # fmt: skip
    assert code == 1
    assert "current_password is wrong" in output
    code, output = await _run(
        "users", "passwd", "viewer", "--password-file", str(new),
        "--current-password-file", _password_file(tmp_path), "--url", api_url,
    )  # fmt: skip
    assert code == 0, output
