"""``retention`` through GET/PUT ``/api/persistence/{service}``: round trip, keep, remove."""

from __future__ import annotations

from typing import Any

from quart.typing import TestClientProtocol as Client

from opencrate.api.access import PERSIST_TEXT
from opencrate.app import Services
from opencrate.components.history.config.model import RetentionConfig, RetentionOverride
from opencrate.components.history.setup import Persistence
from opencrate.components.history.sqlite.retention import DAY_MS

RETENTION = {
    "raw": "30d",
    "rollups": "forever",
    "interval": "1h",
    "batch_rows": 2000,
    "rules": [{"points": ["meter-1*"], "raw": "2y"}],
}


async def _json(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, await response.get_data(as_text=True)
    return await response.get_json()


async def test_retention_round_trips_and_follows_the_put_rules(
    services: Services, client: Client
) -> None:
    url = "/api/persistence/sqlite"
    config = await _json(await client.get(url))
    assert "retention" not in config

    put = await _json(await client.put(url, json={**config, "retention": RETENTION}))
    assert put["retention"] == RETENTION
    assert (await _json(await client.get(url)))["retention"] == RETENTION
    model = services.get(Persistence).config.value.get("sqlite")
    assert model is not None
    assert model.retention == RetentionConfig(
        keep={"raw": 30 * DAY_MS, "rollups": None},
        rules=(RetentionOverride(points=("meter-1*",), keep={"raw": 2 * 365 * DAY_MS}),),
    )

    # .persist text has no retention, and a JSON body without it: both keep it.
    text = await (await client.get(url + "?format=persist")).get_data(as_text=True)
    assert "// retention is configured" in text
    headers = {"Content-Type": PERSIST_TEXT}
    assert (await _json(await client.put(url, data=text, headers=headers)))["retention"] == (
        RETENTION
    )
    body = {"items": [{"points": ["*"], "strategies": ["everyChange"]}]}
    assert (await _json(await client.put(url, json=body)))["retention"] == RETENTION

    # A bad value is a 400 naming the key; the configuration in force is unchanged.
    version = services.get(Persistence).config.version
    bad = {**body, "retention": {"raw": "30d", "rules": [{"points": ["meter*"], "raw": "soon"}]}}
    error = (await _json(await client.put(url, json=bad), 400))["error"]
    assert error["code"] == "config_error"
    assert "services.sqlite.retention.rules[0]: raw: not a keep time: 'soon'" in error["message"]
    assert services.get(Persistence).config.version == version
    assert (await _json(await client.get(url)))["retention"] == RETENTION

    # null removes it (from then on everything is kept).
    removed = await _json(await client.put(url, json={**body, "retention": None}))
    assert "retention" not in removed
    health = await _json(await client.get("/api/persistence/health"))
    assert health["services"]["sqlite"]["retention"]["active"] is False
