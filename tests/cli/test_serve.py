"""``opencrate init`` and the parts of ``opencrate serve``, on real stores and sockets."""

from __future__ import annotations

import os
import re
import signal
import socket
import stat
from pathlib import Path

import asyncclick as click
import httpx
import pytest
import trio
from asyncclick.testing import CliRunner

from opencrate.app import Services
from opencrate.cli.main import cli
from opencrate.cli.serve import prepare_demo_dir, run_until_signalled
from opencrate.clock import SystemClock
from opencrate.components.nodes.store import NodeStore
from opencrate.components.points.store import PointStore
from opencrate.components.users.auth import Authenticator
from opencrate.components.users.settings import UserSettings
from opencrate.components.users.store import UserStore
from opencrate.config import Settings
from opencrate.runtime.bus import EventBus
from opencrate.runtime.supervisor import Level, Service, Supervisor
from tests.harness import read_only_file

EXAMPLE = Path(__file__).parents[2] / "examples" / "office.toml"


async def run(*args: str) -> tuple[int, str]:
    result = await CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


async def count_nodes(data: Path) -> int:
    async with NodeStore(data / "nodes.db", bus=EventBus()).running() as nodes:
        return len(nodes)


async def test_init_creates_every_database_and_loads_the_scenario_once(tmp_path: Path) -> None:
    data = tmp_path / "site-data"
    code, out = await run("init", "--data", str(data), "--scenario", str(EXAMPLE))
    assert code == 0, out
    assert "76 nodes: 76 created" in out
    stores = Services.create(Settings(data_dir=data)).stores()
    for store in stores:
        assert (data / store.path.name).is_file(), store.path.name
        assert store.path.name in out
    code, out = await run("init", "--data", str(data), "--scenario", str(EXAMPLE))
    assert code == 0, out
    assert "0 created, 0 updated, 0 moved, 76 unchanged" in out
    assert await count_nodes(data) == 76


async def test_init_with_a_bad_scenario_names_the_line_and_keeps_the_data(tmp_path: Path) -> None:
    await run("init", "--data", str(tmp_path), "--scenario", str(EXAMPLE))
    bad = tmp_path / "bad.toml"
    bad.write_text(EXAMPLE.read_text(encoding="utf-8").replace("mean = 24.2", "mean = hot"))
    code, out = await run("init", "--data", str(tmp_path), "--scenario", str(bad))
    assert code == 1
    lines = bad.read_text(encoding="utf-8").splitlines()
    line = 1 + next(i for i, text in enumerate(lines) if "mean = hot" in text)
    assert f"Error: {bad}:{line}: not valid TOML" in out
    bad.write_text(EXAMPLE.read_text(encoding="utf-8").replace("mean = 24.2", 'mean = "hot"'))
    code, out = await run("init", "--data", str(tmp_path), "--scenario", str(bad))
    assert code == 1
    line = EXAMPLE.read_text(encoding="utf-8").splitlines().index("mean = 24.2") + 1
    assert f"{bad}:{line} [equip[1].point[0].signal.mean]: must be a finite number" in out
    assert await count_nodes(tmp_path) == 76


def test_demo_dir_is_wiped_of_our_files_and_gets_the_scenario(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    data.mkdir()
    ours = (
        "nodes.db",
        "nodes.db-wal",
        "audit.db.corrupt-20261123T031000",
        "office.toml",
        "history-archive.db",  # a second history service
        "pg-spool-central.db-shm",  # a PostgreSQL service's spool
    )
    for name in ours:
        (data / name).write_text("old")
    (data / "persistence").mkdir()  # configurations saved through the API
    (data / "persistence" / "sqlite.json").write_text("{}")
    scenario = prepare_demo_dir(data)
    assert sorted(p.name for p in data.iterdir()) == ["office.toml", "persistence.toml"]
    assert scenario.read_bytes() == EXAMPLE.read_bytes()
    assert (data / "persistence.toml").read_bytes() == (
        EXAMPLE.parent / "persistence.toml"
    ).read_bytes()
    assert prepare_demo_dir(tmp_path / "new" / "demo").is_file()


def test_demo_refuses_to_wipe_a_directory_with_foreign_files(tmp_path: Path) -> None:
    (tmp_path / "nodes.db").write_text("ours")
    (tmp_path / "thesis.docx").write_text("precious")
    (tmp_path / "persistence").mkdir()
    (tmp_path / "persistence" / "notes.txt").write_text("not a saved configuration")
    with pytest.raises(click.ClickException, match=r"refusing to wipe .*persistence.*thesis\.docx"):
        prepare_demo_dir(tmp_path)
    assert (tmp_path / "persistence" / "notes.txt").exists()
    assert (tmp_path / "thesis.docx").read_text() == "precious"
    assert (tmp_path / "nodes.db").read_text() == "ours"


async def test_demo_and_scenario_together_is_a_usage_error(tmp_path: Path) -> None:
    code, out = await run("serve", "--demo", "--scenario", str(EXAMPLE), "--data", str(tmp_path))
    assert code == 2
    assert "--demo brings its own scenario" in out


async def test_serve_with_a_bad_scenario_exits_1_naming_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[site]]\nid = "hq"\ndis = "HQ"\nfloors = 3\n', encoding="utf-8")
    code, out = await run(
        "serve", "--data", str(tmp_path / "d"), "--scenario", str(bad), "--port", "0"
    )
    assert code == 1
    assert f"Error: {bad}:4 [site[0].floors]: unknown key 'floors'" in out


async def test_serve_on_a_busy_port_exits_1_before_starting(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out = await run("serve", "--data", str(tmp_path / "d"), "--port", str(port))
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in out
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("command", ["serve", "init"])
async def test_a_data_dir_that_cannot_be_created_is_a_one_line_error(
    tmp_path: Path, command: str
) -> None:
    (tmp_path / "file").write_text("not a directory")
    data = tmp_path / "file" / "data"
    args = [command, "--data", str(data)] + (["--port", "0"] if command == "serve" else [])
    code, out = await run(*args)
    assert code == 1
    assert out == f"Error: cannot create data directory {data}: Not a directory\n"


async def test_help_says_the_demo_wipes_its_data_dir() -> None:
    code, out = await run("serve", "--help")
    assert code == 0
    assert "WIPED" in " ".join(out.split())


async def test_sigterm_shuts_down_in_order_and_keeps_the_data(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, port=0, scenario=EXAMPLE, simulate=True)
    services = Services.create(settings)
    supervisor = services.build_supervisor()
    outcome: list[bool] = []
    announced: list[int] = []

    def started() -> None:
        announced.append(supervisor.level)

    async def serve() -> None:
        outcome.append(await run_until_signalled(supervisor, on_started=started))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve)
        with trio.fail_after(10):
            await supervisor.wait_level(60)
        (url,) = services.api_urls
        async with httpx.AsyncClient() as client:
            health = (await client.get(f"{url}/api/health")).json()
        assert (health["status"], health["level"]) == ("ok", 60)
        assert services.get(PointStore).get("1101/analog-input-1") is not None
        os.kill(os.getpid(), signal.SIGTERM)
    assert outcome == [False]
    assert announced == [60]
    assert all(store.statistics().closed for store in services.stores())
    assert supervisor.level == 0
    assert await count_nodes(tmp_path) == 76


async def test_a_second_signal_cuts_a_slow_shutdown_short(tmp_path: Path) -> None:
    stopped_by_cancel = trio.Event()

    async def stubborn(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        # Ignores shutdown requests: only cancellation stops it.
        task_status.started()
        try:
            await trio.sleep_forever()
        finally:
            stopped_by_cancel.set()

    store = NodeStore(tmp_path / "nodes.db", bus=EventBus())
    level = Level(
        number=50, name="slow", services=[Service(name="stubborn", run=stubborn)], grace_s=600
    )
    supervisor = Supervisor(stores=[store], levels=[level])
    outcome: list[bool] = []

    async def serve() -> None:
        outcome.append(await run_until_signalled(supervisor))

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve)
            await supervisor.wait_level(50)
            os.kill(os.getpid(), signal.SIGTERM)
            await supervisor.shutdown_requested.wait()
            # The orderly shutdown would wait out the 600 s grace.
            await trio.sleep(0.2)
            assert not stopped_by_cancel.is_set()
            os.kill(os.getpid(), signal.SIGTERM)
    assert outcome == [True]
    assert stopped_by_cancel.is_set()
    assert store.statistics().closed


async def _password_matches(data: Path, user: str, password: str) -> bool:
    store = UserStore(data / "users.db")
    async with store.running():
        auth = Authenticator(store, UserSettings(), SystemClock())
        return await auth.password_matches(user, password, address="test")


async def test_init_makes_an_admin_once_with_a_one_time_password(tmp_path: Path) -> None:
    code, out = await run("init", "--data", str(tmp_path))
    assert code == 0, out
    match = re.search(r"created user admin \(admin\) with the one-time password (\S+);", out)
    assert match is not None, out
    assert "users.db" in out
    assert await _password_matches(tmp_path, "admin", match[1])
    code, out = await run("init", "--data", str(tmp_path))
    assert code == 0, out
    assert "created user" not in out
    assert await _password_matches(tmp_path, "admin", match[1])


async def test_init_takes_the_admin_password_from_a_file_and_writes_a_private_token(
    tmp_path: Path,
) -> None:
    data, password, token = tmp_path / "data", tmp_path / "pw", tmp_path / "admin.token"
    password.write_text("a long admin passphrase\n", encoding="utf-8")
    code, out = await run(
        "init", "--data", str(data), "--admin-password-file", str(password),
        "--admin-token-file", str(token),
    )  # fmt: skip
    assert code == 0, out
    assert "with the password from --admin-password-file" in out
    assert "one-time" not in out
    assert await _password_matches(data, "admin", "a long admin passphrase")
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    store = UserStore(data / "users.db")
    async with store.running():
        auth = Authenticator(store, UserSettings(), SystemClock())
        principal = await auth.principal_for_token(token.read_text(encoding="utf-8").strip())
    assert principal is not None
    assert (principal.user, principal.role, principal.token_name) == ("admin", "admin", "init")


async def test_init_refuses_a_weak_admin_password_in_one_line(tmp_path: Path) -> None:
    password = tmp_path / "pw"
    password.write_text("admin\n", encoding="utf-8")
    code, out = await run(
        "init", "--data", str(tmp_path / "d"), "--admin-password-file", str(password)
    )
    assert code == 1
    assert "password must be at least 10 characters long" in out


async def test_a_second_signal_exits_even_when_something_ignores_cancellation(
    tmp_path: Path,
) -> None:
    release = trio.Event()

    async def shielded(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        # As hypercorn's socket write was: shielded, and waiting on a peer that never acts.
        task_status.started()
        with trio.CancelScope(shield=True):
            await release.wait()

    store = NodeStore(tmp_path / "nodes.db", bus=EventBus())
    level = Level(number=50, name="stuck", services=[Service(name="stuck", run=shielded)])
    supervisor = Supervisor(stores=[store], levels=[level])
    exits: list[int] = []

    def hard_exit(status: int) -> None:
        exits.append(status)
        release.set()  # what os._exit would end; here the test lets it go

    async def serve() -> None:
        await run_until_signalled(supervisor, force_exit_s=0.3, hard_exit=hard_exit)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve)
            await supervisor.wait_level(50)
            os.kill(os.getpid(), signal.SIGINT)
            await supervisor.shutdown_requested.wait()
            started = trio.current_time()
            os.kill(os.getpid(), signal.SIGINT)
    assert exits == [1]
    assert trio.current_time() - started < 2


async def test_serve_with_a_read_only_store_file_exits_1_naming_the_file(tmp_path: Path) -> None:
    data = tmp_path / "d"
    code, out = await run("init", "--data", str(data))
    assert code == 0, out
    with read_only_file(data / "properties.db"):
        code, out = await run("serve", "--data", str(data), "--port", "0")
    assert code == 1
    assert (
        f"Error: store properties: cannot write {data / 'properties.db'}: "
        "attempt to write a readonly database"
    ) in out
