"""``GET /api/health`` while the PostgreSQL history server's connection keeps dropping.

Before, a connection killed every 50 ms never showed (``ok``, ``connected:
true``, ``server_error: null``). Now the reconnects and the recent error of
the last minute make health ``degraded``. Real server (``OPENCRATE_PG_DSN``).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import trio

from opencrate.api.app import create_app
from opencrate.clock import TrioClock
from opencrate.components.history.postgresql.service import PostgresService
from opencrate.components.history.service import Sample
from opencrate.components.history.setup import Persistence
from opencrate.components.users.roles import Role
from tests.components.history.test_postgresql import DSN, HOST, PORT, _admin, wait_for
from tests.conftest import require_service
from tests.harness import client_with_token, role_tokens, running_services

pytestmark = pytest.mark.postgres


async def test_health_is_degraded_while_the_history_server_connection_churns(
    tmp_path: Path, clock: TrioClock
) -> None:
    require_service("PostgreSQL", HOST, PORT)
    schema = f"oc_test_{uuid.uuid4().hex[:10]}"
    app_name = f"oc_{schema}"
    section = {
        "services": {
            "central": {
                "kind": "postgresql",
                "dsn": f"{DSN}?application_name={app_name}",
                "schema": schema,
            }
        }
    }
    try:
        async with running_services(
            tmp_path / "data", clock, sections={"persistence": section}
        ) as svc:
            pg = svc.get(Persistence).services["central"]
            assert isinstance(pg, PostgresService)
            pg.retry_initial_s = 0.02
            client = client_with_token(create_app(svc), (await role_tokens(svc))[Role.ADMIN])
            async with trio.open_nursery() as nursery:
                await nursery.start(pg.run)
                await pg.store([Sample(point_id="p", ts_ms=1, value=1.0)])
                body = await (await client.get("/api/health")).get_json()
                assert body["persistence"]["status"] == "ok"
                for t in range(2, 12):  # kill its backend, then store: lost, spooled, replayed
                    await trio.to_thread.run_sync(
                        _admin,
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        f"WHERE application_name = '{app_name}'",
                    )
                    await pg.store([Sample(point_id="p", ts_ms=t, value=float(t))])
                    await wait_for(
                        lambda: pg.statistics().connected and not pg.statistics().spooled
                    )
                body = await (await client.get("/api/health")).get_json()
                await pg.aclose()
                nursery.cancel_scope.cancel()
        assert body["status"] == "degraded"
        central = body["persistence"]["services"]["central"]
        assert central["connected"] is True
        assert central["server_error"] is None  # connected now ...
        assert central["recent_error"] is not None  # ... but not a minute ago
        assert central["reconnects_last_minute"] >= 5
        assert central["connection_losses"] >= 5
        assert central["stored"] == 11  # committed on the server, none only spooled
        assert central["spooled"] == 0
    finally:
        _admin(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
