"""``opencrate serve`` and ``opencrate init``: run a building, or prepare its data directory.

``serve`` builds :class:`~opencrate.app.Services`, runs its supervisor and
prints the API's URL once start level 60 is reached. SIGINT or SIGTERM asks
for an orderly shutdown (API first, stores last, drained and committed) and
the process exits with status 0, within a few seconds whatever the clients
do (a client that does not read is dropped: see :mod:`opencrate.api.server`).
A second signal stops waiting for the grace periods and exits with status 1
(stores still commit what they have queued); if something still holds the
process :data:`FORCE_EXIT_S` later, it exits at once anyway. That loses
nothing acknowledged: every store commits before it acknowledges.

``serve --demo`` serves the office scenario that ships inside the package,
with simulated signals, from a data directory that is wiped at start. It
makes a demo admin (user ``admin``, a new password printed at start) and
writes an admin API token to ``demo-admin.token`` (0600) in the data
directory, for ``curl -H "Authorization: Bearer $(cat ...)"`` and scripts.

``init`` makes user ``admin`` when ``users.db`` has no user, with the
password in ``--admin-password-file`` or a generated one printed once.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import os
import re
import shutil
import signal
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import asyncclick as click
import trio

from opencrate.api.tls import check_tls_files
from opencrate.app import Services
from opencrate.cli.options import compose
from opencrate.components.nodes.store import NodeStore
from opencrate.config import Settings, load_settings
from opencrate.errors import OpenCrateError
from opencrate.runtime import collector
from opencrate.runtime.supervisor import Supervisor

__all__ = [
    "DEMO_DATA_DIR",
    "DEMO_SCENARIO",
    "FORCE_EXIT_S",
    "check_can_listen",
    "init",
    "prepare_demo_dir",
    "run_until_signalled",
    "serve",
]

#: Where ``serve --demo`` keeps its databases unless ``--data`` says otherwise.
DEMO_DATA_DIR = Path("data/demo")
#: The demo scenario and its persistence configuration, as shipped inside the
#: package (``examples/office.toml`` and ``examples/persistence.toml`` are their copies).
DEMO_SCENARIO = "examples/office.toml"
DEMO_PERSISTENCE = "examples/persistence.toml"
#: The admin API token ``serve --demo`` writes into its data directory.
DEMO_TOKEN_FILE = "demo-admin.token"
#: After a second signal, seconds the cancelled shutdown may take before the
#: process exits without waiting any longer.
FORCE_EXIT_S = 2.0

# What a data directory may hold for --demo to wipe it: our databases, their
# WAL/SHM side files and quarantined copies, the demo files we put there, and the
# persistence configurations saved through the API (a folder of JSON files).
_OURS = re.compile(
    # Service names give history-<name>.db and pg-spool-<name>.db.
    r"^[A-Za-z0-9_-]+\.db(-wal|-shm|\.corrupt-[0-9T-]+(-wal|-shm)?)?$|^(office|persistence)\.toml$"
    r"|^demo-admin\.token$"
)
_OUR_DIRS = frozenset({"persistence"})


def _settings(ctx: click.Context, **changes: Any) -> Settings:
    config_path = (ctx.obj or {}).get("config_path")
    try:
        settings = load_settings(config_path)
    except OpenCrateError as exc:
        raise click.ClickException(str(exc)) from None
    return settings.with_changes(**changes)


def prepare_demo_dir(path: Path) -> Path:
    """Empty (or create) the demo data directory and put the demo scenario in it.

    Refuses (:class:`click.ClickException`) to wipe a directory that holds
    anything OpenCrate did not put there, so a mistyped ``--data`` cannot
    delete someone's files. Returns the path of the scenario copy. Blocking
    file I/O: call it in a worker thread.
    """
    if path.exists():
        if not path.is_dir():
            raise click.ClickException(f"--data {path} exists and is not a directory")
        foreign = sorted(p.name for p in path.iterdir() if not _is_ours(p))
        if foreign:
            shown = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
            raise click.ClickException(
                f"refusing to wipe {path} for --demo: it holds files OpenCrate did not make "
                f"({shown}); pick an empty or new directory with --data"
            )
        for entry in path.iterdir():
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    path.mkdir(parents=True, exist_ok=True)
    package = importlib.resources.files("opencrate.components.scenario")
    for name in (DEMO_SCENARIO, DEMO_PERSISTENCE):
        text = package.joinpath(name).read_text(encoding="utf-8")
        (path / Path(name).name).write_text(text, encoding="utf-8")
    return path / Path(DEMO_SCENARIO).name


def _is_ours(entry: Path) -> bool:
    if entry.is_dir():
        return entry.name in _OUR_DIRS and all(_is_json(f) for f in entry.iterdir())
    return bool(_OURS.match(entry.name))


def _is_json(entry: Path) -> bool:
    return entry.is_file() and entry.suffix == ".json"


def _error_messages(exc: BaseException) -> list[str] | None:
    """The messages of an OpenCrateError, or of a group made only of them; else None."""
    if isinstance(exc, OpenCrateError):
        return [str(exc)]
    if isinstance(exc, BaseExceptionGroup):
        messages: list[str] = []
        for inner in exc.exceptions:
            found = _error_messages(inner)
            if found is None:
                return None
            messages.extend(found)
        return messages
    return None


@contextlib.contextmanager
def _reported_errors() -> Iterator[None]:
    """Show OpenCrate errors (alone or grouped by nurseries) as a one-line CLI error.

    Anything else (a bug, cancellation, KeyboardInterrupt) passes through as is.
    """
    try:
        yield
    except BaseException as exc:
        messages = _error_messages(exc)
        if messages is None:
            raise
        raise click.ClickException("; ".join(messages)) from None


F = TypeVar("F", bound=Callable[..., Any])


def _data_and_scenario_options(*, data: str, scenario: str) -> Callable[[F], F]:
    """``--data DIR`` and ``--scenario FILE``, as ``serve`` and ``init`` both take them."""
    return compose(
        click.option(
            "--data", "data_dir", type=click.Path(file_okay=False, path_type=Path), help=data
        ),
        click.option("--scenario", type=click.Path(dir_okay=False, path_type=Path), help=scenario),
    )


@click.command()
@click.option(
    "--demo",
    is_flag=True,
    help=(
        "Serve the demo office building with simulated signals. Uses a fresh data "
        "directory: --data (default data/demo) is WIPED at start."
    ),
)
@_data_and_scenario_options(
    data="Data directory for the databases (default: data, or data/demo with --demo).",
    scenario="Scenario file (TOML) to load at start; see docs/reference/scenario.md.",
)
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option(
    "--port", type=click.IntRange(0, 65535), help="Port to listen on (default 8080; 0: any free)."
)
@click.option(
    "--simulate/--no-simulate",
    default=None,
    help="Drive the scenario's points from their [signal]s (on by default with --demo).",
)
@click.option(
    "--certfile",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TLS certificate chain (PEM): serve HTTPS. Needs --keyfile.",
)
@click.option(
    "--keyfile",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Private key (PEM) of --certfile.",
)
@click.pass_context
async def serve(
    ctx: click.Context,
    demo: bool,
    data_dir: Path | None,
    scenario: Path | None,
    host: str | None,
    port: int | None,
    simulate: bool | None,
    certfile: Path | None,
    keyfile: Path | None,
) -> None:
    """Serve the API and websocket stream until SIGINT/SIGTERM.

    Prints the URL once everything has started. The first Ctrl-C shuts down
    in order (exit status 0); a second one forces the exit (status 1).
    """
    if demo:
        if scenario is not None:
            raise click.UsageError("--demo brings its own scenario; leave out --scenario")
        data_dir = data_dir or DEMO_DATA_DIR
        scenario = await trio.to_thread.run_sync(prepare_demo_dir, data_dir)
        simulate = True if simulate is None else simulate
    if (certfile is None) != (keyfile is None):
        raise click.UsageError("--certfile and --keyfile go together: TLS needs both")
    settings = _settings(
        ctx,
        data_dir=data_dir,
        scenario=scenario,
        host=host,
        port=port,
        simulate=simulate,
        certfile=certfile,
        keyfile=keyfile,
    )
    if demo and scenario is not None and "persistence" not in settings.sections:
        # The demo's history follows examples/persistence.toml (copied beside the scenario).
        demo_persistence = {"file": str(scenario.parent / Path(DEMO_PERSISTENCE).name)}
        settings = settings.with_changes(
            sections={**settings.sections, "persistence": demo_persistence}
        )
    await check_can_listen(settings.host, settings.port)
    if settings.certfile is not None and settings.keyfile is not None:
        # Before the stores open: a wrong path is a one-line error at once.
        with _reported_errors():
            await trio.to_thread.run_sync(check_tls_files, settings.certfile, settings.keyfile)
    await _make_data_dir(settings.data_dir)
    with _reported_errors():
        # Services.create reads the [persistence] configuration: a ConfigError there
        # is a one-line error naming file, line and token, not a traceback.
        services = Services.create(settings)
        supervisor = services.build_supervisor()
        login_help = await _demo_admin(settings) if demo else None
        forced = await run_until_signalled(
            supervisor, on_started=lambda: _started(services, supervisor, login_help)
        )
    if forced:
        click.echo("OpenCrate stopped (forced)", err=True)
        raise click.exceptions.Exit(1)
    click.echo("OpenCrate stopped")


def _started(services: Services, supervisor: Supervisor, login_help: str | None) -> None:
    # Start-up is over: what it made lives as long as the process (runtime.collector).
    collector.tune()
    _announce(services, supervisor, login_help)


async def run_until_signalled(
    supervisor: Supervisor,
    *,
    on_started: Callable[[], None] | None = None,
    signals: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM),
    force_exit_s: float = FORCE_EXIT_S,
    hard_exit: Callable[[int], object] = os._exit,
) -> bool:
    """Run ``supervisor`` until a signal asks it to stop; returns whether the stop was forced.

    ``on_started`` is called once every start level has been reached. The
    first signal calls :meth:`Supervisor.request_shutdown`; a signal that
    arrives while shutting down cancels the supervisor (grace periods are cut
    short; stores still drain and commit, shielded); if the supervisor has
    not stopped ``force_exit_s`` after that, ``hard_exit(1)`` ends the process
    (nothing acknowledged is lost: stores acknowledge only what they
    committed). Signals are caught from before start-up, so a Ctrl-C while
    starting stops cleanly too. Errors from start-up propagate (in an
    exception group). Must run in the main thread.
    """
    force = trio.CancelScope()
    forced = False
    stopped = trio.Event()

    async def supervise(*, task_status: trio.TaskStatus[None]) -> None:
        try:
            with force:
                await supervisor.run(task_status=task_status)
        finally:
            stopped.set()

    async def watch(receiver: AsyncIterator[int]) -> None:
        nonlocal forced
        async for signum in receiver:
            if not supervisor.shutdown_requested.is_set():
                name = signal.Signals(signum).name
                click.echo(f"{name}: shutting down (again to force)", err=True)
                supervisor.request_shutdown()
            elif not forced:
                forced = True
                force.cancel()
                nursery.start_soon(last_resort)

    async def last_resort() -> None:
        with trio.move_on_after(force_exit_s):
            await stopped.wait()
        if not stopped.is_set():
            click.echo(
                f"still stopping {force_exit_s:g} s after the second signal: exiting now", err=True
            )
            hard_exit(1)

    with trio.open_signal_receiver(*signals) as receiver:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch, receiver)
            await nursery.start(supervise)
            if not stopped.is_set() and on_started is not None:
                on_started()
            await stopped.wait()
            nursery.cancel_scope.cancel()
    return forced


async def check_can_listen(host: str, port: int) -> None:
    """Fail early, with a clear message, when ``host:port`` cannot be listened on.

    The API would otherwise only find out at start level 60, after the stores
    opened and the model loaded, and its supervisor would keep retrying. A
    check, not a reservation: another process may still take the port before
    the API binds it. Port 0 always passes.
    """
    if port == 0:
        return
    try:
        infos = await trio.socket.getaddrinfo(host, port, type=trio.socket.SOCK_STREAM)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from None
    family, kind, proto, _, address = infos[0]
    with trio.socket.socket(family, kind, proto) as sock:
        # As hypercorn does, so a port in TIME_WAIT after a restart is not "busy".
        sock.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_REUSEADDR, 1)
        try:
            await sock.bind(address)
        except OSError as exc:
            raise click.ClickException(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}; is another server "
                "running there? Pick another with --port"
            ) from None


async def _make_data_dir(path: Path) -> None:
    """Create the data directory (and its parents); a one-line CLI error when it cannot be."""
    try:
        await trio.to_thread.run_sync(lambda: path.mkdir(parents=True, exist_ok=True))
    except OSError as exc:
        raise click.ClickException(
            f"cannot create data directory {path}: {exc.strerror or exc}"
        ) from None


async def _demo_admin(settings: Settings) -> str:
    """Make the demo admin and its token file; the lines that tell how to log in."""
    from opencrate.components.users.provision import ADMIN, ensure_admin
    from opencrate.components.users.settings import UserSettings

    token_file = settings.data_dir / DEMO_TOKEN_FILE
    done = await ensure_admin(
        settings.data_dir,
        UserSettings.from_section(settings.sections.get("users")),
        token_file=token_file,
        token_name="demo",
    )
    return (
        f"demo login: user {ADMIN}, password {done.generated_password} (the web page)\n"
        f"admin API token in {token_file}: "
        f'curl -H "Authorization: Bearer $(cat {token_file})" ...'
    )


def _announce(services: Services, supervisor: Supervisor, login_help: str | None = None) -> None:
    urls = ", ".join(services.api_urls) or "(no API)"
    click.echo(f"OpenCrate is serving {urls} (start level {supervisor.level}); Ctrl-C to stop")
    if login_help is not None:
        click.echo(login_help)


@click.command()
@_data_and_scenario_options(
    data="Data directory to create (default: from the settings file, else data).",
    scenario="Scenario file (TOML) to load into the new node store.",
)
@click.option(
    "--admin-password-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The first admin's password (first line); default: a generated one, printed once.",
)
@click.option(
    "--admin-token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write an admin API token (named init) to this file, mode 0600 (for scripts).",
)
@click.pass_context
async def init(
    ctx: click.Context,
    data_dir: Path | None,
    scenario: Path | None,
    admin_password_file: Path | None,
    admin_token_file: Path | None,
) -> None:
    """Create the data directory and every database, load a scenario if given, make an admin.

    Safe to repeat: existing databases are opened (and migrated), not
    replaced, and loading the same scenario again changes nothing. When
    users.db has no user, user admin is made (see --admin-password-file).
    Run it while no server uses the data directory.
    """
    settings = _settings(ctx, data_dir=data_dir, scenario=scenario)
    password = None
    if admin_password_file is not None:
        from opencrate.components.users.cli import read_password

        password = await read_password(admin_password_file, "")
    await _make_data_dir(settings.data_dir)
    with _reported_errors():
        # Services.create reads component sections: their errors are one line too.
        services = Services.create(settings)
        async with contextlib.AsyncExitStack() as stack:
            for store in services.stores():
                await stack.enter_async_context(store.running())
            if settings.scenario is not None:
                from opencrate.components.scenario.loader import load_scenario_into

                report = await load_scenario_into(settings.scenario, services.get(NodeStore))
                click.echo(f"scenario {settings.scenario}: {report}")
    names = ", ".join(store.path.name for store in services.stores())
    click.echo(f"initialised {settings.data_dir}: {names}")
    await _first_admin(settings, password, admin_token_file)


async def _first_admin(settings: Settings, password: str | None, token_file: Path | None) -> None:
    from opencrate.components.users.provision import ADMIN, ensure_admin
    from opencrate.components.users.settings import UserSettings

    with _reported_errors(), settings.errors_located():
        done = await ensure_admin(
            settings.data_dir,
            UserSettings.from_section(settings.sections.get("users")),
            password=password,
            token_file=token_file,
        )
    if done.generated_password is not None:
        click.echo(
            f"created user {ADMIN} (admin) with the one-time password {done.generated_password}; "
            f"change it: opencrate login --user {ADMIN}, then opencrate users passwd {ADMIN}"
        )
    elif done.created:
        click.echo(f"created user {ADMIN} (admin) with the password from --admin-password-file")
    if token_file is not None:
        click.echo(f"admin API token written to {token_file}")
