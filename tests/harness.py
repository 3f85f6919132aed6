"""Test helpers shared across packages: stores in a directory, a real API server, a building."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pytest
import trio
from quart_trio import QuartTrio
from quart_trio.testing.client import TrioClient
from werkzeug.datastructures import Headers

from opencrate.api.app import create_app
from opencrate.api.server import serve_api
from opencrate.app import Services
from opencrate.clock import TrioClock
from opencrate.components.nodes.store import NodeStore
from opencrate.components.users.auth import Authenticator
from opencrate.components.users.roles import Role
from opencrate.config import Settings
from opencrate.model.node import Node
from opencrate.runtime.supervisor import Supervisor

E = TypeVar("E")

#: The checkout this test run is in.
REPO_ROOT = Path(__file__).resolve().parents[1]

#: Tests hash passwords with argon2's cheapest parameters: no protection, no waiting.
TEST_USER_SETTINGS: dict[str, Any] = {"argon2_profile": "cheapest"}
#: The password of every user :func:`add_user_with_token` makes.
TEST_PASSWORD = "correct horse battery"
#: The user the default test clients, and the CLI tests, act as (an admin) ...
TEST_ADMIN = "admin"
#: ... with a token of this name: the audit log shows ``admin (token tests)``.
TEST_TOKEN_NAME = "tests"
TEST_AUDIT_NAME = f"{TEST_ADMIN} (token {TEST_TOKEN_NAME})"

#: Small per-subscriber queues, so a test can make a websocket client lag
#: with a few dozen events instead of thousands.
TEST_BUS_CAPACITY = 16


@asynccontextmanager
async def serving(
    services: Services, *, certfile: Path | None = None, keyfile: Path | None = None
) -> AsyncIterator[str]:
    """A real server on 127.0.0.1 (port 0) for ``services``; its base URL. Shuts down in order.

    With ``certfile`` and ``keyfile`` it serves HTTPS (the URL is ``https://...``).
    """
    supervisor = services.supervisor
    assert supervisor is not None
    async with trio.open_nursery() as nursery:
        urls: list[str] = await nursery.start(
            partial(
                serve_api,
                create_app(services),
                host="127.0.0.1",
                port=0,
                certfile=certfile,
                keyfile=keyfile,
                shutdown_trigger=supervisor.shutdown_requested.wait,
            )
        )
        yield urls[0]
        supervisor.request_shutdown()


@asynccontextmanager
async def running_services(
    data_dir: Path,
    clock: TrioClock,
    *,
    users: dict[str, Any] | None = None,
    sections: dict[str, Any] | None = None,
) -> AsyncIterator[Services]:
    """Services with every store running on files in ``data_dir``; closed (drained) after.

    ``users`` adds to the ``[users]`` section (cheap argon2: :data:`TEST_USER_SETTINGS`);
    ``sections`` are further settings sections.
    """
    all_sections = {**(sections or {}), "users": {**TEST_USER_SETTINGS, **(users or {})}}
    settings = Settings(data_dir=data_dir, bus_capacity=TEST_BUS_CAPACITY, sections=all_sections)
    svc = Services.create(settings, clock=clock)
    # Not run: the routes only need its shutdown_requested event (websockets
    # close with 1001 when it is set) and its level for /api/health.
    svc.supervisor = Supervisor(stores=[], levels=[])
    async with trio.open_nursery() as nursery:
        for store in svc.stores():
            await nursery.start(store.run)
        try:
            yield svc
        finally:
            with trio.CancelScope(shield=True):
                for store in reversed(svc.stores()):
                    await store.aclose()


async def build_tree(services: Services) -> None:
    """A small building: two floors, an AHU with two points on floor 1, a VAV on floor 2.

    ::

        hq (site)
        ├── floor-1 (space)
        │   └── 1001 (equip, ahu)
        │       ├── 1001/sat   (point, number, °C: air temp sensor discharge)
        │       └── 1001/fan   (point, bool: fan cmd)
        └── floor-2 (space)
            └── 2001 (equip, vav)
                └── 2001/zat   (point, number, °C: zone air temp sensor)
    """
    specs: list[dict[str, Any]] = [
        {"id": "hq", "node_type": "site", "dis": "HQ", "tags": ["site"]},
        {"id": "floor-1", "node_type": "space", "dis": "Floor 1", "parent_id": "hq"},
        {"id": "floor-2", "node_type": "space", "dis": "Floor 2", "parent_id": "hq"},
        {"id": "1001", "node_type": "equip", "dis": "AHU-1", "parent_id": "floor-1",
         "tags": ["ahu", "equip"]},
        {"id": "1001/sat", "node_type": "point", "dis": "Supply Air Temp", "parent_id": "1001",
         "tags": ["air", "temp", "sensor", "discharge", "point"], "unit": "°C", "kind": "number"},
        {"id": "1001/fan", "node_type": "point", "dis": "Fan Cmd", "parent_id": "1001",
         "tags": ["fan", "cmd", "point"], "kind": "bool"},
        {"id": "2001", "node_type": "equip", "dis": "VAV-1", "parent_id": "floor-2",
         "tags": ["vav", "equip"]},
        {"id": "2001/zat", "node_type": "point", "dis": "Zone Air Temp", "parent_id": "2001",
         "tags": ["zone", "air", "temp", "sensor", "point"], "unit": "°C", "kind": "number"},
    ]  # fmt: skip
    await services.get(NodeStore).create_many([Node.from_dict(spec) for spec in specs])


def supervised(supervisor: Supervisor, name: str, kind: type[E]) -> E:
    """The engine behind the supervised service ``name``: the object whose ``run`` it runs.

    For waiting on the engine's facts (``await engine.wait_processed(n)``).
    """
    for level in supervisor.levels:
        for service in level.services:
            if service.name == name:
                engine = getattr(service.run, "__self__", None)
                assert isinstance(engine, kind), f"service {name} runs {service.run!r}"
                return engine
    raise AssertionError(f"no supervised service {name!r}")


async def add_user_with_token(
    services: Services, name: str, role: Role, *, token_name: str = TEST_TOKEN_NAME
) -> str:
    """A new user ``name`` (password :data:`TEST_PASSWORD`) and the secret of a token of theirs."""
    auth = services.get(Authenticator)
    await auth.add_user(name, role, TEST_PASSWORD)
    return (await auth.create_token(name, token_name)).secret


async def role_tokens(services: Services) -> dict[Role, str]:
    """A token per role: of :data:`TEST_ADMIN`, ``operator`` and ``viewer`` (users made here)."""
    names = {Role.ADMIN: TEST_ADMIN, Role.OPERATOR: "operator", Role.VIEWER: "viewer"}
    made = {role: await add_user_with_token(services, name, role) for role, name in names.items()}
    for secret in made.values():
        # Verified once now, so a test's first request finds it in the cache and makes
        # no store round trip (tests that wait_all_tasks_blocked would race a worker thread).
        await services.get(Authenticator).principal_for_token(secret)
    return made


class TokenClient(TrioClient):
    """The app's test client sending ``Authorization: Bearer <token>`` with every request.

    A request's own ``Authorization`` header wins, so a test can still send
    another token, or none with ``headers={"Authorization": ""}`` (sent as given).
    """

    token: str | None = None

    async def _make_request(  # type: ignore[override]
        self, path: str, method: str, headers: Any, *args: Any, **kwargs: Any
    ) -> Any:
        return await super()._make_request(path, method, self._with_token(headers), *args, **kwargs)

    def request(self, path: str, *, headers: Any = None, **kwargs: Any) -> Any:
        return super().request(path, headers=self._with_token(headers), **kwargs)

    def websocket(self, path: str, *, headers: Any = None, **kwargs: Any) -> Any:
        return super().websocket(path, headers=self._with_token(headers), **kwargs)

    def _with_token(self, headers: Any) -> Headers:
        merged = Headers(headers or {})
        if self.token is not None and "Authorization" not in merged:
            merged["Authorization"] = f"Bearer {self.token}"
        if merged.get("Authorization") == "":
            del merged["Authorization"]
        return merged


def client_with_token(app: QuartTrio, token: str | None) -> TokenClient:
    """A test client of ``app`` that sends ``token`` (None: no credentials at all)."""
    client = TokenClient(app)
    client.token = token
    return client


# -- real filesystem faults: a small disk that fills up, a file that cannot be written ----
@contextmanager
def small_disk(path: Path, size: str = "8m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path`` (made), unmounted after; skips where not allowed.

    Mounting needs root (CAP_SYS_ADMIN); elsewhere the test is skipped, with the reason.
    """
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "opencrate-test", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip() or 'not root'}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill_disk(directory: Path) -> Path:
    """Write a file in ``directory`` until its filesystem is full; returns it (delete to free)."""
    filler = directory / "filler"
    block = b"\0" * 65536
    with filler.open("wb", buffering=0) as out:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    out.write(block[:size])
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    return filler


@contextmanager
def read_only_file(path: Path) -> Iterator[Path]:
    """``path`` made impossible to write, even for root (immutable), restored after.

    Not root: mode 0444, which SQLite opens read-only without a word. Root
    bypasses modes, so there the file is made immutable (``chattr +i``); skips
    when the filesystem does not support that.
    """
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o444)
        try:
            yield path
        finally:
            path.chmod(mode)
        return
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot make {path.name} immutable here: {made.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)
