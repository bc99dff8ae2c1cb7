"""Passwords and sessions: sign out, change one's own password, an admin's reset."""

from tests.conftest import Gateway


async def login_status(gw: Gateway, email: str, password: str) -> int:
    status, _ = await gw.request(
        "POST", "/api/auth/login", json={"email": email, "password": password}
    )
    return status


async def test_signing_out_ends_only_that_session(gateway: Gateway) -> None:
    laptop = await gateway.login("agent1@demo.test")
    phone = await gateway.login("agent1@demo.test")
    status, body = await gateway.request("POST", "/api/auth/logout", laptop)
    assert status == 204 and body is None
    status, err = await gateway.request("GET", "/api/auth/me", laptop)
    assert status == 401 and err["error"]["code"] == "invalid_token"
    status, me = await gateway.request("GET", "/api/auth/me", phone)
    assert status == 200 and me["email"] == "agent1@demo.test"
    status, _ = await gateway.request("POST", "/api/auth/logout")
    assert status == 401


async def test_an_agent_changes_her_password_and_other_sessions_end(gateway: Gateway) -> None:
    here = await gateway.login("agent1@demo.test")
    elsewhere = await gateway.login("agent1@demo.test")
    colleague = await gateway.login("agent2@demo.test")
    path = "/api/auth/password"
    for body, field in [
        ({"current_password": "wrong", "new_password": "n3w-passw0rd"}, "current_password"),
        ({"current_password": "demo", "new_password": "short"}, "new_password"),
        ({"current_password": "demo"}, "new_password"),
        ({"current_password": "demo", "new_password": "n3w-passw0rd", "x": 1}, "x"),
    ]:
        status, err = await gateway.request("POST", path, here, json=body)
        assert status == 400 and err["error"]["field"] == field, (body, err)
    # Refusals changed nothing: every session still works, the old password still logs in.
    status, _ = await gateway.request("GET", "/api/auth/me", elsewhere)
    assert status == 200
    assert await login_status(gateway, "agent1@demo.test", "demo") == 200

    status, body = await gateway.request(
        "POST", path, here, json={"current_password": "demo", "new_password": "n3w-passw0rd"}
    )
    assert status == 204 and body is None
    assert (await gateway.request("GET", "/api/auth/me", here))[0] == 200
    assert (await gateway.request("GET", "/api/auth/me", elsewhere))[0] == 401
    assert (await gateway.request("GET", "/api/auth/me", colleague))[0] == 200
    assert await login_status(gateway, "agent1@demo.test", "demo") == 401
    assert await login_status(gateway, "agent1@demo.test", "n3w-passw0rd") == 200
    status, err = await gateway.request(
        "POST",
        path,
        here,
        json={"current_password": "n3w-passw0rd", "new_password": "n3w-passw0rd"},
    )
    assert status == 400 and err["error"]["code"] == "same_password"


async def test_an_admin_resets_a_users_password(gateway: Gateway) -> None:
    admin = await gateway.login("admin@demo.test")
    manager = await gateway.login("manager@demo.test")
    agent = await gateway.login("agent2@demo.test")
    _, me = await gateway.request("GET", "/api/auth/me", agent)
    path = f"/api/users/{me['id']}/password"

    status, err = await gateway.request("POST", path, manager, json={"password": "res3t-it-now"})
    assert status == 403 and err["error"]["code"] == "forbidden"
    status, err = await gateway.request("POST", path, admin, json={"password": "short"})
    assert status == 400 and err["error"]["field"] == "password"
    status, err = await gateway.request(
        "POST", "/api/users/99999/password", admin, json={"password": "res3t-it-now"}
    )
    assert status == 404
    status, err = await gateway.request(
        "POST", "/api/users/abc/password", admin, json={"password": "res3t-it-now"}
    )
    assert status == 404 and err["error"]["field"] == "user_id"
    assert (await gateway.request("GET", "/api/auth/me", agent))[0] == 200

    status, _ = await gateway.request("POST", path, admin, json={"password": "res3t-it-now"})
    assert status == 204
    # The user is signed out everywhere and logs in with the new password only.
    assert (await gateway.request("GET", "/api/auth/me", agent))[0] == 401
    assert await login_status(gateway, "agent2@demo.test", "demo") == 401
    assert await login_status(gateway, "agent2@demo.test", "res3t-it-now") == 200
    assert (await gateway.request("GET", "/api/auth/me", admin))[0] == 200
