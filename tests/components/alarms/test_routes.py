"""Alarm routes: listing with filters and paging, history, ack, shelve, flags, bad input."""

from __future__ import annotations

import trio
import trio.testing
from quart.typing import TestClientProtocol as Client

from opencrate.app import Services
from opencrate.components.alarms.flags import AlarmFlags
from opencrate.components.alarms.store import AlarmStore
from opencrate.components.audit.store import AuditStore
from tests.harness import TEST_ADMIN

P1 = "1001/sat"
P2 = "2001/zat"


async def test_list_filters_and_pages_open_alarms(client: Client, services: Services) -> None:
    minor = await services.get(AlarmStore).raise_alarm(P1, "high_limit", "minor", "warm")
    critical = await services.get(AlarmStore).raise_alarm(P2, "high_limit", "critical", "very hot")
    info = await services.get(AlarmStore).raise_alarm(P2, "low_limit", "info", "cool")
    response = await client.get("/api/alarms")
    assert response.status_code == 200
    body = await response.get_json()
    assert [a["id"] for a in body["items"]] == [critical.id, minor.id, info.id]
    assert body["items"][0]["state"] == "active-unacked"
    assert body["items"][0]["type"] == "high_limit"
    severe = await (await client.get("/api/alarms?severity=minor")).get_json()
    assert [a["id"] for a in severe["items"]] == [critical.id, minor.id]
    mine = await (await client.get(f"/api/alarms?node={P1}")).get_json()
    assert [a["id"] for a in mine["items"]] == [minor.id]
    first = await (await client.get("/api/alarms?limit=2")).get_json()
    second = await (
        await client.get(f"/api/alarms?limit=2&cursor={first['next_cursor']}")
    ).get_json()
    assert [a["id"] for a in first["items"] + second["items"]] == [critical.id, minor.id, info.id]
    assert second["next_cursor"] is None


async def test_ack_then_clear_moves_the_alarm_to_history_and_is_audited(
    client: Client, services: Services
) -> None:
    alarm = await services.get(AlarmStore).raise_alarm(P1, "high_limit", "minor", "warm")
    response = await client.post(f"/api/alarms/{alarm.id}/ack", json={"comment": "on it"})
    assert response.status_code == 200
    acked = await response.get_json()
    assert acked["state"] == "active-acked"
    assert acked["acked_by"] == TEST_ADMIN
    again = await client.post(f"/api/alarms/{alarm.id}/ack")
    assert again.status_code == 409
    await services.get(AlarmStore).clear(alarm.id)
    history = await (await client.get("/api/alarms/history")).get_json()
    assert [a["id"] for a in history["items"]] == [alarm.id]
    assert history["items"][0]["state"] == "closed"
    one = await (await client.get(f"/api/alarms/{alarm.id}")).get_json()
    assert one["ack_comment"] == "on it"
    entries = await services.get(AuditStore).tail(limit=10)
    assert [e.action for e in entries] == ["alarm.ack"]


async def test_shelve_hides_until_the_time_passes(
    client: Client, services: Services, autojump_clock: trio.testing.MockClock
) -> None:
    alarm = await services.get(AlarmStore).raise_alarm(P1, "high_limit", "minor", "warm")
    response = await client.post(f"/api/alarms/{alarm.id}/shelve", json={"until": "1h"})
    assert response.status_code == 200
    assert (await response.get_json())["shelved_by"] == TEST_ADMIN
    assert (await (await client.get("/api/alarms")).get_json())["items"] == []
    shown = await (await client.get("/api/alarms?shelved=true")).get_json()
    assert [a["id"] for a in shown["items"]] == [alarm.id]
    await trio.sleep(3601)
    assert len((await (await client.get("/api/alarms")).get_json())["items"]) == 1


async def test_flags_route_shows_points_with_open_alarms(
    client: Client, services: Services
) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(services.get(AlarmFlags).run)
        await services.get(AlarmStore).raise_alarm(P1, "high_limit", "minor", "warm")
        await trio.testing.wait_all_tasks_blocked()
        body = await (await client.get("/api/alarms/flags")).get_json()
        nursery.cancel_scope.cancel()
    assert body == {"items": {P1: {"in_alarm": True, "unacked": True}}}


async def test_bad_requests_get_4xx_and_change_nothing(client: Client, services: Services) -> None:
    alarm = await services.get(AlarmStore).raise_alarm(P1, "high_limit", "minor", "warm")
    cases = [
        (await client.get("/api/alarms?severity=dire"), 400, "severity"),
        (await client.get("/api/alarms?state=sleeping"), 400, "state"),
        (await client.get("/api/alarms?cursor=nonsense"), 400, "cursor"),
        (await client.get("/api/alarms/abc"), 400, "alarm id"),
        # Unicode digits and ids beyond SQLite's integers were 500s.
        (await client.get("/api/alarms/%C2%B2"), 400, "alarm id"),
        (await client.get(f"/api/alarms/{1 << 70}"), 400, "alarm id"),
        (await client.post(f"/api/alarms/{1 << 70}/ack"), 400, "alarm id"),
        (await client.get("/api/alarms/999"), 404, "999"),
        (await client.post("/api/alarms/999/ack"), 404, "999"),
        (await client.post(f"/api/alarms/{alarm.id}/ack", json={"note": "x"}), 400, "note"),
        (await client.post(f"/api/alarms/{alarm.id}/shelve", json={}), 400, "until"),
        (await client.post(f"/api/alarms/{alarm.id}/shelve", json={"until": "soon"}), 400, "until"),
        (await client.post(f"/api/alarms/{alarm.id}/shelve", json={"until": 5}), 400, "future"),
        (
            await client.post(f"/api/alarms/{alarm.id}/shelve", json={"until": 1 << 70}),
            400,
            "until",
        ),
    ]
    for response, status, words in cases:
        assert response.status_code == status, (status, words)
        error = (await response.get_json())["error"]
        assert words in error["message"], error
    assert services.get(AlarmStore).active() == [alarm]
    assert await services.get(AuditStore).tail(limit=10) == []
