"""``/api/events``: filters, cursor paging across tables, ack, enrich, bad input."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from quart.typing import TestClientProtocol as Client

from opencrate.api.params import encode_cursor
from opencrate.app import Services
from opencrate.components.audit.store import AuditStore
from opencrate.components.eventlog.records import NewEvent
from opencrate.components.eventlog.store import EventLogStore
from opencrate.components.eventlog.tables import TableKind
from tests.harness import TEST_ADMIN, TEST_AUDIT_NAME

T0 = 1_700_000_000_000
DAY = 86_400_000
#: A body sent as JSON whatever it holds (a bad one must reach the route's parser).
_JSON = {"Content-Type": "application/json"}


async def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, await response.get_data(as_text=True)
    error: dict[str, Any] = (await response.get_json())["error"]
    assert error["message"]
    return error


async def _seed(services: Services) -> list[int]:
    events = []
    for i in range(30):
        kind = [TableKind.INFO, TableKind.ALERT, TableKind.CHANGE][i % 3]
        events.append(
            (
                NewEvent(
                    context=f"100{i % 2}/p{i % 4}" if kind is TableKind.CHANGE else "hq",
                    name={0: "EntityCreated", 1: "DeviceDown", 2: "StatusChanged"}[i % 3],
                    created_ms=T0 + i // 2,  # pairs share a timestamp
                    expires_ms=T0 + DAY,
                    level=["info", "error", "notice"][i % 3],
                    data={"i": i},
                ),
                kind,
            )
        )
    return [r.id for r in await services.get(EventLogStore).record_many(events)]


async def test_pages_follow_next_cursor_across_tables(services: Services, client: Client) -> None:
    ids = await _seed(services)
    seen: list[dict[str, Any]] = []
    url = "/api/events?limit=7"
    pages = 0
    while True:
        body = await (await client.get(url)).get_json()
        seen.extend(body["items"])
        pages += 1
        if body["next_cursor"] is None:
            break
        url = f"/api/events?limit=7&cursor={body['next_cursor']}"
    keys = [(e["created_ms"], e["id"]) for e in seen]
    assert pages == 5
    assert sorted(e["id"] for e in seen) == sorted(ids)
    assert keys == sorted(keys, reverse=True)
    assert {e["table"] for e in seen} == {"info", "alert", "change"}
    first = seen[0]
    assert set(first) >= {
        "id",
        "context",
        "name",
        "level",
        "created_ms",
        "expires_ms",
        "permissions",
        "count",
        "acknowledgements",
        "enrichments",
        "format",
        "data",
    }


async def test_filters(services: Services, client: Client) -> None:
    await _seed(services)
    errors = await (await client.get("/api/events?level=error&limit=500")).get_json()
    assert {e["name"] for e in errors["items"]} == {"DeviceDown"}
    assert len(errors["items"]) == 10
    point = await (await client.get(f"/api/events?context={quote('1001/p1')}")).get_json()
    assert {e["context"] for e in point["items"]} == {"1001/p1"}
    assert len(point["items"]) == 3
    device = await (await client.get("/api/events?under=1001&limit=500")).get_json()
    assert {e["context"] for e in device["items"]} == {"1001/p1", "1001/p3"}
    window = await (
        await client.get(f"/api/events?since={T0 + 2}&until={T0 + 4}&order=asc&name=EntityCreated")
    ).get_json()
    assert [e["data"]["i"] for e in window["items"]] == [6]
    iso = await (await client.get("/api/events?since=2023-11-14T22:13:20.010Z")).get_json()
    expected = sorted((T0 + k for k in range(10, 15) for _ in range(2)), reverse=True)
    assert [e["created_ms"] for e in iso["items"]] == expected


async def test_ack_and_enrich_are_stored_returned_and_audited(
    services: Services, client: Client
) -> None:
    ids = await _seed(services)
    acked = await client.post(f"/api/events/{ids[1]}/ack", json={"comment": "seen it"})
    assert acked.status_code == 200
    body = await acked.get_json()
    assert [(a["user"], a["comment"]) for a in body["acknowledgements"]] == [
        (TEST_ADMIN, "seen it")
    ]
    no_body = await client.post(f"/api/events/{ids[1]}/ack")
    assert len((await no_body.get_json())["acknowledgements"]) == 2
    enriched = await client.post(
        f"/api/events/{ids[2]}/enrich", json={"name": "ticket", "value": {"no": 42}}
    )
    assert (await enriched.get_json())["enrichments"][0]["value"] == {"no": 42}
    got = await (await client.get(f"/api/events/{ids[1]}")).get_json()
    assert got["acknowledgements"][0]["comment"] == "seen it"
    audit = await services.get(AuditStore).tail(10)
    assert [e.action for e in audit] == ["event.enrich", "event.ack", "event.ack"]


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/events?level=loud", "level"),
        ("/api/events?limit=0", "limit"),
        ("/api/events?limit=501", "limit"),
        ("/api/events?limit=x", "limit"),
        ("/api/events?since=yesterdayish", "since"),
        ("/api/events?since=2000&until=1000", "since"),
        ("/api/events?context=a//b", "context"),
        ("/api/events?context=", "context"),
        ("/api/events?under=x//y", "under"),
        ("/api/events?order=sideways", "order"),
        ("/api/events?cursor=%%%", "cursor"),
        ("/api/events/abc", "id"),
        ("/api/events/0", "id"),
        # Unicode digits and ids beyond SQLite's 64-bit integers were 500s.
        ("/api/events/%C2%B2", "id"),
        (f"/api/events?since={1 << 70}", "since"),
        (f"/api/events?until=-{1 << 70}", "until"),
        (f"/api/events/{(1 << 70) | 1}", "id"),
        ("/api/events?cursor=" + encode_cursor("events", "1.\u00b2"), "cursor"),
        ("/api/events?cursor=" + encode_cursor("events", f"{1 << 70}.{(1 << 70) | 1}"), "cursor"),
    ],
)
async def test_bad_queries_are_400_naming_the_parameter(
    services: Services, client: Client, url: str, field: str
) -> None:
    error = await _error(await client.get(url), 400)
    assert error["detail"]["field"] == field


async def test_cursor_from_another_listing_is_refused(services: Services, client: Client) -> None:
    await services.get(AuditStore).record(user="a", action="x.y", target="t")
    await services.get(AuditStore).record(user="a", action="x.y", target="t")
    audit = await (await client.get("/api/audit?limit=1")).get_json()
    await _error(await client.get(f"/api/events?cursor={audit['next_cursor']}"), 400)


async def test_bad_writes_are_4xx_and_store_nothing(services: Services, client: Client) -> None:
    ids = await _seed(services)
    before = await (await client.get(f"/api/events/{ids[0]}")).get_json()
    missing = ids[0] + (1 << 16) * 1000
    await _error(await client.post(f"/api/events/{missing}/ack", json={}), 404)
    await _error(await client.post("/api/events/1x/ack", json={}), 400)
    await _error(await client.post(f"/api/events/{(1 << 70) | 1}/ack", json={}), 400)
    await _error(await client.post(f"/api/events/{ids[0]}/ack", json={"comment": 5}), 400)
    await _error(await client.post(f"/api/events/{ids[0]}/ack", json={"user": "eve"}), 400)
    not_json = await client.post(f"/api/events/{ids[0]}/ack", data="not json", headers=_JSON)
    await _error(not_json, 400)
    await _error(await client.post(f"/api/events/{ids[0]}/enrich", json={"name": "x"}), 400)
    await _error(
        await client.post(f"/api/events/{ids[0]}/enrich", json={"name": "", "value": 1}), 400
    )
    await _error(await client.get(f"/api/events/{missing}"), 404)
    after = await (await client.get(f"/api/events/{ids[0]}")).get_json()
    assert after == before
    assert await services.get(AuditStore).count() == 0
    assert await services.get(EventLogStore).count() == 30


async def _seed_expiring(services: Services, *, expired: int, alive: int) -> None:
    """``expired`` events that expired an hour ago (alert table), ``alive`` that expire in one."""
    now = services.clock.now_ms()
    hour = 3_600_000
    events = [
        (
            NewEvent(
                context="1001/p" if gone else "hq",
                name="DeviceDown" if gone else "EntityCreated",
                created_ms=now - 2 * hour + i,
                expires_ms=now - hour if gone else now + hour,
                level="error" if gone else "info",
                data={"i": i},
            ),
            TableKind.ALERT if gone else TableKind.INFO,
        )
        for i in range(expired + alive)
        for gone in [i < expired]
    ]
    await services.get(EventLogStore).record_many(events)


async def test_purge_dry_run_counts_and_deletes_nothing(services: Services, client: Client) -> None:
    await _seed_expiring(services, expired=4, alive=3)
    response = await client.post("/api/events/purge", json={"dry_run": True})
    assert response.status_code == 200
    body = await response.get_json()
    assert body["dry_run"] is True
    assert (body["expired"], body["deleted"], body["batches"]) == (4, 0, 0)
    assert body["tables"]["event_alert"] == 4
    assert body["tables"]["event_info"] == 0
    assert await services.get(EventLogStore).count() == 7
    assert await services.get(AuditStore).count() == 0  # counting is not a write


async def test_purge_deletes_expired_in_batches_and_is_audited(
    services: Services, client: Client
) -> None:
    await _seed_expiring(services, expired=5, alive=3)
    response = await client.post("/api/events/purge", json={"dry_run": False, "batch": 2})
    assert response.status_code == 200
    body = await response.get_json()
    # 2 + 2 + 1: the short third batch ends the loop.
    assert (body["expired"], body["deleted"], body["batches"]) == (5, 5, 3)
    assert await services.get(EventLogStore).count() == 3
    left = await (await client.get("/api/events?limit=500")).get_json()
    assert {e["name"] for e in left["items"]} == {"EntityCreated"}
    [entry] = await services.get(AuditStore).tail(10)
    assert (entry.user, entry.action, entry.target) == (TEST_AUDIT_NAME, "event.purge", "events")
    assert entry.detail == {"deleted": 5, "batches": 3, "batch": 2}
    # An empty body is a real purge with the configured batch; nothing is left to delete.
    again = await (await client.post("/api/events/purge")).get_json()
    assert (again["expired"], again["deleted"], again["batches"]) == (0, 0, 1)
    assert await services.get(EventLogStore).count() == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"dry_run": "yes"}, "dry_run"),
        ({"dry_run": 0}, "dry_run"),
        ({"batch": 0}, "batch"),
        ({"batch": -5}, "batch"),
        ({"batch": True}, "batch"),
        ({"batch": "10"}, "batch"),
        ({"batch": 1.5}, "batch"),
        ({"batch": 100_001}, "batch"),
        ({"force": True}, "force"),
    ],
)
async def test_bad_purge_requests_are_400_naming_the_field_and_delete_nothing(
    services: Services, client: Client, body: dict[str, Any], field: str
) -> None:
    await _seed_expiring(services, expired=4, alive=1)
    error = await _error(await client.post("/api/events/purge", json=body), 400)
    assert error["detail"]["field"] == field
    await _error(await client.post("/api/events/purge", data="[1, 2]", headers=_JSON), 400)
    assert await services.get(EventLogStore).count() == 5
    assert await services.get(AuditStore).count() == 0
