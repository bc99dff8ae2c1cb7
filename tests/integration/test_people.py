"""The users and teams API: who sees and changes whom, validation, presence in the listing."""

from typing import Any

from gateway.keys import sessionmaker_key
from gateway.models import AgentPresence, User
from tests.conftest import Gateway


async def users(gw: Gateway, token: str, **params: str) -> list[dict[str, Any]]:
    status, page = await gw.request("GET", "/api/users", token, params=params)
    assert status == 200, page
    return list(page["data"])


async def test_listing_is_scoped_by_role_and_shows_presence(gateway: Gateway) -> None:
    admin = await gateway.login("admin@demo.test")
    manager = await gateway.login("manager@demo.test")
    agent = await gateway.login("agent1@demo.test")
    everyone = await users(gateway, admin)
    by_email = {u["email"]: u for u in everyone}
    assert set(by_email) == {
        "admin@demo.test",
        "manager@demo.test",
        "agent1@demo.test",
        "agent2@demo.test",
    }
    anita = by_email["agent1@demo.test"]
    assert anita["role"] == "agent" and anita["is_active"] is True
    assert anita["presence"] == {"state": "offline", "reason": None, "since": None}
    assert anita["open_leads"] > 0 and anita["weight"] == 1 and anita["skills"] == []
    assert anita["phone"] == "+919000012345"

    async with gateway.app[sessionmaker_key]() as session:
        user = await session.get(User, anita["id"])
        assert user is not None
        session.add(
            AgentPresence(user_id=anita["id"], org_id=user.org_id, state="paused", reason="lunch")
        )
        await session.commit()
    team = {u["email"] for u in await users(gateway, manager)}
    assert team == {"manager@demo.test", "agent1@demo.test", "agent2@demo.test"}
    (me,) = await users(gateway, agent)
    assert me["email"] == "agent1@demo.test"
    assert me["presence"]["state"] == "paused" and me["presence"]["reason"] == "lunch"
    agents = await users(gateway, admin, role="agent", active="true")
    assert {u["email"] for u in agents} == {"agent1@demo.test", "agent2@demo.test"}
    for params, field in [({"role": "boss"}, "role"), ({"active": "maybe"}, "active")]:
        status, error = await gateway.request("GET", "/api/users", admin, params=params)
        assert status == 400 and error["error"]["field"] == field


async def test_admins_create_users_and_teams_managers_edit_their_agents(gateway: Gateway) -> None:
    admin = await gateway.login("admin@demo.test")
    manager = await gateway.login("manager@demo.test")
    agent = await gateway.login("agent1@demo.test")
    status, team = await gateway.request("POST", "/api/teams", admin, json={"name": "Renewals"})
    assert status == 201 and team["member_count"] == 0
    status, error = await gateway.request("POST", "/api/teams", admin, json={"name": "renewals"})
    assert status == 409 and error["error"]["field"] == "name"
    status, _ = await gateway.request("POST", "/api/teams", manager, json={"name": "Mine"})
    assert status == 403
    status, teams = await gateway.request("GET", "/api/teams", agent)
    assert status == 200 and [t["name"] for t in teams["data"]] == ["Inside Sales", "Renewals"]

    body: dict[str, Any] = {
        "email": "Ravi@Demo.test",
        "name": "Ravi Rao",
        "password": "long enough",
        "role": "agent",
        "team_id": team["id"],
        "phone": "98450 70001",
        "languages": ["kn", "en"],
        "territories": ["IN:Karnataka"],
        "shift_start": "22:00",
        "shift_end": "06:00",
        "max_open_leads": 40,
        "weight": 2,
    }
    invalid: list[tuple[dict[str, Any], str]] = [
        ({"password": "short"}, "password"),
        ({"role": "boss"}, "role"),
        ({"team_id": 999}, "team_id"),
        ({"shift_end": "24:00"}, "shift_end"),
        ({"shift_end": None}, "shift_end"),
        ({"weight": -1}, "weight"),
        ({"territories": ["IN:"]}, "territories"),
        ({"phone": "12"}, "phone"),
        ({"email": "agent2@demo.test"}, "email"),
    ]
    for change, field in invalid:
        status, error = await gateway.request("POST", "/api/users", admin, json=body | change)
        assert status in (400, 409) and error["error"]["field"] == field, (change, error)
    status, _ = await gateway.request("POST", "/api/users", manager, json=body)
    assert status == 403
    status, ravi = await gateway.request("POST", "/api/users", admin, json=body)
    assert status == 201, ravi
    assert ravi["email"] == "ravi@demo.test" and ravi["phone"] == "+919845070001"
    assert ravi["shift_start"] == "22:00" and ravi["languages"] == ["kn", "en"]
    assert await gateway.login("ravi@demo.test", "long enough")

    # The Inside Sales manager cannot touch another team's agent, nor pull them in.
    status, error = await gateway.request(
        "PATCH", f"/api/users/{ravi['id']}", manager, json={"weight": 3}
    )
    assert status == 403 and error["error"]["field"] == "user_id"
    demo = {u["email"]: u for u in await users(gateway, admin)}
    anita = demo["agent1@demo.test"]["id"]
    for change, status_code, field in [
        ({"team_id": team["id"]}, 403, "team_id"),
        ({"role": "manager"}, 403, "role"),
        ({"shift_start": "09:00"}, 400, "shift_end"),
        ({"skills": None}, 400, "skills"),
        ({"phone": "+91 80 4718 0000"}, 409, "phone"),  # the sandbox line
        ({"phone": "090000 23456"}, 409, "phone"),  # Arjun's phone
        ({"colour": "red"}, 400, "colour"),
    ]:
        status, error = await gateway.request("PATCH", f"/api/users/{anita}", manager, json=change)
        assert status == status_code and error["error"]["field"] == field, (change, error)
    status, patched = await gateway.request(
        "PATCH",
        f"/api/users/{anita}",
        manager,
        json={
            "skills": ["Loans", "loans ", "cards"],
            "shift_start": "09:00",
            "shift_end": "18:00",
            "phone": "+91 90000 12345",
            "name": "Anita A.",
        },
    )
    assert status == 200, patched
    assert patched["skills"] == ["Loans", "cards"] and patched["name"] == "Anita A."
    assert patched["phone"] == "+919000012345"
    status, _ = await gateway.request("PATCH", f"/api/users/{anita}", agent, json={"weight": 5})
    assert status == 403
    manager_id = demo["manager@demo.test"]["id"]
    status, _ = await gateway.request(
        "PATCH", f"/api/users/{manager_id}", manager, json={"weight": 5}
    )
    assert status == 403  # managers edit agents only

    # Admins move people between teams and roles, but cannot lock themselves out.
    status, moved = await gateway.request(
        "PATCH", f"/api/users/{anita}", admin, json={"team_id": team["id"], "role": "manager"}
    )
    assert status == 200 and (moved["team_id"], moved["role"]) == (team["id"], "manager")
    admin_id = demo["admin@demo.test"]["id"]
    status, error = await gateway.request(
        "PATCH", f"/api/users/{admin_id}", admin, json={"is_active": False}
    )
    assert status == 409 and error["error"]["field"] == "is_active"
    status, error = await gateway.request("PATCH", "/api/users/99999", admin, json={"name": "x"})
    assert status == 404


async def test_caller_id_is_one_of_the_organizations_active_numbers(gateway: Gateway) -> None:
    admin = await gateway.login("admin@demo.test")
    manager = await gateway.login("manager@demo.test")
    agent = await gateway.login("agent1@demo.test")
    status, spare = await gateway.request(
        "POST",
        "/api/carrier-accounts",
        admin,
        json={
            "carrier": "sandbox",
            "name": "Spare lines",
            "credentials": {"api_key": "sk_sandbox_spare_lines_1"},
            "numbers": ["+91 80 4718 3333"],
        },
    )
    assert status == 201, spare
    status, numbers = await gateway.request("GET", "/api/carrier-numbers", manager)
    assert status == 200, numbers
    by_e164 = {n["e164"]: n for n in numbers["data"]}
    line = by_e164["+918047183333"]
    assert (line["account_id"], line["account_name"], line["carrier"]) == (
        spare["id"],
        "Spare lines",
        "sandbox",
    )
    status, _ = await gateway.request("GET", "/api/carrier-numbers", agent)
    assert status == 403

    anita = next(u for u in await users(gateway, manager) if u["email"] == "agent1@demo.test")
    assert (anita["caller_id_number_id"], anita["caller_id"]) == (None, None)
    status, patched = await gateway.request(
        "PATCH", f"/api/users/{anita['id']}", manager, json={"caller_id_number_id": line["id"]}
    )
    assert status == 200, patched
    assert (patched["caller_id_number_id"], patched["caller_id"]) == (line["id"], "+918047183333")
    # The agent's calls now go out from it.
    status, call = await gateway.request(
        "POST", "/api/calls", agent, json={"number": "98765 43210"}
    )
    assert status == 202 and call["from_number"] == "+918047183333", call

    for value in (99999, 0, "three"):
        status, error = await gateway.request(
            "PATCH", f"/api/users/{anita['id']}", manager, json={"caller_id_number_id": value}
        )
        assert status == 400 and error["error"]["field"] == "caller_id_number_id", (value, error)
    # A switched-off account's numbers are no longer offered nor accepted.
    status, _ = await gateway.request(
        "PATCH", f"/api/carrier-accounts/{spare['id']}", admin, json={"is_active": False}
    )
    assert status == 200
    status, numbers = await gateway.request("GET", "/api/carrier-numbers", admin)
    assert "+918047183333" not in {n["e164"] for n in numbers["data"]}
    status, error = await gateway.request(
        "PATCH", f"/api/users/{anita['id']}", admin, json={"caller_id_number_id": line["id"]}
    )
    assert status == 400 and error["error"]["field"] == "caller_id_number_id"
    status, cleared = await gateway.request(
        "PATCH", f"/api/users/{anita['id']}", admin, json={"caller_id_number_id": None}
    )
    assert status == 200 and cleared["caller_id"] is None
