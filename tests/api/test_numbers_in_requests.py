"""Integers, times and durations in URLs and bodies go through ``opencrate.validation``.

Each of these answered 500 before: ``int()`` of more than 4,300 digits is a bare
ValueError, and a duration like ``999...9s`` overflowed ``round(float)``.
"""

from __future__ import annotations

from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from opencrate.app import Services
from tests.harness import build_tree

_LONG = "1" * 5000
_HUGE_DURATION = "9" * 400 + "s"


@pytest.mark.parametrize(
    ("url", "field"),
    [
        (f"/api/alarms/{_LONG}", "id"),
        (f"/api/events/{_LONG}", "id"),
        (f"/api/history/1001/sat?limit={_LONG}", "limit"),
        (f"/api/history/1001/sat?start={_LONG}", "start"),
        (f"/api/history/1001/sat?start={_HUGE_DURATION}", "start"),
        (f"/api/history/1001/sat?cursor={_LONG}", "cursor"),
        (f"/api/history/1001/sat/average?since={_HUGE_DURATION}", "since"),
        (f"/api/events?since={_HUGE_DURATION}", "since"),
        (f"/api/events?until={_LONG}", "until"),
        (f"/api/nodes?limit={_LONG}", "limit"),
        ("/api/nodes?limit=%D9%A3", "limit"),  # "٣": int() takes it, we do not
    ],
)
async def test_long_or_unicode_numbers_in_queries_are_400(
    services: Services, client: Client, url: str, field: str
) -> None:
    await build_tree(services)
    response = await client.get(url)
    assert response.status_code == 400
    error = (await response.get_json())["error"]
    assert error["code"] == "invalid_input"
    assert error["detail"]["field"] == field
    assert len(error["message"]) < 300  # the 5,000 digits are not echoed back


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("POST", "/api/alarms/1/shelve", {"until": _HUGE_DURATION}),
        ("PUT", "/api/points/1001/sat/override", {"value": 1, "expires": _HUGE_DURATION}),
        ("PUT", "/api/history/1001/sat", {"value": 1, "time": _LONG}),
    ],
)
async def test_long_times_in_bodies_are_400(
    services: Services, client: Client, method: str, url: str, body: dict[str, Any]
) -> None:
    await build_tree(services)
    response = await client.open(url, method=method, json=body)
    assert response.status_code == 400
    assert (await response.get_json())["error"]["code"] == "invalid_input"
