"""DSN passwords through ``/api/persistence``: masked when shown, never overwritten by the mask.

The services are configured but not run (the routes read the configuration;
the postgresql services need no server for that).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from opencrate.app import Services
from opencrate.clock import TrioClock
from opencrate.components.history.config.redact import MASK
from opencrate.components.history.setup import Persistence
from tests.harness import running_services

URL_DSN = "postgresql://opencrate:s3cret@127.0.0.1:1/history"
KV_DSN = "host=127.0.0.1 port=1 dbname=history user=opencrate password='pa ss'"
ITEMS = [{"points": ["*"], "strategies": ["everyChange"]}]
SECTION = {
    "default": "central",
    "services": {
        "central": {"kind": "postgresql", "dsn": URL_DSN, "items": ITEMS},
        "archive": {"kind": "postgresql", "dsn": KV_DSN, "schema": "site_a", "items": ITEMS},
    },
}


@pytest.fixture
async def services(tmp_path: Path, clock: TrioClock) -> AsyncIterator[Services]:
    async with running_services(tmp_path / "data", clock, sections={"persistence": SECTION}) as svc:
        yield svc


async def _json(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, await response.get_data(as_text=True)
    return await response.get_json()


async def test_every_rendering_masks_the_password(client: Client) -> None:
    central = await _json(await client.get("/api/persistence/central"))
    assert central["dsn"] == f"postgresql://opencrate:{MASK}@127.0.0.1:1/history"
    archive = await _json(await client.get("/api/persistence/archive"))
    assert archive["dsn"] == f"host=127.0.0.1 port=1 dbname=history user=opencrate password={MASK}"
    for url in ("/api/persistence", "/api/persistence/health", "/api/persistence/central"):
        text = await (await client.get(url)).get_data(as_text=True)
        assert "s3cret" not in text, url
        assert "pa ss" not in text, url


async def test_put_with_the_masked_dsn_keeps_the_real_password(
    services: Services, client: Client
) -> None:
    for name, real in (("central", URL_DSN), ("archive", KV_DSN)):
        url = f"/api/persistence/{name}"
        shown = await _json(await client.get(url))
        body = {**shown, "items": [{"points": ["ahu*"], "strategies": ["everyUpdate"]}]}
        put = await _json(await client.put(url, json=body))
        assert MASK in put["dsn"]
        model = services.get(Persistence).config.value.get(name)
        assert model is not None
        assert model.options["dsn"] == real  # not the mask
        assert [str(s) for s in model.items[0].selectors] == ["ahu*"]
        # The saved file is read back at the next start: it has the real DSN.
        saved = json.loads((services.get(Persistence).managed_dir / f"{name}.json").read_text())
        assert saved["dsn"] == real


async def test_a_different_dsn_is_still_refused_and_nothing_changes(
    services: Services, client: Client
) -> None:
    url = "/api/persistence/central"
    shown = await _json(await client.get(url))
    version = services.get(Persistence).config.version
    for dsn in (
        "postgresql://opencrate:other@127.0.0.1:1/history",  # a new password
        f"postgresql://opencrate:{MASK}@10.0.0.9:1/history",  # the mask, another host
    ):
        error = (await _json(await client.put(url, json={**shown, "dsn": dsn}), 409))["error"]
        assert "options cannot change" in error["message"]
    assert services.get(Persistence).config.version == version
    model = services.get(Persistence).config.value.get("central")
    assert model is not None
    assert model.options["dsn"] == URL_DSN
