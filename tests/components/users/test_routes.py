"""Logins, sessions, tokens and users through the real app: what each route lets through."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import argon2
import pytest
import trio
from quart.typing import TestClientProtocol as Client
from quart_trio import QuartTrio

from opencrate.api.authentication import SESSION_COOKIE
from opencrate.app import Services
from opencrate.components.audit.store import AuditStore
from opencrate.components.overrides.store import OverrideStore
from opencrate.components.users.auth import LOGIN_FAILED, Authenticator
from opencrate.components.users.roles import Role
from opencrate.components.users.store import UserStore
from tests.harness import TEST_PASSWORD, build_tree, client_with_token


def _login_body(user: str = "operator", password: str = TEST_PASSWORD) -> dict[str, str]:
    return {"user": user, "password": password}


async def _json(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, await response.get_data(as_text=True)
    return await response.get_json()


async def test_login_sets_an_httponly_strict_cookie_and_the_session_reads_and_writes_with_csrf(
    services: Services, app: QuartTrio, tokens: dict[Role, str]
) -> None:
    await build_tree(services)
    browser = client_with_token(app, None)
    response = await browser.post("/api/login", json=_login_body())
    body = await _json(response)
    assert (body["user"], body["role"]) == ("operator", "operator")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Path=/" in cookie
    assert "Secure" not in cookie  # plain http here; set when served over TLS

    me = await _json(await browser.get("/api/me"))
    assert me == {
        "user": "operator",
        "role": "operator",
        "token": None,
        "csrf_token": body["csrf_token"],
        "anonymous": False,
    }
    override = {"value": 19.5}
    missing = await browser.put("/api/points/1001/sat/override", json=override)
    wrong = await browser.put(
        "/api/points/1001/sat/override", json=override, headers={"X-CSRF-Token": "guess"}
    )
    assert (missing.status_code, wrong.status_code) == (403, 403)
    assert "X-CSRF-Token" in (await missing.get_json())["error"]["message"]
    assert services.get(OverrideStore).active() == []
    right = await browser.put(
        "/api/points/1001/sat/override", json=override, headers={"X-CSRF-Token": body["csrf_token"]}
    )
    assert (await _json(right))["user"] == "operator"
    entries = await services.get(AuditStore).tail(10)
    assert [(e.user, e.action) for e in reversed(entries)] == [
        ("operator", "user.login"),
        ("operator", "override.set"),
    ]

    out = await browser.post("/api/logout", headers={"X-CSRF-Token": body["csrf_token"]})
    assert out.status_code == 204
    assert (await browser.get("/api/me")).status_code == 401


async def test_wrong_password_unknown_user_and_disabled_user_get_the_very_same_answer(
    services: Services, app: QuartTrio, client: Client, tokens: dict[Role, str]
) -> None:
    await _json(await client.patch("/api/users/viewer", json={"disabled": True}))
    answers = []
    for attempt in (
        _login_body("operator", "not the password"),
        _login_body("nobody-at-all", "not the password"),
        _login_body("viewer", TEST_PASSWORD),  # right password, disabled user
    ):
        response = await client_with_token(app, None).post("/api/login", json=attempt)
        answers.append((response.status_code, await response.get_data(as_text=True)))
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 401
    assert LOGIN_FAILED in answers[0][1]
    assert (
        "Set-Cookie"
        not in (
            await client_with_token(app, None).post("/api/login", json=answers and _login_body("x"))
        ).headers
    )


async def test_a_disabled_user_is_refused_at_once_and_works_again_when_enabled(
    app: QuartTrio, client: Client, tokens: dict[Role, str]
) -> None:
    viewer = client_with_token(app, tokens[Role.VIEWER])
    assert (await viewer.get("/api/nodes")).status_code == 200  # now cached
    await _json(await client.patch("/api/users/viewer", json={"disabled": True}))
    assert (await viewer.get("/api/nodes")).status_code == 401
    await _json(await client.patch("/api/users/viewer", json={"disabled": False}))
    assert (await viewer.get("/api/nodes")).status_code == 200


async def test_revoking_a_token_takes_effect_on_the_next_request(
    app: QuartTrio, client: Client
) -> None:
    made = await _json(
        await client.post("/api/users/operator/tokens", json={"name": "backup-script"}), 201
    )
    assert made["secret"].startswith("oc_")
    assert made["role"] == "operator"
    script = client_with_token(app, made["secret"])
    me = await _json(await script.get("/api/me"))
    assert me["token"] == {"id": made["id"], "name": "backup-script"}
    listed = await _json(await client.get("/api/users/operator/tokens"))
    assert [t["name"] for t in listed["items"]] == ["tests", "backup-script"]
    assert all("secret" not in t for t in listed["items"])

    revoked = await _json(await script.delete(f"/api/tokens/{made['id']}"))  # its own owner
    assert revoked["revoked_ms"] is not None
    assert (await script.get("/api/me")).status_code == 401
    again = await client.delete(f"/api/tokens/{made['id']}")
    assert again.status_code == 409


async def test_the_audit_log_names_the_token_a_write_came_with(
    services: Services, app: QuartTrio, client: Client
) -> None:
    await build_tree(services)
    made = await _json(
        await client.post("/api/users/operator/tokens", json={"name": "backup-script"}), 201
    )
    script = client_with_token(app, made["secret"])
    await _json(await script.put("/api/points/1001/sat/override", json={"value": 17.0}))
    (entry,) = await services.get(AuditStore).tail(1, action="override.set")
    assert entry.user == "operator (token backup-script)"


async def test_an_expired_token_is_refused(
    app: QuartTrio, client: Client, autojump_clock: trio.testing.MockClock
) -> None:
    made = await _json(
        await client.post("/api/users/viewer/tokens", json={"name": "brief", "expires": "1m"}),
        201,
    )
    brief = client_with_token(app, made["secret"])
    assert (await brief.get("/api/me")).status_code == 200
    autojump_clock.jump(61)
    assert (await brief.get("/api/me")).status_code == 401


async def test_a_token_cannot_have_a_role_above_its_owner_and_follows_a_demotion(
    app: QuartTrio, client: Client
) -> None:
    too_high = await client.post(
        "/api/users/viewer/tokens", json={"name": "sneaky", "role": "admin"}
    )
    assert too_high.status_code == 400
    assert "at most the role viewer" in (await too_high.get_json())["error"]["message"]
    made = await _json(await client.post("/api/users/operator/tokens", json={"name": "op"}), 201)
    await _json(await client.patch("/api/users/operator", json={"role": "viewer"}))
    me = await _json(await client_with_token(app, made["secret"]).get("/api/me"))
    assert me["role"] == "viewer"


async def test_login_is_rate_limited_per_user_and_recovers_after_the_window(
    app: QuartTrio, tokens: dict[Role, str], autojump_clock: trio.testing.MockClock
) -> None:
    browser = client_with_token(app, None)
    for _ in range(5):
        failed = await browser.post("/api/login", json=_login_body(password="wrong password"))
        assert failed.status_code == 401
    limited = await browser.post("/api/login", json=_login_body())  # even the right password
    assert limited.status_code == 429
    assert 0 < int(limited.headers["Retry-After"]) <= 15 * 60
    assert (await limited.get_json())["error"]["code"] == "rate_limited"
    # Another user from the same address is not limited yet (that takes 20).
    assert (await browser.post("/api/login", json=_login_body("viewer"))).status_code == 200
    autojump_clock.jump(15 * 60 + 1)
    assert (await browser.post("/api/login", json=_login_body())).status_code == 200


async def test_login_is_rate_limited_per_address(app: QuartTrio, tokens: dict[Role, str]) -> None:
    browser = client_with_token(app, None)
    for i in range(20):
        wrong = _login_body(f"guess-{i}", "wrong password")
        assert (await browser.post("/api/login", json=wrong)).status_code == 401
    assert (await browser.post("/api/login", json=_login_body())).status_code == 429


async def test_a_login_rehashes_a_password_hashed_with_other_parameters(
    services: Services, app: QuartTrio, tokens: dict[Role, str]
) -> None:
    auth = services.get(Authenticator)
    store = services.get(UserStore)
    old = argon2.PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    await store.set_password_hash("operator", old.hash(TEST_PASSWORD))
    before = await store.credentials("operator")
    assert before is not None
    assert auth.passwords.needs_rehash(before.password_hash)
    response = await client_with_token(app, None).post("/api/login", json=_login_body())
    assert response.status_code == 200
    after = await store.credentials("operator")
    assert after is not None
    assert after.password_hash != before.password_hash
    assert not auth.passwords.needs_rehash(after.password_hash)
    # The new hash still takes the same password.
    again = await client_with_token(app, None).post("/api/login", json=_login_body())
    assert again.status_code == 200


async def test_admins_add_users_with_checked_passwords(client: Client) -> None:
    short = await client.post("/api/users", json={"name": "bob", "password": "short"})
    assert short.status_code == 400
    assert "at least 10 characters" in (await short.get_json())["error"]["message"]
    same = await client.post(
        "/api/users", json={"name": "bobby-tables", "password": "bobby-tables"}
    )
    assert "must not be the user name" in (await same.get_json())["error"]["message"]
    bad_role = await client.post(
        "/api/users", json={"name": "bob", "password": TEST_PASSWORD, "role": "root"}
    )
    assert (await bad_role.get_json())["error"]["detail"]["field"] == "role"
    added = await _json(
        await client.post(
            "/api/users", json={"name": "bob", "password": TEST_PASSWORD, "role": "operator"}
        ),
        201,
    )
    assert (added["name"], added["role"], added["disabled"]) == ("bob", "operator", False)
    assert "password_hash" not in added
    taken = await client.post("/api/users", json={"name": "bob", "password": TEST_PASSWORD})
    assert taken.status_code == 409
    names = [u["name"] for u in (await _json(await client.get("/api/users")))["items"]]
    assert names == ["admin", "bob", "operator", "viewer"]
    assert (await client.get("/api/users/nobody")).status_code == 404


async def test_a_user_changes_their_own_password_only_with_the_current_one(
    app: QuartTrio, tokens: dict[Role, str]
) -> None:
    viewer = client_with_token(app, tokens[Role.VIEWER])
    new = "a much better passphrase"
    wrong = await viewer.put(
        "/api/users/viewer/password", json={"password": new, "current_password": "nope"}
    )
    assert wrong.status_code == 403
    others = await viewer.put("/api/users/operator/password", json={"password": new})
    assert others.status_code == 403
    done = await viewer.put(
        "/api/users/viewer/password", json={"password": new, "current_password": TEST_PASSWORD}
    )
    assert done.status_code == 204
    browser = client_with_token(app, None)
    old_login = await browser.post("/api/login", json=_login_body("viewer"))
    assert old_login.status_code == 401
    assert (await browser.post("/api/login", json=_login_body("viewer", new))).status_code == 200


async def test_a_password_change_ends_the_users_other_sessions(
    app: QuartTrio, client: Client, tokens: dict[Role, str]
) -> None:
    browser = client_with_token(app, None)
    await _json(await browser.post("/api/login", json=_login_body()))
    assert (await browser.get("/api/me")).status_code == 200
    set_by_admin = await client.put(
        "/api/users/operator/password", json={"password": "another good passphrase"}
    )
    assert set_by_admin.status_code == 204
    assert (await browser.get("/api/me")).status_code == 401


async def test_an_admin_cannot_lock_themself_out(client: Client) -> None:
    response = await client.patch("/api/users/admin", json={"disabled": True})
    assert response.status_code == 409
    demoted = await client.patch("/api/users/admin", json={"role": "viewer"})
    assert demoted.status_code == 409


async def test_a_non_admin_cannot_see_or_revoke_another_users_token(
    app: QuartTrio, client: Client, tokens: dict[Role, str]
) -> None:
    made = await _json(await client.post("/api/users/operator/tokens", json={"name": "op"}), 201)
    viewer = client_with_token(app, tokens[Role.VIEWER])
    assert (await viewer.delete(f"/api/tokens/{made['id']}")).status_code == 404
    assert (await viewer.post("/api/users/operator/tokens", json={"name": "x"})).status_code == 403
    assert (await client_with_token(app, made["secret"]).get("/api/me")).status_code == 200


@pytest.fixture
async def anonymous_services(tmp_path: Any, clock: Any) -> Any:
    from tests.harness import running_services

    async with running_services(tmp_path / "anon", clock, users={"anonymous_viewer": True}) as svc:
        yield svc


async def test_the_anonymous_viewer_may_read_but_not_write(anonymous_services: Services) -> None:
    from opencrate.api.app import create_app

    nobody = client_with_token(create_app(anonymous_services), None)
    me = await _json(await nobody.get("/api/me"))
    assert (me["user"], me["role"], me["anonymous"]) == ("anonymous", "viewer", True)
    assert (await nobody.get("/api/nodes")).status_code == 200
    write = await nobody.post("/api/nodes", json={"id": "x", "node_type": "site", "dis": "X"})
    assert write.status_code == 403


async def test_operators_acknowledge_as_themselves_whatever_the_body_says(
    services: Services, client_as: Callable[[Role | None], Client]
) -> None:
    from opencrate.components.alarms.store import AlarmStore

    await build_tree(services)
    alarm = await services.get(AlarmStore).raise_alarm("2001/zat", "high", "major", "warm")
    operator = client_as(Role.OPERATOR)
    forged = await operator.post(f"/api/alarms/{alarm.id}/ack", json={"user": "somebody"})
    assert forged.status_code == 400  # no such field: the user is not the body's to say
    acked = await _json(await operator.post(f"/api/alarms/{alarm.id}/ack", json={}))
    assert acked["acked_by"] == "operator"


async def test_an_idle_session_ends_and_ended_sessions_are_deleted_at_the_next_login(
    services: Services,
    app: QuartTrio,
    tokens: dict[Role, str],
    autojump_clock: trio.testing.MockClock,
) -> None:
    browser = client_with_token(app, None)
    await _json(await browser.post("/api/login", json=_login_body()))
    autojump_clock.jump(7 * 3600)
    assert (await browser.get("/api/me")).status_code == 200  # used: not idle
    autojump_clock.jump(7 * 3600)
    assert (await browser.get("/api/me")).status_code == 200
    autojump_clock.jump(8 * 3600 + 1)
    assert (await browser.get("/api/me")).status_code == 401  # idle for 8 h

    other = client_with_token(app, None)
    await _json(await other.post("/api/login", json=_login_body("viewer")))
    idle = client_with_token(app, None)
    await _json(await idle.post("/api/login", json=_login_body("admin")))
    autojump_clock.jump(8 * 3600 + 1)
    await _json(await client_with_token(app, None).post("/api/login", json=_login_body()))

    def users(conn: Any) -> list[str]:
        return [row[0] for row in conn.execute("SELECT user FROM session ORDER BY user")]

    assert await services.get(UserStore).read(users) == ["operator"]


async def test_a_verified_token_is_checked_from_memory_without_the_store(
    services: Services, app: QuartTrio, tokens: dict[Role, str]
) -> None:
    viewer = client_with_token(app, tokens[Role.VIEWER])  # verified once by the fixture
    await services.get(UserStore).aclose()
    for _ in range(3):
        assert (await viewer.get("/api/nodes")).status_code == 200
    # A token not seen before needs the store, which is gone: 503, never a pass.
    stranger = await client_with_token(app, "oc_never-seen").get("/api/nodes")
    assert stranger.status_code == 503


async def test_the_cookie_is_secure_over_tls_and_a_session_opens_the_websocket(
    services: Services, app: QuartTrio, tokens: dict[Role, str]
) -> None:
    over_tls = await client_with_token(app, None).post(
        "/api/login", json=_login_body(), scheme="https"
    )
    assert "Secure" in over_tls.headers["Set-Cookie"]
    browser = client_with_token(app, None)
    await _json(await browser.post("/api/login", json=_login_body()))
    await _json(await browser.get("/api/me"))  # verified now: the handshake needs no thread
    async with browser.websocket("/api/ws?types=ValueChanged"):
        await trio.testing.wait_all_tasks_blocked()
        subscribers = services.bus.statistics().subscribers
        assert [s.name for s in subscribers if s.name.startswith("ws ")] != []


async def test_a_burst_of_guesses_at_once_gets_no_more_tries_than_the_limit(
    app: QuartTrio, tokens: dict[Role, str]
) -> None:
    statuses: list[int] = []

    async def guess(i: int) -> None:
        wrong = _login_body(password=f"wrong password {i}")
        statuses.append(
            (await client_with_token(app, None).post("/api/login", json=wrong)).status_code
        )

    async with trio.open_nursery() as nursery:
        for i in range(12):
            nursery.start_soon(guess, i)
    assert sorted(statuses) == [401] * 5 + [429] * 7


async def test_guessing_the_current_password_through_a_password_change_is_rate_limited(
    app: QuartTrio, tokens: dict[Role, str]
) -> None:
    viewer = client_with_token(app, tokens[Role.VIEWER])
    statuses = []
    for i in range(6):
        guess = {"password": "a much better passphrase", "current_password": f"guess {i}"}
        statuses.append((await viewer.put("/api/users/viewer/password", json=guess)).status_code)
    assert statuses == [403] * 5 + [429]
