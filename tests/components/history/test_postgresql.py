"""The postgresql service against the real server: partitions, SQL primitives, surviving outages.

Connection loss is real: a loopback TCP proxy between the service and the
server is stopped and started again, and a backend is killed with
``pg_terminate_backend`` from a second connection. Each run works in its own
schema, dropped afterwards.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import trio

from opencrate.components.history.memory import MemoryService
from opencrate.components.history.postgresql.service import PostgresService
from opencrate.components.history.service import PersistenceService, RiemannType, Sample
from opencrate.errors import InvalidInput, StoreError, StoreUnavailable
from tests.conftest import require_service

pytestmark = pytest.mark.postgres

DSN = os.environ.get("OPENCRATE_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
_URL = urlsplit(DSN)
HOST, PORT = _URL.hostname or "127.0.0.1", _URL.port or 5432


def s(ts: int, value: object, point: str = "p") -> Sample:
    return Sample(point_id=point, ts_ms=ts, value=value)  # type: ignore[arg-type]


def _admin(statement: str) -> list[tuple[object, ...]]:
    with psycopg.connect(DSN, autocommit=True) as conn:
        cur = conn.execute(statement)
        return cur.fetchall() if cur.description else []


@pytest.fixture
def schema() -> object:
    require_service("PostgreSQL", HOST, PORT)
    name = f"oc_test_{uuid.uuid4().hex[:10]}"
    yield name
    _admin(f"DROP SCHEMA IF EXISTS {name} CASCADE")


class Proxy:
    """A loopback TCP proxy to the server that can be stopped (dropping every connection)."""

    def __init__(self) -> None:
        self.port = 0
        self._scope: trio.CancelScope | None = None

    async def start(self, nursery: trio.Nursery) -> None:
        self._scope = await nursery.start(self._serve)

    def stop(self) -> None:
        assert self._scope is not None
        self._scope.cancel()

    async def _serve(self, *, task_status: trio.TaskStatus[trio.CancelScope]) -> None:
        with trio.CancelScope() as scope:
            listeners = await trio.open_tcp_listeners(self.port, host="127.0.0.1")
            self.port = listeners[0].socket.getsockname()[1]
            async with trio.open_nursery() as nursery:
                task_status.started(scope)
                await trio.serve_listeners(self._pipe, listeners, handler_nursery=nursery)

    async def _pipe(self, client: trio.SocketStream) -> None:
        server = await trio.open_tcp_stream(HOST, PORT)

        async def pump(src: trio.SocketStream, dst: trio.SocketStream) -> None:
            try:
                async for chunk in src:
                    await dst.send_all(chunk)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
            finally:
                await dst.aclose()  # one side closed: close the other, ending both pumps

        async with client, server, trio.open_nursery() as nursery:
            nursery.start_soon(pump, client, server)
            nursery.start_soon(pump, server, client)


def _dsn_to(port: int) -> str:
    return f"postgresql://{_URL.username or 'postgres'}@127.0.0.1:{port}{_URL.path or '/test'}"


@asynccontextmanager
async def service(
    dsn: str, schema: str, tmp_path: Path, **kw: object
) -> AsyncIterator[PostgresService]:
    pg = PostgresService(
        dsn=dsn,
        schema=schema,
        spool_path=tmp_path / "spool.db",
        retry_initial_s=0.02,
        retry_max_s=0.2,
        connect_timeout_s=2,
        **kw,  # type: ignore[arg-type]
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(pg.run)
        try:
            yield pg
        finally:
            await pg.aclose()


async def wait_for(predicate: Callable[[], bool], seconds: float = 10.0) -> None:
    # Polling: the condition is set by the service's worker thread, not by an event we own.
    with trio.fail_after(seconds):
        while not predicate():  # noqa: ASYNC110
            await trio.sleep(0.02)


async def test_store_query_partitions_and_bad_input(schema: str, tmp_path: Path) -> None:
    async with service(DSN, schema, tmp_path) as pg:
        assert isinstance(pg, PersistenceService)
        jan, feb = 1_767_225_600_000, 1_769_904_000_000  # 2026-01-01, 2026-02-01 UTC
        await pg.store([s(jan + 1, 1.5), s(feb + 1, True), s(feb + 2, 7), s(feb + 3, "on")])
        await pg.store([s(jan + 1, 2.5)])  # upsert
        got = await pg.samples("p", 0, 2**62)
        assert [(x.ts_ms, x.value) for x in got] == [
            (jan + 1, 2.5),
            (feb + 1, True),
            (feb + 2, 7),
            (feb + 3, "on"),
        ]
        assert type(got[2].value) is int
        parts = _admin(
            "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            f"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '{schema}' "
            "AND c.relkind = 'r'"
        )
        assert parts == [(2,)]
        page = await pg.query("p", 0, 2**62, limit=3)
        assert len(page.samples) == 3
        assert page.next_ms == feb + 3
        with pytest.raises(ValueError, match="finite"):
            await pg.store([s(1, 1.0), s(2, float("inf"))])
        # A NUL the server refuses and a time its partitions cannot name (a bare
        # ValueError that, out of the spool, crashed the service) are bad input.
        with pytest.raises(InvalidInput, match="NUL"):
            await pg.store([s(1, 1.0), s(2, "a\x00b")])
        with pytest.raises(InvalidInput, match="storable range"):
            await pg.store([s(1, 1.0), s(2**62, 1.0)])
        assert len(await pg.samples("p", 0, 2**62)) == 4  # nothing of the bad batches
        assert await pg.remove("p", feb, feb + 2) == 2
        assert set(await pg.last_states()) == {"p"}


async def test_sql_primitives_agree_with_the_memory_service(schema: str, tmp_path: Path) -> None:
    data = [s(0, 10.0), s(40, "text"), s(100, 20.0), s(150, True), s(200, 20.0), s(260, 4)]
    mem = MemoryService()
    await mem.store(data)
    async with service(DSN, schema, tmp_path) as pg:
        await pg.store(data)
        for begin, end in [(50, 150), (-100, 100), (0, 260), (100, 100), (300, 400), (55, 255)]:
            assert await pg.window_stats("p", begin, end) == await mem.window_stats("p", begin, end)
            assert await pg.median("p", begin, end) == await mem.median("p", begin, end)
            for high in (True, False):
                got_extreme = await pg.window_extreme("p", begin, end, high=high)
                assert got_extreme == await mem.window_extreme("p", begin, end, high=high)
            for riemann in RiemannType:
                got = await pg.weighted_stats("p", begin, end, riemann)
                want = await mem.weighted_stats("p", begin, end, riemann)
                if want is None:
                    assert got is None
                    continue
                assert got is not None
                assert got.duration_ms == want.duration_ms
                assert got.integral == pytest.approx(want.integral)
                assert got.variance == pytest.approx(want.variance)
        for ts in (-1, 0, 120, 260, 999):
            assert await pg.state_at("p", ts) == await mem.state_at("p", ts)
            assert await pg.next_sample("p", ts) == await mem.next_sample("p", ts)
            for value in (20.0, 1, "text"):
                assert await pg.last_differing("p", ts, value) == await mem.last_differing(
                    "p", ts, value
                )
                assert await pg.first_differing("p", ts, value) == await mem.first_differing(
                    "p", ts, value
                )
        assert await pg.last_states(["p", "nobody"]) == await mem.last_states(["p", "nobody"])


async def test_outage_spools_in_order_and_replays(schema: str, tmp_path: Path) -> None:
    require_service("PostgreSQL", HOST, PORT)
    async with trio.open_nursery() as nursery:
        proxy = Proxy()
        await proxy.start(nursery)
        async with service(_dsn_to(proxy.port), schema, tmp_path) as pg:
            await pg.store([s(1, 1.0)])
            assert pg.statistics().connected
            proxy.stop()
            await pg.store([s(10, 1.0), s(11, 1.0)])
            await pg.store([s(10, 2.0)])  # must win over the earlier 1.0 after replay
            stats = pg.statistics()
            assert not stats.connected
            assert stats.spooled == 3
            assert stats.last_error is not None
            with pytest.raises(StoreError, match=r"unavailable|lost"):
                await pg.samples("p", 0, 100)
            await trio.sleep(0.2)  # retries fail while the proxy is down
            assert pg.statistics().spooled == 3
            await proxy.start(nursery)
            await wait_for(lambda: pg.statistics().spooled == 0 and pg.statistics().connected)
            got = await pg.samples("p", 0, 100)
            assert [(x.ts_ms, x.value) for x in got] == [(1, 1.0), (10, 2.0), (11, 1.0)]
            stats = pg.statistics()
            assert stats.replayed == 3
            assert stats.reconnects >= 1
            # Connected again: no stale error next to connected = True.
            assert stats.last_error is None
        nursery.cancel_scope.cancel()


async def test_killed_backend_is_survived(schema: str, tmp_path: Path) -> None:
    app = f"oc_{schema}"
    async with service(f"{DSN}?application_name={app}", schema, tmp_path) as pg:
        await pg.store([s(1, 1.0)])
        killed = await trio.to_thread.run_sync(
            _admin,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE application_name = '{app}'",
        )
        assert killed == [(True,)]
        await pg.store([s(2, 2.0)])  # finds the connection dead: spooled, then replayed
        await wait_for(lambda: pg.statistics().spooled == 0 and pg.statistics().connected)
        assert [x.value for x in await pg.samples("p", 0, 10)] == [1.0, 2.0]


async def test_spool_is_bounded_and_survives_a_restart(schema: str, tmp_path: Path) -> None:
    dead = _dsn_to(1)  # nothing listens on port 1
    async with service(dead, schema, tmp_path, spool_max=3) as pg:
        await pg.store([s(t, float(t)) for t in range(5)])
        stats = pg.statistics()
        assert (stats.spooled, stats.spool_dropped) == (3, 2)
    # A new process (same spool file) replays what the old one could not deliver.
    async with service(DSN, schema, tmp_path) as pg:
        await wait_for(lambda: pg.statistics().spooled == 0)
        assert [x.ts_ms for x in await pg.samples("p", 0, 10)] == [2, 3, 4]


async def test_a_cancelled_service_can_run_again(schema: str, tmp_path: Path) -> None:
    pg = PostgresService(dsn=DSN, schema=schema, spool_path=tmp_path / "spool.db")
    async with trio.open_nursery() as nursery:
        await nursery.start(pg.run)
        await pg.store([s(1, 1.0)])
        nursery.cancel_scope.cancel()  # as a supervisor restart does
    assert not pg.statistics().connected
    async with trio.open_nursery() as nursery:
        await nursery.start(pg.run)
        await pg.store([s(2, 2.0)])
        assert [x.value for x in await pg.samples("p", 0, 10)] == [1.0, 2.0]
        await pg.aclose()
    with pytest.raises(StoreError):  # closed for good after aclose
        await pg.store([s(3, 3.0)])


async def test_connection_churn_shows_in_statistics_and_logs_one_warning(
    schema: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = f"oc_{schema}"
    killer_done = trio.Event()

    async def kill_every_50_ms(seconds: float) -> None:
        try:
            with trio.move_on_after(seconds):
                while True:
                    await trio.to_thread.run_sync(
                        _admin,
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        f"WHERE application_name = '{app}'",
                    )
                    await trio.sleep(0.05)
        finally:
            killer_done.set()

    handed = 0
    with caplog.at_level(logging.DEBUG, logger="opencrate.components.history.postgresql"):
        async with (
            service(f"{DSN}?application_name={app}", schema, tmp_path) as pg,
            trio.open_nursery() as nursery,
        ):
            nursery.start_soon(kill_every_50_ms, 2.0)
            t = 0
            while not killer_done.is_set():
                await pg.store([s(t, float(t))])
                handed += 1
                t += 1
                await trio.sleep(0.01)
            stats = pg.statistics()
            assert stats.connection_losses >= 2
            assert stats.reconnects_last_minute >= 1
            assert stats.recent_error is not None
            assert stats.recent_error_ms is not None
            # stored counts what the server committed, never what only waits in the spool.
            assert stats.stored + stats.spooled == handed
            await wait_for(lambda: pg.statistics().spooled == 0 and pg.statistics().connected)
            stats = pg.statistics()
            assert stats.stored == handed
            assert stats.recent_error is not None  # over, but within the last minute
            count = await trio.to_thread.run_sync(
                _admin, f"SELECT count(*) FROM {schema}.opencrate_samples"
            )
            assert count == [(handed,)]
    records = [r for r in caplog.records if r.name.endswith("postgresql.service")]
    warnings = [r for r in records if r.levelno >= logging.WARNING]
    # One line for the whole outage (rate limited to a minute), never a traceback.
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert all(r.exc_info is None for r in records)
    assert sum(r.levelno == logging.DEBUG for r in records) >= 1


async def test_a_read_while_the_server_is_down_is_store_unavailable(
    schema: str, tmp_path: Path
) -> None:
    async with service(_dsn_to(1), schema, tmp_path) as pg:
        with pytest.raises(StoreUnavailable, match="server unavailable"):
            await pg.samples("p", 0, 100)
